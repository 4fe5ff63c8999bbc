/**
 * Where the time goes: one epoch of training, or a scoring pass, with every phase timed
 * (JavaScript's decode with its resize, the engine's upload, sampling, embedding, each block's
 * attention, MLP and norms, head, loss parts, backward, optimizer, maps), a breakdown by
 * phase with its share of wall-clock, and a Chrome trace (Perfetto, chrome://tracing).
 *
 * @example const report = await profileTrain({ category: 'data/weave', preset: 'small' });
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { readCategory, listImages } from '../data/dataset.js';
import { channelsOf, modelShape, packImages } from '../data/images.js';
import { evaluateCategory, presetOf } from '../eval/evaluate.js';
import { IntraError } from '../errors.js';
import { percent } from '../format.js';
import { scoreFiles } from '../infer/score.js';
import { decodeAll, splitValidation } from '../train/train.js';
import { modelConfig, type AttentionKind, type OpProfile, type Precision, type Preset, type ProfileEvent } from '../native.js';
import { Engine } from '../engine.js';

export interface Phase {
  name: string;
  /** milliseconds of self time (children excluded) */
  ms: number;
  /** share of wall-clock, in [0, 1] */
  share: number;
}

/** What an op is: a matrix product, a kernel of ours, an autograd node's own code, or any other ATen op. */
export type OpKind = 'matrix product' | 'ours' | 'autograd' | 'aten';

export interface OpRow {
  name: string;
  kind: OpKind;
  calls: number;
  /** milliseconds in the op less those of the ops nested in it */
  selfMs: number;
  totalMs: number;
  /** self time's share of the profiled span's wall-clock */
  share: number;
}

/** The op-level view (`--ops`): every op by self time, and the share of each kind. */
export interface OpBreakdown {
  /** what was timed: the training steps (validation apart), or the whole scoring */
  span: string;
  wallMs: number;
  ops: OpRow[];
  /** self time per kind, and 'outside ops' for the span's time in none (our C++ between ops, the hand-over) */
  kinds: { kind: OpKind | 'outside ops'; ms: number; share: number }[];
}

const MATRIX_PRODUCTS = new Set(['aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm', 'aten::addbmm', 'aten::matmul', 'aten::linear', 'aten::addmv', 'aten::mv', 'aten::dot']);

export function opKind(name: string): OpKind {
  if (name.startsWith('intra::')) return 'ours';
  if (MATRIX_PRODUCTS.has(name)) return 'matrix product';
  // autograd nodes: ATen's (MmBackward0, AccumulateGrad) and our Functions' CppNode<...>
  if (/Backward\d*$|AccumulateGrad|CppNode</.test(name)) return 'autograd';
  return 'aten';
}

/** Shortens our Functions' autograd nodes ("torch::autograd::CppNode<intra::kernels::(anonymous namespace)::LayerNormFunction>") to their class. */
export function opLabel(name: string): string {
  const node = /CppNode<(?:.*::)?([A-Za-z_0-9<>]+?)>$/.exec(name);
  return node ? `${node[1]} (node)` : name;
}

/** Ops by self time over a span of `wallNs`. */
export function opBreakdown(span: string, ops: readonly OpProfile[], wallNs: number): OpBreakdown {
  const rows = ops
    .map((o) => ({ name: opLabel(o.name), kind: opKind(o.name), calls: o.calls, selfMs: o.selfNs / 1e6, totalMs: o.totalNs / 1e6, share: o.selfNs / wallNs }))
    .sort((a, b) => b.selfMs - a.selfMs);
  const byKind = new Map<OpKind | 'outside ops', number>();
  for (const r of rows) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + r.selfMs);
  const inOps = rows.reduce((sum, r) => sum + r.selfMs, 0);
  byKind.set('outside ops', Math.max(0, wallNs / 1e6 - inOps));
  const kinds = [...byKind.entries()].map(([kind, ms]) => ({ kind, ms, share: ms / (wallNs / 1e6) })).sort((a, b) => b.ms - a.ms);
  return { span, wallMs: wallNs / 1e6, ops: rows, kinds };
}

export interface ProfileReport {
  kind: 'train' | 'score';
  attention: AttentionKind;
  /** the preset whose geometry the model has; custom for none */
  preset: Preset | 'custom';
  /** the matrix products' precision: training's (bf16: bf16 products, fp32 weights) or scoring's */
  precision: Precision;
  wallMs: number;
  /** sum of all phases' self time over wall-clock */
  coverage: number;
  /** per phase, every block separately */
  phases: Phase[];
  /** per kind of phase: blocks folded together ("attention", "mlp", "norm") */
  summary: Phase[];
  /** training: the epoch's windows and the seconds an epoch of them takes */
  windows?: number;
  epochSeconds?: number;
  /** training: the epoch's span on the events' clock (ns), after every one-time cost */
  epochSpanNs?: [number, number];
  /** training: seconds before the epoch (engine, decode, upload, warm-up), reported apart from it */
  setupSeconds?: number;
  /** training with `--compare`: each timed epoch of this kind, in the order they ran */
  epochRuns?: number[];
  /** with `ops`: the op-level view */
  ops?: OpBreakdown;
  events: ProfileEvent[];
}

