/**
 * The one module that loads the native addon, and the typed interface to it. Its names and
 * types are in native-types.ts (re-exported here), its argument checks in native-checks.ts:
 * every argument is checked with a precise message before it crosses.
 *
 * @example
 * const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 1 });
 * await engine.setTrainingImages(images);
 * const parts = await engine.trainSteps(10);
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { IntraError, invalidArgument, requireInteger, requireOneOf, syncWithCallerStack, withCallerStack } from './errors.js';
import { checkModelInput, checkShape, checkTarget, checkOptions, checkImages } from './native-checks.js';
import {
  PRECISIONS,
  ANOMALY_MAPS,
  type AnomalyMapKind,
  KERNEL_DEVICES,
  KERNEL_DTYPES,
  type KernelOp,
  type KernelDevice,
  type ModelConfigInput,
  type ModelConfig,
  type TrainConfig,
  type ConfigFields,
  type EngineOptions,
  type LoadOptions,
  type Capabilities,
  type LossParts,
  type ImageSet,
  type AnomalyMaps,
  type EngineDescription,
  type ProfileEvent,
  type KernelErrors,
  type KernelCheckOptions,
  type KernelBenchRequest,
  type KernelDtype,
  type KernelBenchResult,
  type MethodConstants,
  type KernelFamilyDescription,
  type KernelOpDescription,
  type NativeEngine,
  type Preset,
  type PresetTraining,
} from './native-types.js';

export * from './native-types.js';
interface NativeAddon {
  Engine: new (model: object, train: object, options: object) => NativeEngine;
  loadEngine(path: string, options: object): Promise<NativeEngine>;
  capabilities(threads: number): Capabilities;
  modelConfig(input: object): ModelConfig & { parameters: number };
  configFields(): ConfigFields;
  windowOrigins(axisLength: number, windowSize: number): Int32Array;
  methodConstants(): MethodConstants;
  kernelFamilies(): KernelFamilyDescription[];
  presetTraining(preset: string): PresetTraining;
  patchLoss(train: object, predicted: Float32Array, target: Float32Array, count: number, channels: number, patchSize: number, implementation: string): Omit<LossParts, 'windows' | 'seconds'>;
  mapDifferences(image: Float32Array, reconstruction: Float32Array, count: number, height: number, width: number, channels: number, anomalyMap: string, implementation: string): Promise<MapDifferences>;
  textureDescriptors(pixels: Uint8Array, height: number, width: number, channels: number, outHeight: number, outWidth: number): Promise<Float32Array>;
  turnedWindowOrigins(gridRows: number, gridCols: number, windowSize: number, rows: Int32Array, cols: Int32Array, transforms: Int32Array): { rows: Int32Array; cols: Int32Array };
  resizeMap(map: Float32Array, height: number, width: number, outHeight: number, outWidth: number): Promise<Float32Array>;
  heatPictures(map: Float32Array, image: Uint8Array, height: number, width: number, channels: number, scale: number, wanted: number): Promise<Partial<Record<HeatPicture, Uint8Array>>>;
  labelRegions(mask: Uint8Array, width: number, height: number): Promise<Omit<MaskRegions, 'mask'>>;
  checkKernel(request: { op: string; shape: number[]; seed: number; device: string; impl: string; fault?: string }): Promise<Record<string, KernelErrors>>;
  gradcheckKernel(request: { op: string; shape: number[]; seed: number; device: string; impl: string; fault?: string }): Promise<number>;
  toleranceViolations(output: string, errors: Omit<KernelErrors, 'violations'>): string;
  benchKernel(request: KernelBenchRequest): Promise<KernelBenchResult>;
  matmulCeiling(n: number, dtype: string, repeats: number, threads: number, device: string): Promise<number>;
}

/** The package root (where package.json is), from here or from dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'intra-engine') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('intra-engine: cannot find the package root');
    dir = parent;
  }
}

let loaded: NativeAddon | undefined;


function addon(): NativeAddon {
  if (loaded) return loaded;
  const path = process.env.INTRA_ADDON ?? join(packageRoot(), 'build', 'Release', 'intra.node');
  // libgomp's threads spin after every parallel region by default, and on a machine with few
  // cores they took the cores from OpenBLAS's own threads: the same fp32 training step ran at
  // 69-80% of the ceiling from run to run, 85% with passive waiting, and `intra score` took
  // 42 s or 27 s (docs/performance.md: Threads). libgomp reads this when libtorch loads, so it is set before
  // the addon is; a caller's own setting stays.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  // OpenBLAS's threads, for their part, spin (sched_yield) for 2^28 cycles, ~0.1 s, after every
  // matrix product, taking a core from our kernels' OpenMP threads in between: fp32 training
  // ran at ~145 or ~170 GFLOP/s at random (70% or 82% of the ceiling), and at 172-178 in 6 of 6
  // runs with 2^16 cycles (~25 us, about what waking a sleeping thread costs). OpenBLAS reads
  // the exponent when it loads (with libtorch); a caller's own setting stays.
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '16';
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (cause) {
    const why = existsSync(path) ? `it failed to load: ${(cause as Error).message}` : 'it is not built';
    throw new IntraError(
      'INTRA_ADDON_MISSING',
      `The native addon ${path} cannot be used: ${why}.\n` +
        'Fixes: run ./setup.sh (installs libtorch-dev and libopenblas0-pthread, then builds), ' +
        'or `npm run build:native` if the system packages are there; set INTRA_ADDON to use another build.',
    );
  }
  return loaded;
}

/**
 * Runs a kernel implementation and the reference (float, double, bf16, fp16) on random inputs
 * on one device and reports their largest errors against the reference in float64 (CPU).
 *
 * @example const errors = await checkKernel('softmax_attention', [2, 3, 13, 8, 5], 1, { impl: 'cuda-emulated' });
 */
