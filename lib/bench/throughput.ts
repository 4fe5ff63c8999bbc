/**
 * Throughput against the machine's ceiling: scoring (the model alone, and the whole path
 * from files to scores) and training steps, per preset and precision, with the ceiling
 * measured in the same run (a large matrix product at the same precision through the
 * same libtorch).
 *
 * @example const records = await benchScore({ preset: 'small', precisions: ['fp32'] });
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { listImages } from '../data/dataset.js';
import { renderSample } from '../data/synth.js';
import { scoreFiles } from '../infer/score.js';
import { machineText } from '../format.js';
import { capabilities, kernelFamilies, machineLabel, matmulCeiling, modelConfig, type AttentionKind, type EngineOptions, type ImageSet, type KernelFamily, type MachineLabel, type Precision, type Preset } from '../native.js';
import { Engine } from '../engine.js';
import sharp from 'sharp';
import { inferenceFlops, trainingFlops } from './flops.js';

export interface ThroughputRecord {
  bench: 'score' | 'train';
  preset: Preset;
  attention: AttentionKind;
  precision: Precision;
  /** fused: our kernels (attention, filters, layer norm, bias + GELU, Adam); reference: ATen's ops and libtorch's Adam step */
  kernels: BenchKernels;
  /** with --ablate: this one family ran its reference while the others ran our kernels */
  reference_for?: KernelFamily;
  path: 'model' | 'whole';
  image_size: number;
  windows_per_s: number;
  images_per_s: number;
  gflops_per_s: number;
  ceiling_gflops_per_s: number;
  percent_of_ceiling: number;
  /** median seconds of one timed run */
  seconds: number;
  threads: number;
  /** where the engine ran: cpu, or cuda (ceiling then an 8192³ product on the GPU) */
  device: 'cpu' | 'cuda';
  /** the machine the figure was measured on */
  machine: MachineLabel;
}

export const BENCH_KERNELS = ['fused', 'reference'] as const;
export type BenchKernels = (typeof BENCH_KERNELS)[number];

export interface ThroughputOptions {
  preset?: Preset;
  attention?: AttentionKind;
  precisions?: Precision[];
  /** each configuration runs once per entry (default fused): both show what our kernels take off */
  kernels?: BenchKernels[];
  /**
   * Also run our kernels with each family on its reference in turn (attention, filters, norm,
   * activation; optimizer when training): each family's share of the whole run.
   */
  ablate?: boolean;
  imageSize?: number;
  /** images per timed run (score) */
  images?: number;
  /** windows per training step (train) */
  batch?: number;
  /** optimiser steps per timed run (train) */
  steps?: number;
  repeats?: number;
  threads?: number;
  /** cpu (default) or cuda: the engine, and the ceiling's matrix product, on that device */
  device?: 'cpu' | 'cuda';
  onRecord?: (record: ThroughputRecord) => void;
}

