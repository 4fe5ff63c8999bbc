/**
 * The training loop of one category: epochs of windows, validation, early stopping,
 * a checkpoint after every epoch, resume, clean interruption, and the model's statistics.
 *
 * @example const result = await trainCategory({ category: 'data/bottle', out: 'bottle.intra', preset: 'small' });
 */
import { appendFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import sharp from 'sharp';

import { channelsOf, imageTexture, loadImage, modelShape, packImages, shapeOf, shapeText, type DecodedImage, type ImageShape } from '../data/images.js';
import { readCategory } from '../data/dataset.js';
import { rng } from '../data/random.js';
import { IntraError, invalidArgument, requireInteger } from '../errors.js';
import { capabilities, modelConfig, TEXTURE_DESCRIPTORS, type ModelConfig, type AnomalyMapKind, type AttentionKind, type Device, type EngineDescription, type GroupConfig, type LossParts, type MapConfig, type ModelConfigInput, type Precision, type Preset } from '../native.js';
import { Engine } from '../engine.js';
import { allMapSettings, mapSettingsName, usesTexture } from '../infer/map-settings.js';
import { checkRecipeAttention, presetPrecision, presetTraining, recipeDefaults, type Recipe } from './recipes.js';
import type { AllReduceRecord, EpochRecord, ImageSizeChoice, StopReason, TrainState } from './state.js';

export type { AllReduceRecord, EpochRecord, ImageSizeChoice, SizeTrial, StopReason, TrainState } from './state.js';

export interface TrainOptions {
  category: string;
  out: string;
  /** whose defaults fill what is not given: `paper` (default) or `thesis` */
  recipe?: Recipe;
  preset?: Preset;
  /** the preset's geometry changed field by field (width, depth, patch size...), for experiments */
  model?: Omit<ModelConfigInput, 'preset' | 'channels' | 'imageSize' | 'attention' | 'longResiduals'>;
  attention?: AttentionKind;
  /**
   * pixels per side, or `auto` for the paper's choice among 256, 320 and 512; for images that
   * are not square, the side of the pixel budget (the shape has about imageSize² pixels)
   */
  imageSize?: number | 'auto';
  /**
   * the model's shape: `auto` (default) follows the training images' median aspect at the
   * pixel budget, rounded to patches (square for square data); `square`; or an exact shape
   */
  shape?: 'auto' | 'square' | ImageShape;
  batchSize?: number;
  learningRate?: number;
  /** most epochs */
  epochs?: number;
  /** stop after this many epochs without a better validation loss */
  patience?: number;
  /**
   * a training-time budget (minutes, over all resumes): no epoch starts that the last epoch's
   * length says would end past it (the first always runs)
   */
  minutes?: number;
  windowsPerImage?: number;
  validationWindowsPerImage?: number;
  augment?: boolean;
  /** scales of the GMS loss: 1 (paper) or 3 (thesis, MSGMS) */
  gmsScales?: number;
  /** the anomaly map: the paper's or the thesis's (default: the recipe's) */
  anomalyMap?: AnomalyMapKind;
  /** the model's map settings (terms, normalisation, image score), kept in its file; default the paper's. Replaceable when scoring. */
  map?: Partial<MapConfig>;
  seed?: number;
  threads?: number;
  device?: Device;
  precision?: Precision;
  /** windows per forward pass at inference (the engine's default when absent) */
  inferenceBatch?: number;
  trainPrecision?: Precision;
  longResiduals?: boolean;
  /**
   * one rank of a data-parallel training: every rank runs the same options, each computes its
   * share of every batch, rank 0 alone writes the model and the log (a folder every rank sees)
   */
  group?: GroupConfig;
  /** continue from the checkpoint at `out` */
  resume?: boolean;
  /**
   * a new run may replace a model file already at `out`; without it (and without `resume`)
   * an existing model is an error, so that repeating a command never destroys a trained model
   */
  overwrite?: boolean;
  /** epochs of each size's trial with `imageSize: 'auto'` (default: the paper's 200, or `epochs` if fewer) */
  trialEpochs?: number;
  /**
   * a trial run (for --image-size auto): stops after `epochs` without finishing (no best
   * weights restored, no threshold), leaving a checkpoint that a resume continues
   */
  trial?: boolean;
  /** JSON lines, one per epoch; default `<out>.log.jsonl` */
  log?: string;
  /** stops the run cleanly (the checkpoint is saved first) */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  onEpoch?: (record: EpochRecord) => void;
  /** choices made for the user that they should hear about (e.g. the paper's image size for an MVTec category) */
  onNote?: (note: string) => void;
}

/**
 * The image size a recipe's publication used per MVTec AD category: the paper's Table 1 (512
 * for carpet, leather, tile, wood, pill and zipper; 320 for capsule and screw; 256 for the
 * other seven), or the thesis's Table 5.1 (the same, but pill at 320). Undefined for a
 * category of another name.
 *
 * @example paperImageSize('screw') // 320
 * @example paperImageSize('pill', 'thesis') // 320
 */
export function paperImageSize(category: string, recipe: Recipe = 'paper'): number | undefined {
  return recipeDefaults(recipe).imageSizes[category];
}

export interface Progress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  windowsPerSecond: number;
  loss: number;
  etaSeconds: number;
}