export function checkKernel(op: KernelOp, shape: number[], seed = 0, options: KernelCheckOptions = {}): Promise<Record<string, KernelErrors>> {
  checkShape(op, shape, kernelOps());
  const target = checkTarget(options);
  return withCallerStack(() => addon().checkKernel({ op, shape, seed, ...target }));
}

/**
 * The tolerance rules a kernel check applies (native/kernels/checks/harness.h): "" when `errors`
 * are within bounds, else what is broken, naming `output` and the precision.
 *
 * @example toleranceViolations('out', errors) // ''
 */
export function toleranceViolations(output: string, errors: Omit<KernelErrors, 'violations'>): string {
  return syncWithCallerStack(() => addon().toleranceViolations(output, errors));
}

/** Central differences in double against the kernel's gradient: the worst relative gap. */
export function gradcheckKernel(op: KernelOp, shape: number[], seed = 0, options: KernelCheckOptions = {}): Promise<number> {
  checkShape(op, shape, kernelOps());
  const target = checkTarget(options);
  return withCallerStack(() => addon().gradcheckKernel({ op, shape, seed, ...target }));
}

/**
 * Times one kernel (median of repeats after warm-up) and measures its peak tensor memory.
 *
 * @example await benchKernel({ op: 'linear_attention', impl: 'fused', pass: 'forward', shape: [64, 8, 49, 64, 64] });
 */
export function benchKernel(request: KernelBenchRequest): Promise<KernelBenchResult> {
  checkShape(request.op, request.shape, kernelOps());
  requireOneOf(request.impl, 'impl', ['fused', 'reference', 'cuda-emulated', 'sdpa'] as const);
  requireOneOf(request.pass, 'pass', ['forward', 'forward+backward'] as const);
  if (request.device !== undefined) requireOneOf(request.device, 'device', KERNEL_DEVICES);
  if (request.dtype !== undefined) requireOneOf(request.dtype, 'dtype', KERNEL_DTYPES);
  return withCallerStack(() => addon().benchKernel(request));
}

/** The machine's ceiling: GFLOP/s of an n x n matrix product through this libtorch, on a device. */
export function matmulCeiling(n = 2048, dtype: KernelDtype = 'float32', repeats = 5, threads = 0, device: KernelDevice = 'cpu'): Promise<number> {
  requireInteger(n, 'n');
  requireOneOf(dtype, 'dtype', KERNEL_DTYPES);
  requireOneOf(device, 'device', KERNEL_DEVICES);
  return withCallerStack(() => addon().matmulCeiling(n, dtype, repeats, threads, device));
}

/**
 * The model's full config (preset defaults filled in) and its parameter count.
 *
 * @example modelConfig({ preset: 'paper', attention: 'mfsa' }).parameters // 55551744
 */
export function modelConfig(input: ModelConfigInput): ModelConfig & { parameters: number } {
  checkModelInput(input);
  return syncWithCallerStack(() => addon().modelConfig(input));
}