/** Median seconds of `repeats` runs after two warm-up runs (the first fills the allocator's cache). */
export async function median(repeats: number, run: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 2; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    times.push((performance.now() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const mid = Math.floor(times.length / 2);
  return times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
}

/** Synthetic RGB texture images, packed and as PNG files, at the model's size. */
export async function sampleImages(size: number, count: number, dir: string): Promise<{ set: ImageSet; files: string[] }> {
  const data = new Uint8Array(count * size * size * 3);
  for (let i = 0; i < count; i++) {
    const { image } = renderSample('weave', size, 1000 + i);
    data.set(image, i * size * size * 3);
    await sharp(image, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(dir, `${String(i).padStart(4, '0')}.png`));
  }
  return { set: { data, count, height: size, width: size, channels: 3 }, files: await listImages([dir]) };
}

type RecordLabels = Pick<ThroughputRecord, 'bench' | 'preset' | 'attention' | 'precision' | 'kernels' | 'path' | 'image_size' | 'threads' | 'device'>;

/** One engine configuration a bench runs: the kernels, and the family kept on its reference (ablation). */
interface KernelVariant {
  kernels: BenchKernels;
  referenceFor?: KernelFamily;
}

/** The engine options of a variant. */
function variantOptions(variant: KernelVariant): Pick<EngineOptions, 'kernels' | 'referenceFor'> {
  return variant.referenceFor ? { kernels: variant.kernels, referenceFor: [variant.referenceFor] } : { kernels: variant.kernels };
}

/** Rates of one timed run: `images` whole images (or their equivalent in windows) in `seconds`. */
function throughputRecord(labels: RecordLabels, variant: KernelVariant, run: { seconds: number; windows: number; images: number; flops: number; ceiling: number }): ThroughputRecord {
  const gflops = run.flops / run.seconds / 1e9;
  return {
    ...labels,
    ...(variant.referenceFor ? { reference_for: variant.referenceFor } : {}),
    machine: machineLabel(),
    windows_per_s: run.windows / run.seconds,
    images_per_s: run.images / run.seconds,
    gflops_per_s: gflops,
    ceiling_gflops_per_s: run.ceiling,
    percent_of_ceiling: (100 * gflops) / run.ceiling,
    seconds: run.seconds,
  };
}

/**
 * The variants a run measures: each of `options.kernels`, and with `ablate` our kernels again
 * with each family in turn on its reference, where our kernels run that family at all (the
 * fused engine `probe` describes says so: on a GPU, norm, activation and optimizer are ATen's either way).
 */
function kernelVariants(options: ThroughputOptions, families: readonly KernelFamily[], probe: () => Engine): KernelVariant[] {
  const variants: KernelVariant[] = (options.kernels ?? ['fused']).map((kernels) => ({ kernels }));
  if (!options.ablate) return variants;
  const engine = probe();
  const described = engine.describe();
  engine.dispose();
  const fused = families.filter((family) => described.families[family] !== 'reference');
  const at = variants.findIndex((v) => v.kernels === 'fused');
  const ablations = fused.map((referenceFor) => ({ kernels: 'fused' as const, referenceFor }));
  return at < 0 ? [{ kernels: 'fused' }, ...ablations, ...variants] : [...variants.slice(0, at + 1), ...ablations, ...variants.slice(at + 1)];
}

/**
 * Runs `measure` once per precision and kernel variant with a fresh engine made by `create`,
 * the ceiling at that precision measured just before, sample images in a temporary folder
 * that is removed after.
 */
async function perPrecision(
  options: ThroughputOptions,
  size: number,
  imageCount: number,
  families: readonly KernelFamily[],
  create: (precision: Precision, variant: KernelVariant) => Engine,
  measure: (engine: Engine, precision: Precision, variant: KernelVariant, ceiling: number, images: { set: ImageSet; files: string[] }) => Promise<ThroughputRecord[]>,
): Promise<ThroughputRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), 'intra-bench-'));
  const records: ThroughputRecord[] = [];
  try {
    const images = await sampleImages(size, imageCount, dir);
    for (const precision of options.precisions ?? ['fp32', 'bf16']) {
      const gpu = options.device === 'cuda';
      const ceiling = await matmulCeiling(gpu ? 8192 : 2048, precision === 'bf16' ? 'bfloat16' : 'float32', gpu ? 10 : 5, options.threads ?? 0, options.device ?? 'cpu');
      for (const variant of kernelVariants(options, families, () => create(precision, { kernels: 'fused' }))) {
        const engine = create(precision, variant);
        try {
          for (const record of await measure(engine, precision, variant, ceiling, images)) {
            records.push(record);
            options.onRecord?.(record);
          }
        } finally {
          engine.dispose();
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return records;
}

export async function benchScore(options: ThroughputOptions = {}): Promise<ThroughputRecord[]> {
  const preset = options.preset ?? 'paper';
  const config = modelConfig({ preset, attention: options.attention, imageSize: options.imageSize, channels: 3 });
  const images = options.images ?? 1, repeats = options.repeats ?? 3, threads = options.threads ?? 0, device = options.device ?? 'cpu';
  const usedThreads = capabilities(threads).threads;
  const grid = config.imageHeight / config.patchSize;
  // Scoring runs no optimizer: its share is training's alone.
  const families = kernelFamilies().map((f) => f.name).filter((f) => f !== 'optimizer');
  return perPrecision(options, config.imageHeight, images, families,
    (precision, variant) => Engine.create({ ...config }, { seed: 1 }, { threads, device, precision, ...variantOptions(variant) }),
    async (engine, precision, variant, ceiling, { set, files }) => {
      await engine.setTrainingImages(set);
      await engine.fitNormalStatistics();  // untrained weights cost the same as trained ones
      const model = await median(repeats, async () => void (await engine.reconstruct(set)));
      const whole = await median(repeats, async () => {
        for await (const line of scoreFiles(engine, files, { batch: Math.max(1, images) })) {
          if (line.error) throw new Error(line.error);
        }
      });
      return ([['model', model], ['whole', whole]] as const).map(([path, seconds]) =>
        throughputRecord({ bench: 'score', preset, attention: config.attention, precision, kernels: variant.kernels, path, image_size: config.imageHeight, threads: usedThreads, device }, variant,
          { seconds, windows: images * grid * grid, images, flops: inferenceFlops(config, images), ceiling }));
    });
}

export async function benchTrain(options: ThroughputOptions = {}): Promise<ThroughputRecord[]> {
  const preset = options.preset ?? 'paper';
  const config = modelConfig({ preset, attention: options.attention, imageSize: options.imageSize, channels: 3 });
  const batch = options.batch ?? 32, steps = options.steps ?? 2, repeats = options.repeats ?? 3, threads = options.threads ?? 0, device = options.device ?? 'cpu';
  const usedThreads = capabilities(threads).threads;
  return perPrecision(options, config.imageHeight, 4, kernelFamilies().map((f) => f.name),
    (precision, variant) => Engine.create({ ...config }, { seed: 1, batchSize: batch, trainPrecision: precision }, { threads, device, ...variantOptions(variant) }),
    async (engine, precision, variant, ceiling, { set }) => {
      await engine.setTrainingImages(set);
      const seconds = await median(repeats, async () => void (await engine.trainSteps(steps)));
      const windows = batch * steps;
      return [throughputRecord({ bench: 'train', preset, attention: config.attention, precision, kernels: variant.kernels, path: 'whole', image_size: config.imageHeight, threads: usedThreads, device }, variant,
        { seconds, windows, images: windows / (config.imageHeight / config.patchSize) ** 2, flops: trainingFlops(config, windows), ceiling })];
    });
}

export function throughputTable(records: readonly ThroughputRecord[]): string {
  const m = records[0]?.machine;
  const lines = [
    `${machineText(m)}, ${records[0]?.threads ?? '?'} threads`,
    'bench  preset  attention  precision  kernels                  path    windows/s  images/s   GFLOP/s  ceiling  % of ceiling',
  ];
  for (const r of records) {
    const kernels = r.reference_for ? `fused, ${r.reference_for} ref` : r.kernels;
    lines.push(
      `${r.bench.padEnd(6)} ${r.preset.padEnd(7)} ${r.attention.padEnd(10)} ${r.precision.padEnd(10)} ${kernels.padEnd(24)} ${r.path.padEnd(6)} ${r.windows_per_s.toFixed(1).padStart(10)} ${r.images_per_s.toFixed(3).padStart(9)} ${r.gflops_per_s.toFixed(1).padStart(9)} ${r.ceiling_gflops_per_s.toFixed(1).padStart(8)} ${r.percent_of_ceiling.toFixed(1).padStart(12)}`,
    );
  }
  const shares = kernelShares(records);
  if (shares.length) {
    lines.push('', ...shares.map((s) => s.family
      ? `${s.bench} ${s.precision} ${s.path}: with ${s.family} on its reference it takes ${s.speedup.toFixed(2)}x as long as with our kernels`
      : `${s.bench} ${s.precision} ${s.path}: the reference takes ${s.speedup.toFixed(2)}x as long as our kernels`));
  }
  return lines.join('\n');
}

/**
 * Where a run measured both: how much longer the same configuration takes with the reference
 * ops (family absent), or with one family on its reference (ablation), than with our kernels
 * (same run, same machine).
 */
export function kernelShares(records: readonly ThroughputRecord[]): { bench: string; precision: Precision; path: string; family?: KernelFamily; speedup: number }[] {
  const same = (a: ThroughputRecord, b: ThroughputRecord) => a.bench === b.bench && a.precision === b.precision && a.path === b.path && a.preset === b.preset && a.attention === b.attention;
  return records
    .filter((r) => r.kernels === 'fused' && !r.reference_for)
    .flatMap((f) => {
      const compared = records.filter((x) => same(x, f) && (x.kernels === 'reference' || x.reference_for));
      return compared.map((x) => ({ bench: f.bench, precision: f.precision, path: f.path, ...(x.reference_for ? { family: x.reference_for } : {}), speedup: x.seconds / f.seconds }));
    });
}