/**
 * Why training stops before the next epoch, or undefined to go on: the epoch limit, the
 * patience, or the time budget (an epoch as long as the last would end past it).
 *
 * @example stopReason({ epoch: 3, epochs: 10, bestEpoch: 3, patience: 5, minutes: 1, trainingSeconds: 50, history: [{ seconds: 20 }] }) // 'minutes'
 */
export function stopReason(state: Pick<TrainState, 'epoch' | 'epochs' | 'bestEpoch' | 'patience' | 'minutes' | 'trainingSeconds'> & { history: readonly { seconds: number }[] }): StopReason | undefined {
  if (state.epoch >= state.epochs) return 'epochs';
  if (state.epoch - state.bestEpoch >= state.patience) return 'patience';
  const last = state.history.at(-1);
  if (state.minutes !== undefined && last !== undefined && (state.trainingSeconds ?? 0) + last.seconds > state.minutes * 60) return 'minutes';
  return undefined;
}

export interface TrainResult {
  out: string;
  interrupted: boolean;
  state: TrainState;
  /** the model's config, its shape and channels included (the one copy of them: the model file's) */
  model: ModelConfig;
}

export const AUTO_SIZES = [256, 320, 512] as const;
const AUTO_MARGIN = 1e-4;
/** Epochs of each size's trial run in --image-size auto (the paper's §4.1). */
export const AUTO_TRIAL_EPOCHS = 200;

/**
 * The best validation loss of a run as the paper compares image sizes: each epoch's loss
 * averaged with its neighbours within ±`halfWidth` epochs (fewer at the ends), then the minimum.
 *
 * @example smoothedBestLoss([5, 1, 5, 5, 5], 1) // 3, where the single best epoch says 1
 */
export function smoothedBestLoss(losses: readonly number[], halfWidth = 5): number {
  let best = Infinity;
  for (let e = 0; e < losses.length; e++) {
    const window = losses.slice(Math.max(0, e - halfWidth), e + halfWidth + 1);
    best = Math.min(best, window.reduce((a, b) => a + b, 0) / window.length);
  }
  return best;
}