/**
 * The engine's config tables: every field's name and type, and the training defaults. The one
 * description of the configs; TypeScript's types are tested against it.
 *
 * @example configFields().trainDefaults.validationWindowsPerImage // 256
 */
export function configFields(): ConfigFields {
  return addon().configFields();
}

/** What a benchmark record says of the machine, so that figures from two CPUs are never compared blind. */
export interface MachineLabel {
  /** the model string with the core generation and CPUID signature (capabilities().cpu.label) */
  cpu: string;
  cpu_features: string[];
  /** the instruction set our fused CPU kernels run with */
  kernel_isa: string;
  /** OpenBLAS's core type when pinned (these machines pin it), else "auto" */
  blas_coretype: string;
  /** how OpenMP's idle threads wait (passive unless the caller set it); absent in records written before it was set */
  omp_wait_policy?: string;
  /** OpenBLAS's spin before its threads sleep, as 2^N cycles (OPENBLAS_THREAD_TIMEOUT) */
  blas_thread_timeout?: string;
  /** what runs the matrix products per precision, with which instructions (capabilities().matrixProducts); absent in records written before it was added */
  matrix_products?: { fp32: string; bf16: string };
}

/** The machine label of benchmark records. @example machineLabel().cpu // 'AMD EPYC (Zen 5; family 26, model 2, stepping 1)' */
export function machineLabel(): MachineLabel {
  const caps = capabilities();
  return { cpu: caps.cpu.label, cpu_features: caps.cpu.features, kernel_isa: caps.fusedKernels.cpu, blas_coretype: process.env.OPENBLAS_CORETYPE ?? 'auto', omp_wait_policy: process.env.OMP_WAIT_POLICY, blas_thread_timeout: process.env.OPENBLAS_THREAD_TIMEOUT, matrix_products: caps.matrixProducts };
}

/**
 * What this build and machine offer: libtorch, BLAS, threads, bf16, CUDA.
 *
 * @example capabilities().bf16 // true on CPUs with avx512_bf16
 */
export function capabilities(threads = 0): Capabilities {
  requireInteger(threads, 'threads', 0);
  return syncWithCallerStack(() => addon().capabilities(threads));
}

/**
 * Upper-left patch (0-based) of the window that inpaints each patch of a grid row (eq. 4-5).
 *
 * @example Array.from(windowOrigins(9, 7)) // [0, 0, 0, 0, 1, 2, 2, 2, 2]
 */
/**
 * The training loss on given patches, computed as training computes it: L2 + alpha * GMS term +
 * beta * mean(1 - SSIM), the GMS term the paper's or the thesis's MSGMS by `train.gmsScales`.
 * `predicted` and `target` are (count, channels, patchSize, patchSize) in [0, 1]. For checks
 * of the loss against the publications' equations.
 *
 * @example patchLoss({ gmsScales: 3 }, a, b, { count: 1, channels: 1, patchSize: 16 }).gms
 */
export function patchLoss(
  train: Partial<TrainConfig>,
  predicted: Float32Array,
  target: Float32Array,
  shape: { count: number; channels: number; patchSize: number },
  implementation: 'fused' | 'reference' = 'fused',
): Omit<LossParts, 'windows' | 'seconds'> {
  requireInteger(shape.count, 'count');
  requireInteger(shape.channels, 'channels');
  requireInteger(shape.patchSize, 'patchSize');
  requireOneOf(implementation, 'implementation', ['fused', 'reference'] as const);
  return syncWithCallerStack(() => addon().patchLoss(train, predicted, target, shape.count, shape.channels, shape.patchSize, implementation));
}

/** Each term's difference map before the training statistics, (count, height, width) float32. */
export interface MapDifferences {
  /** 1 - GMS, filtered and over the scales as the map kind says */
  structure: Float32Array;
  /** |x - x^| through the same scales and filters */
  intensity: Float32Array;
}

/**
 * The anomaly map's differences of images and reconstructions of the caller's choosing,
 * computed as the engine computes them before the training images' statistics: `image` and
 * `reconstruction` are (count, height, width, channels) in [0, 1]. For checks of the map
 * against the method and of what each term sees.
 *
 * @example const { structure, intensity } = await mapDifferences(x, y, { count: 1, height: 64, width: 64, channels: 1 });
 */