const now = (): number => Number(process.hrtime.bigint());

/** Records JavaScript phases on the engine's clock. */
class Recorder {
  events: ProfileEvent[] = [];
  async time<T>(name: string, run: () => Promise<T>): Promise<T> {
    const start = now();
    try {
      return await run();
    } finally {
      this.events.push({ name, startNs: start, durationNs: now() - start, depth: 0, source: 'js' });
    }
  }
}

/** Self time per event: its duration less that of the events nested directly inside it. */
export function breakdown(events: readonly ProfileEvent[], wallNs: number): { phases: Phase[]; summary: Phase[]; coverage: number } {
  const sorted = [...events].sort((a, b) => a.startNs - b.startNs || b.durationNs - a.durationNs);
  const self = new Map<string, number>();
  const stack: { end: number; name: string }[] = [];
  for (const e of sorted) {
    // An event is nested only if it ends within its parent: two that straddle are siblings whose
    // clocks overlap (the blocks' backward, timed by hooks a microsecond apart), and nesting the
    // second in the first would take its whole length off the first's self time.
    while (stack.length && stack[stack.length - 1]!.end < e.startNs + e.durationNs) stack.pop();
    const parent = stack[stack.length - 1];
    // Validation runs the same forward phases as training: inside it they stay validation's,
    // so that the training step's own split is not blended with the validation pass.
    if (parent?.name === 'validation') continue;
    if (parent) self.set(parent.name, (self.get(parent.name) ?? 0) - e.durationNs);
    self.set(e.name, (self.get(e.name) ?? 0) + e.durationNs);
    stack.push({ end: e.startNs + e.durationNs, name: e.name });
  }
  const toPhases = (m: Map<string, number>) =>
    [...m.entries()].map(([name, ns]) => ({ name, ms: ns / 1e6, share: ns / wallNs })).sort((a, b) => b.ms - a.ms);
  const folded = new Map<string, number>();
  for (const [name, ns] of self) {
    const kind = name.replace(/^block \d+ \/ /, '');
    folded.set(kind, (folded.get(kind) ?? 0) + ns);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return { phases: toPhases(self), summary: toPhases(folded), coverage: total / wallNs };
}

export interface ProfileTrainOptions {
  category: string;
  preset?: Preset;
  attention?: AttentionKind;
  imageSize?: number;
  batchSize?: number;
  /** bf16: bf16 matrix products with fp32 master weights, as `intra train --train-precision bf16` */
  precision?: Precision;
  /** windows per training image in the epoch (the paper: 600) */
  windowsPerImage?: number;
  threads?: number;
  seed?: number;
  /** also time every op of the training steps (validation apart) */
  ops?: boolean;
  /**
   * untimed training steps (and a validation pass) before the epoch, so that the epoch pays none
   * of the one-time costs: first allocations, oneDNN's kernel generation, the pool's threads
   */
  warmupSteps?: number;
}

/** One epoch of training (and its validation), profiled. */
export async function profileTrain(options: ProfileTrainOptions): Promise<ProfileReport> {
  const recorder = new Recorder();
  const start = now();
  // Engine calls are timed from JavaScript too: their self time is the hand-over to and from
  // libuv's pool and whatever the engine does outside its named phases.
  const call = <T>(run: () => Promise<T>) => recorder.time('engine call', run);
  const { engine, config, split, channels, preset } = await recorder.time('setup', async () => {
    const category = await readCategory(options.category);
    const channels = await channelsOf(category.train[0]!);
    const preset = options.preset ?? 'small';
    const config = modelConfig({ preset, attention: options.attention, imageSize: options.imageSize, channels });
    const split = splitValidation(category.train, options.seed ?? 0);
    const engine = Engine.create({ ...config }, { seed: options.seed ?? 0, batchSize: options.batchSize ?? 64, trainPrecision: options.precision ?? 'fp32' }, { threads: options.threads });
    return { engine, config, split, channels, preset };
  });
  try {
    engine.setProfiling(true);
    // The training path's own loading (trainCategory's decodeAll: checks, decode and resize in one pass).
    const shape = modelShape(config), window = config.windowSize * config.patchSize;
    const train = packImages(await recorder.time('decode', () => decodeAll(split.train, shape, channels, window)), shape, channels);
    const validation = packImages(await recorder.time('decode', () => decodeAll(split.validation, shape, channels, window)), shape, channels);
    await call(() => engine.setTrainingImages(train));
    await call(() => engine.setValidationImages(validation));
    const loading = engine.takeProfile();
    const warmup = options.warmupSteps ?? 2;
    if (warmup > 0) {
      await recorder.time('warm-up', async () => {
        await engine.trainSteps(warmup);
        await engine.validate();
      });
      engine.takeProfile();  // the warm-up's own phases are not the epoch's
    }
    const batch = engine.describe().train.batchSize;
    const windows = (options.windowsPerImage ?? 600) * train.count;
    const steps = Math.max(1, Math.ceil(windows / batch));
    const epochStart = now();
    if (options.ops) engine.setProfiling(true, { ops: true });
    for (let done = 0; done < steps; done += 8) await call(() => engine.trainSteps(Math.min(8, steps - done)));
    const ops = options.ops ? opBreakdown(`${steps} training steps`, engine.takeOpProfile(), now() - epochStart) : undefined;
    engine.setProfiling(true);
    await recorder.time('validation', () => call(() => engine.validate()));
    const epochEnd = now();
    const epochSeconds = (epochEnd - epochStart) / 1e9;
    const events = [...recorder.events, ...loading, ...engine.takeProfile()];
    const wallNs = now() - start;
    return {
      kind: 'train', attention: config.attention, preset, precision: engine.describe().train.trainPrecision, wallMs: wallNs / 1e6, windows: steps * batch,
      epochSeconds, epochSpanNs: [epochStart, epochEnd], setupSeconds: (epochStart - start) / 1e9, ...breakdown(events, wallNs), ops, events,
    };
  } finally {
    engine.dispose();
  }
}

/**
 * Attention kinds profiled side by side (`intra profile train --compare msa,linear`): each run
 * warms its engine up before its timed epoch, and the kinds run in mirrored rounds (A B, B A, ...)
 * so that neither always runs first, on the colder process; each kind's report is its run with
 * the median epoch (the lower one of two), with every epoch it ran in `epochRuns`.
 */
export async function profileCompare(options: Omit<ProfileTrainOptions, 'attention'>, kinds: readonly AttentionKind[], rounds = 2): Promise<{ reports: ProfileReport[]; order: AttentionKind[] }> {
  if (kinds.length === 0) throw new IntraError('INTRA_INVALID_ARGUMENT', 'Expected at least one attention kind to compare');
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a positive integer for rounds but received ${rounds}`);
  const runs = new Map<AttentionKind, ProfileReport[]>(kinds.map((k) => [k, []]));
  const order: AttentionKind[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const attention of round % 2 === 0 ? kinds : [...kinds].reverse()) {
      order.push(attention);
      runs.get(attention)!.push(await profileTrain({ ...options, attention }));
    }
  }
  const reports = kinds.map((k) => {
    const mine = runs.get(k)!;
    const sorted = [...mine].sort((a, b) => a.epochSeconds! - b.epochSeconds!);
    return { ...sorted[(sorted.length - 1) >> 1]!, epochRuns: mine.map((r) => r.epochSeconds!) };
  });
  return { reports, order };
}

export interface ProfileScoreOptions {
  model: string;
  /** images or folders to score; or, with `evaluate`, one MVTec AD category folder */
  inputs: string[];
  /** also compute the evaluation metrics (image and pixel AUROC, AUPRO) of the category */
  evaluate?: boolean;
  batch?: number;
  threads?: number;
  /** bf16: score with bf16 matrix products, as `intra score --precision bf16` */
  precision?: Precision;
  /** also time every op of the scoring */
  ops?: boolean;
}

/**
 * Scoring a set of images (and, with `evaluate`, a category's evaluation), profiled: it runs the
 * scoring path itself (scoreImages, as `intra score` does; evaluateCategory, as `intra eval`
 * does) with the recorder as its phase timer, so that what is profiled is what runs.
 */
export async function profileScore(options: ProfileScoreOptions): Promise<ProfileReport> {
  const recorder = new Recorder();
  const start = now();
  const engine = await recorder.time('setup', () => Engine.load(options.model, { threads: options.threads, precision: options.precision, purpose: 'scoring' }));
  try {
    engine.setProfiling(true, { ops: options.ops });
    const scoringStart = now();
    const { model } = engine.describe();
    if (options.evaluate) {
      if (options.inputs.length !== 1) throw new IntraError('INTRA_INVALID_ARGUMENT', 'Expected one category folder to evaluate');
      const outDir = await mkdtemp(join(tmpdir(), 'intra-profile-eval-'));
      try {
        await evaluateCategory({ model: options.model, category: options.inputs[0]!, outDir, batch: options.batch, engine, timer: recorder });
      } finally {
        await rm(outDir, { recursive: true, force: true });
      }
    } else {
      const files = await recorder.time('setup', () => listImages(options.inputs));
      for await (const line of scoreFiles(engine, files, { batch: options.batch }, recorder)) {
        if (line.error !== undefined) throw new IntraError(line.code ?? 'INTRA_IMAGE', line.error);
      }
    }
    const ops = options.ops ? opBreakdown(options.evaluate ? 'scoring and evaluation' : 'scoring', engine.takeOpProfile(), now() - scoringStart) : undefined;
    const events = [...recorder.events, ...engine.takeProfile()];
    const wallNs = now() - start;
    return { kind: 'score', attention: model.attention, preset: presetOf(model) ?? 'custom', precision: options.precision ?? 'fp32', wallMs: wallNs / 1e6, ...breakdown(events, wallNs), ops, events };
  } finally {
    engine.dispose();
  }
}

/** The Chrome trace event format: complete events ("X"), microseconds. */
export function chromeTrace(reports: readonly ProfileReport[]): { traceEvents: object[]; displayTimeUnit: string } {
  const traceEvents: object[] = [];
  reports.forEach((report, pid) => {
    traceEvents.push({ name: 'process_name', ph: 'M', pid: pid + 1, args: { name: `${report.kind} ${report.attention}` } });
    const origin = Math.min(...report.events.map((e) => e.startNs));
    for (const e of report.events) {
      const js = e.source === 'js';
      traceEvents.push({ name: e.name, cat: js ? 'javascript' : 'engine', ph: 'X', pid: pid + 1, tid: js ? 1 : 2, ts: (e.startNs - origin) / 1000, dur: e.durationNs / 1000 });
    }
  });
  return { traceEvents, displayTimeUnit: 'ms' };
}

export function profileTable(report: ProfileReport, rows = 20): string {
  const lines = [
    `${report.kind} ${report.preset} ${report.attention} ${report.precision}: wall-clock ${(report.wallMs / 1000).toFixed(2)} s, phases account for ${percent(report.coverage, { unit: true })}` +
      (report.epochSeconds !== undefined ? `; one epoch (${report.windows} windows) ${report.epochSeconds.toFixed(2)} s, set-up and warm-up before it ${(report.setupSeconds ?? 0).toFixed(2)} s` : ''),
    'phase                          ms     share',
  ];
  for (const p of report.summary.slice(0, rows)) lines.push(`${p.name.padEnd(24)} ${p.ms.toFixed(1).padStart(10)} ${percent(p.share, { unit: true, width: 9 })}`);
  return lines.join('\n');
}

/** The ops with most self time, after a line with each kind's share. */
export function opTable(ops: OpBreakdown, rows = 30): string {
  const lines = [
    `ops over ${ops.span} (${(ops.wallMs / 1000).toFixed(2)} s): ${ops.kinds.map((k) => `${k.kind} ${percent(k.share, { unit: true })}`).join(', ')}`,
    `${'op'.padEnd(44)} ${'kind'.padEnd(14)} ${'calls'.padStart(8)} ${'self ms'.padStart(10)} ${'share'.padStart(8)} ${'total ms'.padStart(10)}`,
  ];
  for (const o of ops.ops.slice(0, rows)) {
    lines.push(`${o.name.slice(0, 44).padEnd(44)} ${o.kind.padEnd(14)} ${String(o.calls).padStart(8)} ${o.selfMs.toFixed(1).padStart(10)} ${percent(o.share, { unit: true, width: 8 })} ${o.totalMs.toFixed(1).padStart(10)}`);
  }
  return lines.join('\n');
}

/** Softmax against linear attention (or any kinds): epoch time and the top phases side by side. */
export function compareTable(reports: readonly ProfileReport[]): string {
  const names = [...new Set(reports.flatMap((r) => r.summary.slice(0, 12).map((p) => p.name)))];
  const header = `${'phase'.padEnd(24)}${reports.map((r) => r.attention.padStart(16)).join('')}`;
  const lines = [
    header,
    `${'epoch seconds'.padEnd(24)}${reports.map((r) => (r.epochSeconds ?? r.wallMs / 1000).toFixed(2).padStart(16)).join('')}`,
    `${'epochs run (s)'.padEnd(24)}${reports.map((r) => (r.epochRuns ?? []).map((s) => s.toFixed(2)).join(' ').padStart(16)).join('')}`,
    `${'set-up seconds'.padEnd(24)}${reports.map((r) => (r.setupSeconds ?? 0).toFixed(2).padStart(16)).join('')}`,
  ];
  for (const name of names) {
    lines.push(`${name.padEnd(24)}${reports.map((r) => { const p = r.summary.find((q) => q.name === name); return (p ? `${p.ms.toFixed(0)} ms ${percent(p.share, { unit: true })}` : '–').padStart(16); }).join('')}`);
  }
  return lines.join('\n');
}
