/**
 * The Engine class: one InTra model in the native engine, its calls queued in order and run
 * off the event loop. The addon itself is loaded by lib/native.ts only.
 *
 * @example const engine = Engine.create({ preset: 'small' }, { seed: 7 }, { threads: 2 });
 */
import { IntraError, invalidArgument, requireInteger, syncWithCallerStack, withCallerStack } from './errors.js';
import { checkImages, checkLoadOptions, checkMapConfig, checkModelInput, checkOptions } from './native-checks.js';
import { engineBindings } from './native.js';
import {
  type AnomalyMaps,
  type EngineDescription,
  type EngineOptions,
  type ImageSet,
  type LoadOptions,
  type LossParts,
  type GroupConfig,
  type MapConfig,
  type ModelConfigInput,
  type NativeEngine,
  type OpProfile,
  type ProfileEvent,
  type TrainConfig,
} from './native-types.js';

/**
 * One InTra model with its optimiser, images and statistics. Heavy calls return promises
 * and run off the event loop; calls on one engine run one at a time, in order.
 * Input buffers are read while a call runs: do not change them until it settles.
 */
export class Engine {
  #native: NativeEngine | undefined;
  // The last queued call, settled either way: calls on one engine run one at a time, in the
  // order they were made, each starting when the one before has finished. Queued here rather
  // than on a native mutex, so that no libuv pool thread (which sharp's decoding also needs)
  // ever waits on another call of this engine.
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(native: NativeEngine) {
    this.#native = native;
  }

  /**
   * @example const engine = Engine.create({ preset: 'small', attention: 'linear' }, { seed: 7 }, { threads: 2 });
   */
  static create(model: ModelConfigInput, train: Partial<TrainConfig> = {}, options: EngineOptions = {}): Engine {
    checkModelInput(model);
    checkOptions(options);
    if (typeof train !== 'object' || train === null) invalidArgument('an object', 'training config', train);
    // The training fields' rules live in the engine's config table (one place, one message).
    const native = syncWithCallerStack(() => engineBindings.create(model, train, options));
    return new Engine(native);
  }

  /**
   * Loads a checkpoint; a truncated, foreign or mismatched file is rejected with INTRA_CHECKPOINT.
   * `purpose: 'scoring'` reads a quarter of a trained model's bytes (see LoadOptions).
   *
   * @example const engine = await Engine.load('model.intra', { precision: 'bf16', purpose: 'scoring' });
   */
  static async load(path: string, options: LoadOptions = {}): Promise<Engine> {
    if (typeof path !== 'string' || path.length === 0) invalidArgument('a file path', 'path', path);
    checkLoadOptions(options);
    return new Engine(await withCallerStack(() => engineBindings.load(path, options)));
  }