export function mapDifferences(
  image: Float32Array,
  reconstruction: Float32Array,
  shape: { count: number; height: number; width: number; channels: number },
  options: { anomalyMap?: AnomalyMapKind; implementation?: 'fused' | 'reference' } = {},
): Promise<MapDifferences> {
  for (const key of ['count', 'height', 'width', 'channels'] as const) requireInteger(shape[key], key);
  const kind = requireOneOf(options.anomalyMap ?? 'paper', 'anomalyMap', ANOMALY_MAPS);
  const implementation = requireOneOf(options.implementation ?? 'fused', 'implementation', ['fused', 'reference'] as const);
  return withCallerStack(() => addon().mapDifferences(image, reconstruction, shape.count, shape.height, shape.width, shape.channels, kind, implementation));
}

/**
 * An image's local texture descriptors, measured at its own size and resized to `out`
 * (native/core/texture.h: per scale of 9, 33 and 65 pixels, the anisotropy and energy of
 * neighbour differences and the structure tensor's orientation, on the grey image over its
 * median): (descriptors, out.height, out.width). `pixels` is (height, width, channels) uint8.
 *
 * @example const d = await textureDescriptors(pixels, { height: 300, width: 240, channels: 1 }, { height: 144, width: 112 });
 */
export function textureDescriptors(
  pixels: Uint8Array,
  shape: { height: number; width: number; channels: number },
  out: { height: number; width: number },
): Promise<Float32Array> {
  for (const key of ['height', 'width', 'channels'] as const) requireInteger(shape[key], key);
  requireInteger(out.height, 'out.height');
  requireInteger(out.width, 'out.width');
  return withCallerStack(() => addon().textureDescriptors(pixels, shape.height, shape.width, shape.channels, out.height, out.width));
}

/**
 * The method's constants as the engine uses them: GMS's and SSIM's constants, the anomaly maps'
 * scales and filters, Adam's hyper-parameters. The tests hold them to their published values.
 *
 * @example methodConstants().paperBlurSigma // 2
 */
export function methodConstants(): MethodConstants {
  return addon().methodConstants();
}

/**
 * The engine's kernel families, in the registry's order (native/kernels/registry.h): what
 * EngineOptions.referenceFor, describe().families and the benches' ablations name.
 *
 * @example kernelFamilies().map((f) => f.name) // ['attention', 'filters', ...]
 */
export function kernelFamilies(): KernelFamilyDescription[] {
  families ??= addon().kernelFamilies();
  return families;
}
let families: KernelFamilyDescription[] | undefined;

/**
 * What a preset brings to training beside its geometry (native/core/preset_training.cpp, the
 * one home of the `cpu` preset): nothing for the presets that train by the recipe alone.
 *
 * @example presetTraining('cpu').minutes // 30
 */
export function presetTraining(preset: Preset): PresetTraining {
  return syncWithCallerStack(() => addon().presetTraining(preset));
}

/** Every op of every kernel family, in the registry's order, with what its checks cover. */
export function kernelOps(): KernelOpDescription[] {
  return kernelFamilies().flatMap((f) => f.ops);
}

export function windowOrigins(gridSide: number, windowSize: number): Int32Array {
  requireInteger(gridSide, 'gridSide');
  requireInteger(windowSize, 'windowSize');
  if (gridSide < windowSize) {
    invalidArgument(`a grid of at least the window size ${windowSize}`, 'gridSide', gridSide);
  }
  return syncWithCallerStack(() => addon().windowOrigins(gridSide, windowSize));
}

/**
 * Where windows land when the whole grid (gridRows x gridCols patches) undergoes symmetry t
 * (t % 4 turns by 90 degrees as torch.rot90, t >= 4 then flips the columns): the positions
 * training gives an augmented window, whose pixels turn with it. A grid that is not square
 * takes only t = 0, 2, 4, 6 (a quarter turn would leave it).
 *
 * @example turnedWindowOrigins(16, 16, 7, Int32Array.of(0), Int32Array.of(2), Int32Array.of(1)) // { rows: [7], cols: [0] }
 */
export function turnedWindowOrigins(gridRows: number, gridCols: number, windowSize: number, rows: Int32Array, cols: Int32Array, transforms: Int32Array): { rows: Int32Array; cols: Int32Array } {
  requireInteger(gridRows, 'gridRows');
  requireInteger(gridCols, 'gridCols');
  requireInteger(windowSize, 'windowSize');
  return syncWithCallerStack(() => addon().turnedWindowOrigins(gridRows, gridCols, windowSize, rows, cols, transforms));
}

