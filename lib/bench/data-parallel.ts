/**
 * `intra bench train --procs N`: one model trained by N local ranks (c10d, Gloo) against one
 * process with all the threads, on the same machine in the same run, with the gradient sums
 * overlapping the backward and after it; the bytes each rank all-reduces per step and the
 * part of the all-reduce the backward did not hide. Each rank is a process of its own, started
 * as `intra train --procs` starts them; rank 0 reports.
 *
 * @example const records = await benchDataParallel({ procs: 2, precisions: ['bf16'] });
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { Engine } from '../engine.js';
import { IntraError } from '../errors.js';
import { machineText } from '../format.js';
import { capabilities, machineLabel, modelConfig, type AttentionKind, type GroupConfig, type MachineLabel, type Precision, type Preset } from '../native.js';
import { launchRanks } from '../train/launch.js';
import { median, sampleImages } from './throughput.js';

export const DATA_PARALLEL_RUNS = ['one process', 'overlapped', 'after backward'] as const;
export type DataParallelRun = (typeof DATA_PARALLEL_RUNS)[number];

export interface DataParallelRecord {
  preset: Preset;
  attention: AttentionKind;
  precision: Precision;
  image_size: number;
  parameters: number;
  /** windows per optimiser step (the group's: each rank computes batch / procs) */
  batch: number;
  /** one process with every thread, or the ranks with the sums launched from the backward's hooks or after it */
  run: DataParallelRun;
  procs: number;
  threads_per_process: number;
  windows_per_s: number;
  /** windows/s over the one process's, same run */
  speedup: number | null;
  /** median ms of one optimiser step */
  step_ms: number;
  /** bytes each rank sends into the gradient sums per step, and in how many buckets */
  bytes_per_step: number;
  buckets: number;
  /** ms per step waited for the sums after the backward: the all-reduce the backward did not hide */
  wait_ms_per_step: number;
  bucket_mb: number;
  machine: MachineLabel;
}

export interface DataParallelOptions {
  procs: number;
  preset?: Preset;
  attention?: AttentionKind;
  precisions?: Precision[];
  imageSize?: number;
  batch?: number;
  steps?: number;
  repeats?: number;
  /** in all (0: every core), split evenly between the ranks */
  threads?: number;
  bucketMb?: number;
  onRecord?: (record: DataParallelRecord) => void;
}

type RankOptions = Omit<DataParallelOptions, 'procs' | 'onRecord' | 'precisions'> & { precision: Precision };

/** The options as the flags of `intra bench train` that a rank is started with. */
function rankArgv(options: RankOptions, overlap: boolean): string[] {
  const flags: [string, string | number | undefined][] = [
    ['--preset', options.preset], ['--attention', options.attention], ['--precision', options.precision], ['--image-size', options.imageSize],
    ['--batch', options.batch], ['--steps', options.steps], ['--repeats', options.repeats], ['--bucket-mb', options.bucketMb],
  ];
  return ['bench', 'train', ...flags.flatMap(([k, v]) => (v === undefined ? [] : [k, String(v)])), overlap ? '--overlap' : '--no-overlap', '--json'];
}

/** One process's timed steps: alone, or as a rank of `group` (then rank 0's record, others' null). */
export async function timeTrainingSteps(options: RankOptions, group?: GroupConfig): Promise<DataParallelRecord | null> {
  const preset = options.preset ?? 'paper';
  const config = modelConfig({ preset, attention: options.attention, imageSize: options.imageSize, channels: 3 });
  const batch = options.batch ?? 32, steps = options.steps ?? 2, repeats = options.repeats ?? 3, threads = options.threads ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'intra-bench-'));
  const engine = Engine.create({ ...config }, { seed: 1, batchSize: batch, trainPrecision: options.precision }, { threads });
  try {
    // Every rank renders the same images: the group trains one model on one dataset.
    const { set } = await sampleImages(config.imageHeight, 4, dir);
    await engine.setTrainingImages(set);
    if (group) await engine.joinGroup(group);
    const run = async () => void (await engine.trainSteps(steps));
    await run();  // the first step lays the gradient buckets out; the timed ones are steady
    const before = engine.describe().group;
    const seconds = await median(repeats, run);
    const after = engine.describe().group;
    if (group && group.rank !== 0) return null;
    const reduced = after.reducedSteps - before.reducedSteps;
    return {
      preset, attention: config.attention, precision: options.precision, image_size: config.imageHeight, parameters: engine.describe().parameters, batch,
      run: !group ? 'one process' : after.overlap ? 'overlapped' : 'after backward', procs: group?.worldSize ?? 1, threads_per_process: capabilities(threads).threads,
      windows_per_s: (batch * steps) / seconds, speedup: null, step_ms: (1000 * seconds) / steps,
      bytes_per_step: after.bytesPerStep, buckets: after.buckets, wait_ms_per_step: reduced > 0 ? (after.waitMs - before.waitMs) / reduced : 0,
      bucket_mb: after.bucketBytes / 2 ** 20, machine: machineLabel(),
    };
  } finally {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Per precision: one process with every thread, then N ranks with overlapped sums, then with sums after the backward. */
export async function benchDataParallel(options: DataParallelOptions): Promise<DataParallelRecord[]> {
  const { procs } = options;
  if (!Number.isInteger(procs) || procs < 2) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected an integer of at least 2 for --procs but received ${procs}`);
  const threads = options.threads || availableParallelism();
  const records: DataParallelRecord[] = [];
  const keep = (record: DataParallelRecord) => {
    records.push(record);
    options.onRecord?.(record);
  };
  for (const precision of options.precisions ?? ['bf16']) {
    const rankOptions: RankOptions = { ...options, precision, threads };
    const alone = (await timeTrainingSteps(rankOptions))!;
    keep({ ...alone, speedup: 1 });
    for (const overlap of [true, false]) {
      let output = '';
      const code = await launchRanks({ procs, argv: rankArgv({ ...rankOptions, threads: undefined }, overlap), threads, onStdout: (text) => (output += text) });
      if (code !== 0) throw new IntraError('INTRA_DISTRIBUTED', `intra bench train --procs ${procs}: a rank failed (exit code ${code}); its message is above`);
      const line = output.split('\n').find((l) => l.startsWith('{'));
      if (!line) throw new IntraError('INTRA_DISTRIBUTED', `intra bench train --procs ${procs}: rank 0 reported nothing`);
      const group = JSON.parse(line) as DataParallelRecord;
      keep({ ...group, speedup: group.windows_per_s / alone.windows_per_s });
    }
  }
  return records;
}

export function dataParallelTable(records: readonly DataParallelRecord[]): string {
  const first = records[0];
  const lines = [
    `${machineText(first?.machine)}; ${first?.preset} preset ${first?.image_size}×${first?.image_size}, ${first ? (first.parameters / 1e6).toFixed(2) : '?'} M parameters, ${first?.batch} windows per step`,
    'precision  run              procs × threads  windows/s  vs one  step ms  MB summed/step  buckets  exposed all-reduce ms/step',
  ];
  for (const r of records) {
    lines.push(`${r.precision.padEnd(10)} ${r.run.padEnd(16)} ${`${r.procs} × ${r.threads_per_process}`.padEnd(16)} ${r.windows_per_s.toFixed(1).padStart(9)} ${(r.speedup ?? 1).toFixed(2).padStart(6)}x ${r.step_ms.toFixed(0).padStart(8)} ${(r.bytes_per_step / 1e6).toFixed(1).padStart(15)} ${String(r.buckets).padStart(8)} ${r.wait_ms_per_step.toFixed(1).padStart(27)}`);
  }
  return lines.join('\n');
}