  // The native engine, private: every call goes through #queue (or is synchronous), so the
  // queue's order guarantee cannot be bypassed.
  #live(): NativeEngine {
    if (!this.#native) throw new IntraError('INTRA_DISPOSED', 'Engine is disposed');
    return this.#native;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  describe(): EngineDescription {
    return syncWithCallerStack(() => this.#live().describe());
  }

  setTrainingImages(images: ImageSet): Promise<void> {
    checkImages(images, 'images');
    return this.#queue((n) => n.setTrainingImages(images.data, images.count, images.height, images.width, images.channels));
  }

  /**
   * The validation images and their fixed windows: by default the training config's count per
   * image, drawn from a seed derived from the training seed; `windowsPerImage` and
   * `windowSeed` override them (to measure how noisy the validation loss is).
   */
  setValidationImages(images: ImageSet, options: { windowsPerImage?: number; windowSeed?: number } = {}): Promise<void> {
    checkImages(images, 'images');
    if (options.windowsPerImage !== undefined) requireInteger(options.windowsPerImage, 'windowsPerImage');
    if (options.windowSeed !== undefined) requireInteger(options.windowSeed, 'windowSeed', 0);
    return this.#queue((n) => n.setValidationImages(images.data, images.count, images.height, images.width, images.channels, options.windowsPerImage, options.windowSeed));
  }

  /** Runs `steps` optimiser steps on windows the engine samples; returns the mean loss parts. */
  trainSteps(steps: number): Promise<LossParts> {
    requireInteger(steps, 'steps');
    return this.#queue((n) => n.trainSteps(steps));
  }

  /** The loss over the fixed validation windows (deterministic for a seed). */
  validate(): Promise<LossParts> {
    return this.#queue((n) => n.validate());
  }

  /** Whole-image reconstructions, (count, H, W, C) in [0, 1]. */
  reconstruct(images: ImageSet): Promise<Float32Array> {
    checkImages(images, 'images');
    return this.#queue((n) => n.reconstruct(images.data, images.count, images.height, images.width, images.channels));
  }

  /** Anomaly maps (eq. 7 unless setMapConfig said otherwise) and scores; needs fitNormalStatistics first. */
  anomalyMaps(images: ImageSet, options: { withReconstruction?: boolean } = {}): Promise<AnomalyMaps> {
    checkImages(images, 'images');
    return this.#queue((n) =>
      n.anomalyMaps(images.data, images.count, images.height, images.width, images.channels, options.withReconstruction === true, true, undefined, images.texture),
    );
  }

  /**
   * Maps and scores of the same images under several map settings (each over the engine's own),
   * from one reconstruction: what comparing the settings on one model costs once.
   */
  async anomalyVariants(images: ImageSet, configs: readonly Partial<MapConfig>[]): Promise<{ maps: Float32Array; scores: Float32Array }[]> {
    checkImages(images, 'images');
    if (configs.length === 0) invalidArgument('at least one map setting', 'configs', configs);
    configs.forEach((c) => checkMapConfig(c));
    const result = await this.#queue((n) => n.anomalyMaps(images.data, images.count, images.height, images.width, images.channels, false, true, [...configs], images.texture));
    const area = images.count * images.height * images.width;
    return configs.map((_, v) => ({
      maps: result.maps.subarray(v * area, (v + 1) * area),
      scores: result.scores.subarray(v * images.count, (v + 1) * images.count),
    }));
  }

  /** Anomaly scores of the validation images the engine holds (for the threshold), without sending them again. */
  validationScores(): Promise<Float32Array> {
    return this.#queue((n) => n.validationScores());
  }

  /** The validation images' scores under each of `configs` (each over the engine's own settings), from one reconstruction. */
  async validationScoresUnder(configs: readonly Partial<MapConfig>[]): Promise<Float32Array[]> {
    if (configs.length === 0) invalidArgument('at least one map setting', 'configs', configs);
    configs.forEach((c) => checkMapConfig(c));
    const all = await this.#queue((n) => n.validationScores([...configs]));
    const count = all.length / configs.length;
    return configs.map((_, v) => all.subarray(v * count, (v + 1) * count));
  }