/** Validation images: 10% of train/good, at least 1, at most 20, chosen by the seed. */
export function splitValidation(files: readonly string[], seed: number): { train: string[]; validation: string[] } {
  if (files.length < 2) {
    throw new IntraError('INTRA_DATASET', `Training needs at least 2 images in train/good (one is held out for validation), found ${files.length}`);
  }
  const count = Math.min(20, Math.max(1, Math.round(files.length * 0.1)));
  const order = files.map((_, i) => i);
  const r = rng(seed ^ 0x7a11d);
  for (let i = order.length - 1; i > 0; i--) {
    const j = r.int(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const held = new Set(order.slice(0, count));
  return { train: files.filter((_, i) => !held.has(i)), validation: files.filter((_, i) => held.has(i)) };
}

/**
 * The model's shape for images of median aspect (width / height) `aspect`: about side² pixels,
 * each side a multiple of the patch size and at least one window (L patches). An aspect that
 * rounds to the square gives the square.
 *
 * @example shapeForAspect(0.5, 128, 16, 7) // { width: 96, height: 176 }
 */
export function shapeForAspect(aspect: number, side: number, patch: number, window: number): ImageShape {
  const toPatches = (pixels: number): number => Math.max(window, Math.round(pixels / patch)) * patch;
  return { width: toPatches(side * Math.sqrt(aspect)), height: toPatches(side / Math.sqrt(aspect)) };
}

/** Median of width / height over images' headers (sharp reads only the header). */
export async function medianAspect(files: readonly string[], concurrency = 16): Promise<number> {
  const aspects: number[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const meta = await sharp(files[i]!).metadata().catch((cause: unknown) => {
        throw new IntraError('INTRA_IMAGE', `Cannot read ${files[i]!}: not a readable image (${(cause as Error).message})`);
      });
      const width = meta.autoOrient?.width ?? meta.width ?? 0, height = meta.autoOrient?.height ?? meta.height ?? 0;
      if (!(width > 0 && height > 0)) throw new IntraError('INTRA_IMAGE', `Cannot read ${files[i]!}: its header gives no size`);
      aspects[i] = width / height;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  aspects.sort((a, b) => a - b);
  const mid = aspects.length >> 1;
  return aspects.length % 2 === 1 ? aspects[mid]! : (aspects[mid - 1]! + aspects[mid]!) / 2;
}

/** Decodes many images with sharp, a few at a time (sharp runs on libuv's pool). */
export async function decodeAll(files: readonly string[], size: number | ImageShape, channels: 1 | 3, window?: number, concurrency = 8, options: { texture?: boolean } = {}): Promise<DecodedImage[]> {
  const out: DecodedImage[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      out[i] = await loadImage(files[i]!, { size, channels, window, texture: options.texture });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return out;
}

/** Picks the image size by the paper's rule (§4.1) from the best validation losses per size. */
export function chooseImageSize(bestLosses: ReadonlyMap<number, number>): number {
  const sizes = [...bestLosses.keys()].sort((a, b) => a - b);
  for (let i = 0; i < sizes.length - 1; i++) {
    const here = bestLosses.get(sizes[i]!)!, next = bestLosses.get(sizes[i + 1]!)!;
    if (!(here - next >= AUTO_MARGIN)) return sizes[i]!;  // the next size does not beat it by 1e-4
  }
  return sizes[sizes.length - 1]!;
}

/**
 * The paper's comparison of size trials, over the epochs that all of them reached: a time
 * budget gives a larger size fewer epochs, and comparing a longer run with a shorter one
 * would favour the smaller size for its epochs, not for its size.
 *
 * @example compareTrials(new Map([[256, [3, 2, 1]], [320, [2, 1]]]), 0).comparedEpochs // 2
 */
export function compareTrials(validationLosses: ReadonlyMap<number, readonly number[]>, halfWidth = 5): { chosen: number; comparedEpochs: number; losses: Map<number, number> } {
  const comparedEpochs = Math.min(...[...validationLosses.values()].map((l) => l.length));
  if (!(comparedEpochs >= 1)) throw new IntraError('INTRA_INVALID_STATE', 'Every image-size trial needs at least one epoch to be compared');
  const losses = new Map([...validationLosses].map(([size, l]) => [size, smoothedBestLoss(l.slice(0, comparedEpochs), halfWidth)]));
  return { chosen: chooseImageSize(losses), comparedEpochs, losses };
}

/** The model's shape for a new run (see TrainOptions.shape), said to the user when not square. */
async function chooseShape(
  wanted: 'auto' | 'square' | ImageShape,
  files: readonly string[],
  side: number,
  preset: { patchSize: number; windowSize: number },
  onNote: ((note: string) => void) | undefined,
): Promise<ImageShape> {
  if (wanted === 'square') return shapeOf(side);
  if (wanted !== 'auto') return wanted;
  const aspect = await medianAspect(files);
  const shape = shapeForAspect(aspect, side, preset.patchSize, preset.windowSize);
  if (shape.width !== shape.height) {
    onNote?.(`model shape ${shapeText(shape)} (width x height): the training images' median aspect ${aspect.toFixed(2)} at about ${side}x${side} pixels; --shape square or WxH overrides it`);
  }
  return shape;
}

function checkOptions(o: TrainOptions): void {
  if (typeof o.category !== 'string' || !o.category) invalidArgument('a category folder', 'category', o.category);
  if (typeof o.out !== 'string' || !o.out) invalidArgument('a model path', 'out', o.out);
  if (o.imageSize !== undefined && o.imageSize !== 'auto') requireInteger(o.imageSize, 'imageSize');
  if (o.shape !== undefined && o.shape !== 'auto' && o.shape !== 'square') {
    if (typeof o.shape !== 'object' || o.shape === null) invalidArgument("'auto', 'square' or { width, height }", 'shape', o.shape);
    requireInteger(o.shape.width, 'shape.width');
    requireInteger(o.shape.height, 'shape.height');
  }
  for (const key of ['batchSize', 'epochs', 'trialEpochs', 'windowsPerImage', 'validationWindowsPerImage'] as const) {
    if (o[key] !== undefined) requireInteger(o[key], key);
  }
  if (o.patience !== undefined) requireInteger(o.patience, 'patience');
  if (o.minutes !== undefined && !(typeof o.minutes === 'number' && o.minutes > 0 && Number.isFinite(o.minutes))) {
    invalidArgument('a positive number of minutes', 'minutes', o.minutes);
  }
  if (o.seed !== undefined) requireInteger(o.seed, 'seed', 0);
  checkRecipeAttention(o.recipe ?? 'paper', o.attention);
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** The training state stored in a checkpoint, read without the training tensors. */
async function readTrainState(path: string): Promise<TrainState> {
  const engine = await Engine.load(path, { purpose: 'scoring' });
  try {
    return engine.metadata<TrainState>();
  } finally {
    engine.dispose();
  }
}

function refuseOverwrite(out: string): never {
  throw new IntraError('INTRA_INVALID_STATE', `Model ${out} already exists: --resume continues it, --overwrite trains a new model in its place`);
}

/**
 * Trains one category. With `imageSize: 'auto'`, the paper's rule (§4.1): a trial of 200 epochs
 * (or `trialEpochs`, or `epochs` if fewer) at each of 256, 320 and 512 pixels, compared by their
 * smoothed best validation losses; the smallest size the next does not beat by 1e-4 is kept,
 * and its run continues to the recipe's limits.
 */
/**
 * The training images' per-pixel statistics (the engine holds the images), then the threshold
 * under every map setting: the largest score of the held-out validation images under it, all
 * settings from one reconstruction of them. `state.threshold` is the one under the model's own.
 */
export async function fitStatisticsAndThresholds(engine: Engine, state: TrainState): Promise<void> {
  await engine.fitNormalStatistics();
  const own = engine.describe().map;
  const settings = allMapSettings(own.topkArea);
  const scores = await engine.validationScoresUnder(settings);
  state.thresholds = Object.fromEntries(settings.map((s, i) => [mapSettingsName(s), Math.max(...scores[i]!)]));
  await fitTexture(engine, state);
  state.threshold = state.thresholds[mapSettingsName(own)];
  state.thresholdRule = 'maximum anomaly score over the held-out validation images (all normal)';
}

/**
 * The texture term: its statistics over the training files, read again at their own size (the
 * engine holds them at the model's), then the thresholds of the settings with it, over the
 * validation files with their descriptors, from one reconstruction.
 */
async function fitTexture(engine: Engine, state: TrainState): Promise<void> {
  // A Gaussian needs two samples, a threshold one validation image: without them the model has no
  // texture statistics, and scoring with the term asks for a refit.
  if (state.trainFiles.length < 2 || state.validationFiles.length === 0) return;
  const model = engine.describe().model;
  const shape = modelShape(model), channels = model.channels as 1 | 3, window = model.windowSize * model.patchSize;
  // A batch read and measured at once (sharp and the addon both run on libuv's pool), then added
  // to the engine's sums in file order.
  const area = TEXTURE_DESCRIPTORS * shape.height * shape.width;
  for (let from = 0; from < state.trainFiles.length; from += TEXTURE_BATCH) {
    const batch = await Promise.all(state.trainFiles.slice(from, from + TEXTURE_BATCH).map((file) => imageTexture(file, channels, shape)));
    const descriptors = new Float32Array(batch.length * area);
    batch.forEach((d, i) => descriptors.set(d, i * area));
    await engine.addTextureSamples(descriptors, batch.length);
  }
  await engine.fitTextureStatistics();
  const textured = allMapSettings(engine.describe().map.topkArea, { texture: true }).filter(usesTexture);
  const maxima = textured.map(() => -Infinity);
  for (let from = 0; from < state.validationFiles.length; from += TEXTURE_BATCH) {
    const images = await decodeAll(state.validationFiles.slice(from, from + TEXTURE_BATCH), shape, channels, window, 8, { texture: true });
    const variants = await engine.anomalyVariants(packImages(images, shape, channels), textured);
    variants.forEach((v, i) => (maxima[i] = Math.max(maxima[i]!, ...v.scores)));
  }
  textured.forEach((s, i) => (state.thresholds![mapSettingsName(s)] = maxima[i]!));
}

/** Images read at once while the texture term is fitted (and per engine call for its thresholds). */
const TEXTURE_BATCH = 16;

export interface RefitOptions {
  /** a finished model file, rewritten in place (atomically) */
  model: string;
  /** new map settings for the model to keep (over its own) */
  map?: Partial<MapConfig>;
  threads?: number;
  device?: Device;
  precision?: Precision;
  inferenceBatch?: number;
}

/**
 * Fits a finished model's statistics and thresholds again over its own training and validation
 * files (those its metadata names), its weights untouched: what a model file from before the
 * spreads and the intensity term needs for every map but the paper's, and what new map
 * settings (a top-k share, say) need for their thresholds.
 */
export async function refitStatistics(options: RefitOptions): Promise<TrainState> {
  const engine = await Engine.load(options.model, { threads: options.threads, device: options.device, precision: options.precision, inferenceBatch: options.inferenceBatch });
  try {
    const state = engine.metadata<TrainState>();
    if (state.state !== 'done' || !Array.isArray(state.trainFiles) || !Array.isArray(state.validationFiles)) {
      throw new IntraError('INTRA_INVALID_STATE', `Model ${options.model} has not finished training (${state.state ?? 'no training state'}): finish it with intra train --resume first`);
    }
    const model = engine.describe().model;
    const shape = modelShape(model), channels = model.channels as 1 | 3, window = model.windowSize * model.patchSize;
    await engine.setTrainingImages(packImages(await decodeAll(state.trainFiles, shape, channels, window), shape, channels));
    await engine.setValidationImages(packImages(await decodeAll(state.validationFiles, shape, channels, window), shape, channels));
    if (options.map !== undefined) engine.setMapConfig(options.map);
    await fitStatisticsAndThresholds(engine, state);
    await engine.save(options.model, state);
    return state;
  } finally {
    engine.dispose();
  }
}

export async function trainCategory(options: TrainOptions): Promise<TrainResult> {
  checkOptions(options);
  if (options.group !== undefined && options.group.worldSize > 1 && options.imageSize === 'auto') {
    throw new IntraError('INTRA_INVALID_ARGUMENT', 'Expected a fixed --image-size with several ranks: --image-size auto trains its trials in one process');
  }
  if (options.imageSize !== 'auto') return trainAtSize(options, options.imageSize);
  return trainAutoSize(options);
}

/**
 * `--image-size auto`. The trials live beside the model (`<out>.256`, ...) until the choice is
 * made; the chosen trial then becomes the model at `out`, carrying the choice, and the others
 * are removed. A resume continues whichever stage was cut short: the trials, or the chosen run,
 * which never runs its trials again. A time budget is shared: each trial gets a quarter of it,
 * the chosen run what the trials left, and the trials are compared over their common epochs.
 */
async function trainAutoSize(options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? `${options.out}.log.jsonl`;
  const trialPath = (size: number): string => `${options.out}.${size}`;
  const trialLog = (size: number): string => `${log}.${size}`;
  const removeTrials = async (): Promise<void> => {
    for (const size of AUTO_SIZES) {
      await rm(trialPath(size), { force: true });
      await rm(trialLog(size), { force: true });
    }
  };

  if (await exists(options.out)) {
    if (!options.resume) {
      if (!options.overwrite) refuseOverwrite(options.out);
    } else {
      // The chosen run (or a model trained at a fixed size) continues at its own size.
      const state = await readTrainState(options.out);
      if (state.imageSizeChoice !== undefined) {
        // An adoption cut short between the model's save and the trials' removal.
        const chosenLog = trialLog(state.imageSizeChoice.chosen);
        if (!(await exists(log)) && (await exists(chosenLog))) await rename(chosenLog, log);
        await removeTrials();
      } else {
        options.onNote?.(`${options.out} has no image-size choice recorded: it continues at its own size, ${state.imageSize}`);
      }
      return trainAtSize({ ...options }, undefined);
    }
  }

  const recipe = recipeDefaults(options.recipe);
  const budget = options.minutes ?? presetTraining(options.preset ?? 'paper').minutes;
  const trialEpochs = Math.min(options.trialEpochs ?? AUTO_TRIAL_EPOCHS, options.epochs ?? recipe.epochs);
  const trialMinutes = budget === undefined ? undefined : budget / (AUTO_SIZES.length + 1);
  const states = new Map<number, TrainState>();
  for (const size of AUTO_SIZES) {
    const trial: TrainOptions = {
      ...options, out: trialPath(size), log: trialLog(size), epochs: trialEpochs, patience: trialEpochs, minutes: trialMinutes, trial: true, overwrite: true,
    };
    if (options.resume && (await exists(trial.out))) {
      // A finished trial is not loaded for training again, only read.
      const done = await readTrainState(trial.out);
      if (stopReason({ ...done, epochs: trialEpochs, patience: trialEpochs, ...(trialMinutes !== undefined ? { minutes: trialMinutes } : {}) }) !== undefined) {
        states.set(size, done);
        continue;
      }
    }
    const result = await trainAtSize(trial, size);
    if (result.interrupted) return result;
    states.set(size, result.state);
  }

  const { chosen, comparedEpochs, losses } = compareTrials(new Map([...states].map(([size, s]) => [size, s.history.map((h) => h.validation.loss)])));
  options.onNote?.(
    `image size ${chosen} by the paper's rule: best validation loss over ±5 epochs after ${comparedEpochs} epochs ` +
      [...losses].map(([size, loss]) => `${size}: ${loss.toExponential(4)}`).join(', ') + ' (a larger size must win by 1e-4)' +
      (trialMinutes === undefined ? '' : `; each trial had ${trialMinutes.toFixed(1)} of the ${budget} minutes`),
  );
  const choice: ImageSizeChoice = {
    chosen,
    comparedEpochs,
    trialEpochs,
    ...(trialMinutes !== undefined ? { trialMinutes } : {}),
    trials: [...states].map(([size, s]) => ({ size, epochs: s.epoch, seconds: s.trainingSeconds ?? 0, loss: losses.get(size)! })),
  };
  // Checked again: a model may have appeared at `out` while the trials ran.
  if (!options.overwrite && (await exists(options.out))) refuseOverwrite(options.out);

  // The chosen trial becomes the model, with the choice and the recipe's limits; the training
  // time of all trials counts against the budget.
  const engine = await Engine.load(trialPath(chosen), { threads: options.threads, device: options.device, precision: options.precision, inferenceBatch: options.inferenceBatch });
  try {
    const state = engine.metadata<TrainState>();
    state.imageSizeChoice = choice;
    state.epochs = options.epochs ?? recipe.epochs;
    state.patience = options.patience ?? recipe.patience;
    if (budget !== undefined) state.minutes = budget;
    state.trainingSeconds = choice.trials.reduce((sum, t) => sum + t.seconds, 0);
    await engine.save(options.out, state);
  } finally {
    engine.dispose();
  }
  await rename(trialLog(chosen), log);
  await removeTrials();
  return trainAtSize({ ...options, resume: true, epochs: undefined, patience: undefined, minutes: undefined }, chosen);
}

/** The gradient all-reduce between two descriptions of a group's engine: this rank's view of one epoch. */
function allReduceOf(before: EngineDescription['group'], after: EngineDescription['group']): AllReduceRecord {
  const steps = after.reducedSteps - before.reducedSteps;
  return {
    procs: after.worldSize, overlap: after.overlap, buckets: after.buckets, bytesPerStep: after.bytesPerStep,
    waitMsPerStep: steps > 0 ? (after.waitMs - before.waitMs) / steps : 0,
    launchedInBackward: after.launchedInBackward - before.launchedInBackward, steps,
  };
}

async function trainAtSize(options: TrainOptions, requestedSize: number | undefined): Promise<TrainResult> {
  const seed = options.seed ?? 0;
  const category = await readCategory(options.category);
  const present = await exists(options.out);
  if (present && options.resume !== true && options.overwrite !== true) refuseOverwrite(options.out);
  const resuming = options.resume === true && present;
  let engine: Engine;
  let state: TrainState;
  const log = options.log ?? `${options.out}.log.jsonl`;
  // In a data-parallel group, rank 0 alone writes; the others hold the same state in memory.
  const group = options.group !== undefined && options.group.worldSize > 1 ? options.group : undefined;
  const writer = (group?.rank ?? 0) === 0;
  const save = async (s: TrainState) => (writer ? engine.save(options.out, s) : undefined);

  if (resuming) {
    engine = await Engine.load(options.out, { threads: options.threads, device: options.device, precision: options.precision, inferenceBatch: options.inferenceBatch });
    state = engine.metadata<TrainState>();
    // A resumed run may be given new limits; everything else comes from the checkpoint.
    if (options.epochs !== undefined) state.epochs = options.epochs;
    if (options.patience !== undefined) state.patience = options.patience;
    if (options.minutes !== undefined) state.minutes = options.minutes;
    if (state.state === 'done') {
      // A finished model goes on from its best epoch's weights when the new limits allow more.
      const reason = stopReason(state);
      if (reason !== undefined) {
        engine.dispose();
        const limit = { epochs: `--epochs above ${state.epochs}`, patience: `--patience above ${state.patience}`, minutes: `--minutes above ${state.minutes}` }[reason];
        throw new IntraError('INTRA_INVALID_STATE', `Model ${options.out} has finished training (stopped by its ${reason} limit); to go on, give ${limit}`);
      }
      delete state.threshold;
      delete state.thresholdRule;
    }
    state.state = 'training';
  } else {
    const channels = await channelsOf(category.train[0]!);
    const preset = options.preset ?? 'paper';
    const recipe = recipeDefaults(options.recipe);
    const byPreset = presetTraining(preset);
    // The paper preset on a category with an MVTec AD name takes the recipe's size for it.
    const recipeName = options.recipe ?? 'paper';
    const tableSize = requestedSize === undefined && preset === 'paper' ? paperImageSize(category.name, recipeName) : undefined;
    if (tableSize !== undefined) {
      const source = recipeName === 'thesis' ? "the thesis's (Table 5.1)" : "the paper's (Table 1)";
      options.onNote?.(`${category.name} is an MVTec AD category: image size ${tableSize}, ${source}; --image-size overrides it`);
    }
    const presetConfig = modelConfig({ preset, ...options.model });
    const imageSize = requestedSize ?? tableSize ?? presetConfig.imageHeight;
    const shape = await chooseShape(options.shape ?? 'auto', category.train, imageSize, presetConfig, options.onNote);
    const split = splitValidation(category.train, seed);
    engine = Engine.create(
      { preset, ...options.model, attention: options.attention ?? recipe.attention, channels, imageHeight: shape.height, imageWidth: shape.width, longResiduals: options.longResiduals ?? recipe.longResiduals },
      {
        seed,
        batchSize: options.batchSize ?? byPreset.batchSize ?? recipe.batchSize,
        learningRate: options.learningRate ?? byPreset.learningRate ?? recipe.learningRate,
        augment: options.augment ?? recipe.augment,
        gmsScales: options.gmsScales ?? recipe.gmsScales,
        anomalyMap: options.anomalyMap ?? recipe.anomalyMap,
        // Left out, a field takes the engine's default (configFields().trainDefaults).
        validationWindowsPerImage: options.validationWindowsPerImage,
        trainPrecision: options.trainPrecision ?? presetPrecision(byPreset, capabilities().bf16),
      },
      { threads: options.threads, device: options.device, precision: options.precision, inferenceBatch: options.inferenceBatch },
    );
    state = {
      state: 'training',
      category: category.dir,
      imageSize,
      validationFiles: split.validation,
      trainFiles: split.train,
      recipe: options.recipe ?? 'paper',
      preset,
      epochs: options.epochs ?? recipe.epochs,
      patience: options.patience ?? recipe.patience,
      ...((options.minutes ?? byPreset.minutes) !== undefined ? { minutes: options.minutes ?? byPreset.minutes } : {}),
      trainingSeconds: 0,
      windowsPerImage: options.windowsPerImage ?? byPreset.windowsPerImage ?? 600,
      epoch: 0,
      bestEpoch: 0,
      bestLoss: null,
      history: [],
    };
    if (writer) {
      await mkdir(dirname(options.out), { recursive: true });
      await rm(log, { force: true });
    }
  }

  try {
    if (group) await engine.joinGroup(group);
    // A new model keeps its preset's map settings under the flags'; a resumed one its own under them.
    const map = resuming ? options.map : { ...presetTraining(state.preset ?? 'paper').map, ...options.map };
    if (map !== undefined && Object.keys(map).length > 0) engine.setMapConfig(map);
    // The model's own shape and channels: one copy, in its config.
    const model = engine.describe().model;
    const shape = modelShape(model), channels = model.channels as 1 | 3;
    const { windowSize, patchSize } = engine.describe().model;
    const train = packImages(await decodeAll(state.trainFiles, shape, channels, windowSize * patchSize), shape, channels);
    const validation = packImages(await decodeAll(state.validationFiles, shape, channels, windowSize * patchSize), shape, channels);
    await engine.setTrainingImages(train);
    await engine.setValidationImages(validation);
    const batch = engine.describe().train.batchSize;
    const stepsPerEpoch = Math.max(1, Math.ceil((state.windowsPerImage * train.count) / batch));
    const chunk = Math.max(1, Math.min(stepsPerEpoch, 4));

    while (stopReason(state) === undefined) {
      const epoch = state.epoch + 1;
      const sums = state.partial?.sums ?? { loss: 0, l2: 0, gms: 0, ssim: 0, windows: 0, seconds: 0 };
      let step = state.partial?.step ?? 0;
      delete state.partial;
      const started = Date.now();
      const reducedBefore = engine.describe().group;
      while (step < stepsPerEpoch) {
        // A stop asked of any rank stops every rank at the same step (a collective when in a group).
        const aborted = group ? (await engine.groupAverage([options.signal?.aborted ? 1 : 0]))[0]! > 0 : options.signal?.aborted === true;
        if (aborted) {
          state.state = 'interrupted';
          state.partial = { step, sums };
          await save(state);
          return { out: options.out, interrupted: true, state, model };
        }
        const n = Math.min(chunk, stepsPerEpoch - step);
        const parts = await engine.trainSteps(n);
        sums.loss += parts.loss * n;
        sums.l2 += parts.l2 * n;
        sums.gms += parts.gms * n;
        sums.ssim += parts.ssim * n;
        sums.windows += parts.windows;
        sums.seconds += parts.seconds;
        step += n;
        const rate = sums.windows / Math.max(1e-9, sums.seconds);
        options.onProgress?.({
          epoch,
          epochs: state.epochs,
          step,
          stepsPerEpoch,
          windowsPerSecond: rate,
          loss: sums.loss / step,
          etaSeconds: ((stepsPerEpoch - step) * batch) / rate,
        });
      }
      // In a group, each rank validates a share of the windows and gets the whole set's loss:
      // the one value every rank decides the best epoch and early stopping on.
      const validationLoss = await engine.validate();
      const improved = state.bestLoss === null || validationLoss.loss < state.bestLoss;
      if (improved) {
        state.bestLoss = validationLoss.loss;
        state.bestEpoch = epoch;
        await engine.keepBest();
      }
      // The ranks' clocks differ a little: the group's mean is every rank's, so that a time budget stops them at the same epoch.
      const [seconds] = await engine.groupAverage([(Date.now() - started) / 1000]);
      const record: EpochRecord = {
        epoch,
        train: { loss: sums.loss / stepsPerEpoch, l2: sums.l2 / stepsPerEpoch, gms: sums.gms / stepsPerEpoch, ssim: sums.ssim / stepsPerEpoch, windows: sums.windows, seconds: sums.seconds },
        validation: validationLoss,
        best: improved,
        bestEpoch: state.bestEpoch,
        bestLoss: state.bestLoss!,
        seconds: seconds!,
        windowsPerSecond: sums.windows / Math.max(1e-9, sums.seconds),
        ...(group ? { allReduce: allReduceOf(reducedBefore, engine.describe().group) } : {}),
      };
      state.epoch = epoch;
      state.trainingSeconds = (state.trainingSeconds ?? 0) + record.seconds;
      state.history.push(record);
      await save(state);
      if (writer) await appendFile(log, `${JSON.stringify(record)}\n`);
      options.onEpoch?.(record);
    }
    state.stopped = stopReason(state);
    if (options.trial) return { out: options.out, interrupted: false, state, model };

    // The best epoch's weights, the training images' statistics, and the thresholds (rank 0's work alone).
    await engine.restoreBest();
    if (writer) await fitStatisticsAndThresholds(engine, state);
    state.state = 'done';
    await save(state);
    return { out: options.out, interrupted: false, state, model };
  } finally {
    engine.dispose();
  }
}