/**
 * Bilinear resize of a float map (height, width), run off the event loop.
 *
 * @example const full = await resizeMap(map, { width: 256, height: 256 }, { width: 1024, height: 768 });
 */
export function resizeMap(map: Float32Array, size: { width: number; height: number }, to: { width: number; height: number }): Promise<Float32Array> {
  if (!(map instanceof Float32Array)) invalidArgument('a Float32Array', 'map', map);
  for (const [name, value] of [['size.width', size.width], ['size.height', size.height], ['to.width', to.width], ['to.height', to.height]] as const) {
    requireInteger(value, name);
  }
  if (map.length !== size.width * size.height) invalidArgument(`a map of ${size.width * size.height} values`, 'map', map);
  if (size.width === to.width && size.height === to.height) return Promise.resolve(map);
  return withCallerStack(() => addon().resizeMap(map, size.height, size.width, to.height, to.width));
}

/** A defect mask (1 = defect) with its connected regions: labels 1..count per pixel, 0 outside. */
export interface MaskRegions {
  mask: Uint8Array;
  labels: Int32Array;
  count: number;
}

/**
 * The connected regions (8-neighbourhood) of a binary mask (width × height, non-zero = defect),
 * numbered in the raster order of their first pixel; computed off the event loop.
 *
 * @example const { count } = await labelRegions(Uint8Array.of(1, 0, 0, 1), 2, 2); // 1: diagonal neighbours touch
 */
export async function labelRegions(mask: Uint8Array, width: number, height: number): Promise<MaskRegions> {
  if (!(mask instanceof Uint8Array)) invalidArgument('a Uint8Array', 'mask', mask);
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) invalidArgument('positive integer sizes', 'width and height', [width, height]);
  if (mask.length !== width * height) invalidArgument(`a mask of ${width * height} bytes`, 'mask', mask);
  const { labels, count } = await withCallerStack(() => addon().labelRegions(mask, width, height));
  return { mask, labels, count };
}

/** The pictures heatPictures() renders of a map. */
export type HeatPicture = 'grey' | 'heat' | 'overlay';
const HEAT_PICTURE_BITS: Record<HeatPicture, number> = { grey: 1, heat: 2, overlay: 4 };

/**
 * An anomaly map as 8-bit grey (values at or above `scale` saturate), as heat colours
 * (blue-cyan-yellow-red), or as heat colours (55%) over its image (45%): those `pictures` names,
 * computed off the event loop.
 *
 * @example const { grey, overlay } = await heatPictures(map, image.pixels, { width: 256, height: 256, channels: 3 }, 0.02, ['grey', 'overlay']);
 */
export function heatPictures<P extends HeatPicture>(
  map: Float32Array,
  image: Uint8Array,
  size: { width: number; height: number; channels: number },
  scale: number,
  pictures: readonly P[],
): Promise<Record<P, Uint8Array>> {
  if (!(map instanceof Float32Array)) invalidArgument('a Float32Array', 'map', map);
  if (!(image instanceof Uint8Array)) invalidArgument('a Uint8Array', 'image', image);
  if (map.length !== size.width * size.height) invalidArgument(`a map of ${size.width * size.height} values`, 'map', map);
  if (image.length !== map.length * size.channels) invalidArgument(`an image of ${map.length * size.channels} bytes`, 'image', image);
  if (!Number.isFinite(scale) || scale < 0) invalidArgument('a non-negative number', 'scale', scale);
  if (!Array.isArray(pictures) || pictures.length === 0) invalidArgument('one or more of grey, heat, overlay', 'pictures', pictures);
  const wanted = pictures.reduce((bits, p) => bits | HEAT_PICTURE_BITS[requireOneOf(p, 'pictures', ['grey', 'heat', 'overlay'] as const)], 0);
  return withCallerStack(() => addon().heatPictures(map, image, size.height, size.width, size.channels, scale, wanted)) as Promise<Record<P, Uint8Array>>;
}

/**
 * The addon's engine constructors for lib/engine.ts (the Engine class), so that this module
 * stays the only one that loads the addon.
 */
export const engineBindings = {
  create: (model: ModelConfigInput, train: Partial<TrainConfig>, options: EngineOptions): NativeEngine => new (addon().Engine)(model, train, options),
  load: (path: string, options: LoadOptions): Promise<NativeEngine> => addon().loadEngine(path, options),
};