  /**
   * The map settings later calls use (fields left out keep theirs), and that save() writes into
   * the model file. Every setting but the paper's needs the spreads fitNormalStatistics keeps.
   */
  setMapConfig(config: Partial<MapConfig>): void {
    checkMapConfig(config);
    syncWithCallerStack(() => this.#live().setMapConfig(config));
  }

  /**
   * Trains as one rank of a data-parallel group from now on (see GroupConfig): resolves once
   * every rank has joined; every rank must hold the same model and training (checked).
   */
  joinGroup(config: GroupConfig): Promise<void> {
    for (const key of ['rank', 'worldSize', 'port', 'timeoutMs'] as const) requireInteger(config[key], key, key === 'rank' ? 0 : 1);
    if (typeof config.masterAddr !== 'string' || config.masterAddr.length === 0) invalidArgument('a host name or address', 'masterAddr', config.masterAddr);
    if (config.bucketBytes !== undefined) requireInteger(config.bucketBytes, 'bucketBytes', 1);
    if (config.overlap !== undefined && typeof config.overlap !== 'boolean') invalidArgument('true or false', 'overlap', config.overlap);
    return this.#queue((n) => n.joinGroup(config));
  }

  /** The mean of each value over the group's ranks (the values themselves when alone): a collective, every rank must call it. */
  groupAverage(values: readonly number[]): Promise<number[]> {
    return this.#queue((n) => n.groupAverage(Float64Array.from(values))).then((r) => [...r]);
  }

  /** The anomaly scores alone (the maps' maxima): the maps are not copied back. */
  anomalyScores(images: ImageSet): Promise<Float32Array> {
    checkImages(images, 'images');
    return this.#queue((n) => n.anomalyMaps(images.data, images.count, images.height, images.width, images.channels, false, false, undefined, images.texture)).then((r) => r.scores);
  }

  /** Computes the mean diff map over the training images with the current weights. */
  fitNormalStatistics(): Promise<void> {
    return this.#queue((n) => n.fitNormalStatistics());
  }

  /**
   * Adds training images' texture descriptors, (count, TEXTURE_DESCRIPTORS, H, W) at the model's
   * size (imageTexture measures them at each image's own size), to the sums that
   * fitTextureStatistics turns into the texture term's statistics.
   */
  addTextureSamples(descriptors: Float32Array, count: number): Promise<void> {
    requireInteger(count, 'count');
    if (!(descriptors instanceof Float32Array)) invalidArgument('a Float32Array', 'descriptors', descriptors);
    return this.#queue((n) => n.addTextureSamples(descriptors, count));
  }

  /**
   * The texture term's statistics from the descriptors added since the last fit: each pixel's
   * mean and precision matrix (a Gaussian of full covariance); replaces the model's, saved with it.
   */
  fitTextureStatistics(): Promise<void> {
    return this.#queue((n) => n.fitTextureStatistics());
  }

  keepBest(): Promise<void> {
    return this.#queue((n) => n.keepBest());
  }

  restoreBest(): Promise<void> {
    return this.#queue((n) => n.restoreBest());
  }

  /** Writes one checkpoint file atomically, with `metadata` stored as JSON. */
  save(path: string, metadata: unknown = {}): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) invalidArgument('a file path', 'path', path);
    return this.#queue((n) => n.save(path, JSON.stringify(metadata)));
  }

  /**
   * Records the engine's phases (sampling, embedding, each block's attention, MLP and norms, loss parts, backward, optimizer, maps...) from now on;
   * with `ops`, also times every ATen op, autograd node and kernel of ours its calls run (each op then costs a little more).
   */
  setProfiling(on: boolean, options: { ops?: boolean } = {}): void {
    this.#live().setProfiling(on, options.ops === true);
  }

  /** The ops timed since the last call (setProfiling(true, { ops: true })), in no particular order. */
  takeOpProfile(): OpProfile[] {
    return syncWithCallerStack(() => this.#live().takeOpProfile());
  }

  /** The phases recorded since the last call. */
  takeProfile(): ProfileEvent[] {
    return syncWithCallerStack(() => this.#live().takeProfile());
  }

  /** The metadata stored by the last save or load. */
  metadata<T = unknown>(): T {
    return JSON.parse(this.describe().metadata) as T;
  }

  /**
   * Runs `call` after every call made before it on this engine has settled. Throws at once
   * (INTRA_DISPOSED) on a disposed engine; errors carry the caller's stack.
   */
  #queue<T>(call: (native: NativeEngine) => Promise<T>): Promise<T> {
    const native = this.#live();
    const previous = this.#tail;
    const result = withCallerStack(async () => {
      await previous;
      return call(native);
    });
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Frees the engine: later calls throw "Engine is disposed"; calls already made still run
   * to the end, and the native engine is freed after the last of them.
   */
  dispose(): void {
    const native = this.#native;
    this.#native = undefined;
    if (native) void this.#tail.then(() => native.dispose());
  }

}
