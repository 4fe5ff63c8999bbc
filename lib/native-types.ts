/**
 * The names and types of the engine's API: what crosses to the addon and back. No code runs
 * here; lib/native.ts (the only module that loads the addon) re-exports all of it.
 *
 * @example import type { ModelConfig } from './native-types.js';
 */
export const ATTENTION_KINDS = ['msa', 'mfsa', 'linear'] as const;
export const PRESETS = ['paper', 'small', 'cpu', 'tiny'] as const;
export const DEVICES = ['cpu', 'cuda', 'auto'] as const;
export const PRECISIONS = ['fp32', 'bf16'] as const;
export const KERNELS = ['auto', 'fused', 'reference', 'cuda-emulated'] as const;
export const LOAD_PURPOSES = ['training', 'scoring'] as const;
/** The anomaly maps a model can compute: the paper's (eqs. 6-7), the thesis's (eqs. 4.12-4.14). */
export const ANOMALY_MAPS = ['paper', 'thesis'] as const;
/**
 * The anomaly map's terms: 1 - GMS alone (the paper's), with the intensity difference |x - x^|
 * beside it, and either with the texture term (each image's local texture at its own size
 * against the training images'; standardised, so only with normalise z).
 */
export const MAP_TERMS = ['gms', 'gms+intensity', 'gms+texture', 'gms+intensity+texture'] as const;
/** Texture descriptors per pixel (native/core/texture.h: eight per scale, three scales). */
export const TEXTURE_DESCRIPTORS = 24;
/** Against the training images: minus their mean, squared (eq. 7), or over their per-pixel spread too (a standardised deviation, squared). */
export const MAP_NORMALISATIONS = ['mean', 'z'] as const;
/** The image's score: the map's maximum (the paper's), or the mean of its top `topkArea` share. */
export const IMAGE_SCORE_RULES = ['max', 'topk'] as const;
/** Where kernels run in the harness: the CPU, or a CUDA device. */
export const KERNEL_DEVICES = ['cpu', 'cuda'] as const;
/** The kernel families an engine switches as one (EngineOptions.referenceFor). */
export type AttentionKind = (typeof ATTENTION_KINDS)[number];
export type Preset = (typeof PRESETS)[number];
export type Device = (typeof DEVICES)[number];
export type Precision = (typeof PRECISIONS)[number];
export type Kernels = (typeof KERNELS)[number];
export type LoadPurpose = (typeof LOAD_PURPOSES)[number];
export type AnomalyMapKind = (typeof ANOMALY_MAPS)[number];
export type MapTerms = (typeof MAP_TERMS)[number];
export type MapNormalisation = (typeof MAP_NORMALISATIONS)[number];
export type ImageScoreRule = (typeof IMAGE_SCORE_RULES)[number];
/** A kernel op's name, as the engine's registry lists them (kernelOps(): softmax_attention, gms, ...). */
export type KernelOp = string;
/** A kernel family's name, as the engine's registry lists them (kernelFamilies(): attention, filters, ...). */
export type KernelFamily = string;
/** One op of the kernel registry, and what its checks cover. */
export interface KernelOpDescription {
  name: KernelOp;
  /** what a shape holds, e.g. "[B, heads, S, dqk, dv]" */
  shape: string;
  /** the lengths a shape may have */
  ranks: number[];
  /** whether it has a backward (a gradient to check) */
  backward: boolean;
  checkShapes: number[][];
  gradcheckShapes: number[][];
}
/** One family of the engine's kernel registry (native/kernels/registry.h). */
export interface KernelFamilyDescription {
  name: KernelFamily;
  description: string;
  ops: KernelOpDescription[];
}
export type KernelDevice = (typeof KERNEL_DEVICES)[number];
/** The implementations a kernel check can put under test. */
export type CheckedImplementation = 'fused' | 'cuda-emulated';

/** The model's shape. Fields left out come from the preset (default `paper`). */
export interface ModelConfigInput {
  preset?: Preset;
  patchSize?: number;
  windowSize?: number;
  channels?: number;
  /** a square's side; or imageHeight and imageWidth */
  imageSize?: number;
  imageHeight?: number;
  imageWidth?: number;
  dim?: number;
  depth?: number;
  heads?: number;
  mlpRatio?: number;
  attention?: AttentionKind;
  longResiduals?: boolean;
}
export interface ModelConfig {
  patchSize: number;
  windowSize: number;
  channels: number;
  imageHeight: number;
  imageWidth: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  attention: AttentionKind;
  longResiduals: boolean;
}
export interface TrainConfig {
  batchSize: number;
  learningRate: number;
  alpha: number;
  beta: number;
  /** 1: the paper's GMS loss; 3: the thesis's multi-scale GMS (RIAD's, which the thesis says it used) */
  gmsScales: number;
  augment: boolean;
  seed: number;
  validationWindowsPerImage: number;
  trainPrecision: Precision;
  /** the anomaly map: the paper's (eqs. 6-7) or the thesis's (eqs. 4.12-4.14) */
  anomalyMap: AnomalyMapKind;
}
/**
 * How a model turns its difference maps into the anomaly map and the image score: kept in the
 * model file (a file without it has the paper's) and replaceable when scoring (Engine.setMapConfig).
 */
export interface MapConfig {
  map: MapTerms;
  normalise: MapNormalisation;
  imageScore: ImageScoreRule;
  /** with imageScore topk: the share of the map's pixels averaged, in (0, 1] */
  topkArea: number;
}
/**
 * One rank of a data-parallel training (c10d: a TCP store at masterAddr:port for the
 * rendezvous, Gloo for the collectives), as PyTorch's launcher names it: RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT.
 */
export interface GroupConfig {
  rank: number;
  worldSize: number;
  masterAddr: string;
  port: number;
  /** how long a rank waits for the others, in the rendezvous and in each collective (ms) */
  timeoutMs: number;
  /** gradients go out in buckets of at most this many bytes (default 25 MiB, as DistributedDataParallel's; the first bucket holds at most 1 MiB) */
  bucketBytes?: number;
  /** launch each bucket's sum while the backward still runs (default), or all after it (false) */
  overlap?: boolean;
}
/** One field of a config table, as the engine describes it (native/core/config_fields.h). */
export interface ConfigField {
  name: string;
  type: 'integer' | 'number' | 'boolean' | 'choice';
}
export interface ConfigFields {
  model: ConfigField[];
  train: ConfigField[];
  /** the engine's training defaults (what a field left out gets) */
  trainDefaults: TrainConfig;
  map: ConfigField[];
  /** the paper's map settings, what a model without any has */
  mapDefaults: MapConfig;
}
export interface EngineOptions {
  device?: Device;
  /** Intra-op threads; 0 or absent = all cores. */
  threads?: number;
  /** Inference precision. */
  precision?: Precision;
  /** Windows per forward pass at inference. */
  inferenceBatch?: number;
  /**
   * `auto` (default): our fused kernels where this build has them for the device, else the
   * ATen reference; `cuda-emulated` runs the CUDA kernels' source on CPU threads (slow: for tests).
   */
  kernels?: Kernels;
  /**
   * Families kept on their reference while the others run `kernels`: what one family's kernels
   * take off a whole run (`intra bench score|train --ablate`). Default none.
   */
  referenceFor?: KernelFamily[];
}
export interface LoadOptions extends EngineOptions {
  /**
   * `training` (default): everything the file holds, to go on training. `scoring`: the
   * weights, statistics and configs only; the optimiser state and the best epoch's copy
   * (three quarters of a trained model's file) are skipped unread, and the engine refuses
   * to train or save.
   */
  purpose?: LoadPurpose;
}
export interface Capabilities {
  libtorch: string;
  blas: string;
  parallel: string;
  threads: number;
  bf16: boolean;
  cuda: { built: boolean; available: boolean };
  defaultDevice: 'cpu' | 'cuda';
  /**
   * Which fused kernels this build has, per device: the CPU kernel set (avx512_bf16, i.e.
   * AVX-512 with softmax attention on bf16 dot products; avx512; avx2; generic), and the CUDA
   * targets (e.g. "sm_75+sm_80+sm_86+sm_89+sm_90+compute_90") or null when none are built.
   */
  fusedKernels: { cpu: string; cuda: string | null };
  /**
   * The CPU: its model string, its CPUID signature and the core generation that names (null
   * where unknown), `label` the three together (what records carry: a bare "AMD EPYC" can be a
   * Zen 4 or a Zen 5, whose bf16 ceilings differ twofold), and its flags among avx2, fma,
   * avx512*, amx_*.
   */
  cpu: { model: string; label: string; core: string | null; signature: { family: number; model: number; stepping: number }; features: string[] };
  /**
   * What runs the model's matrix products, with which instructions: fp32 through the BLAS
   * loaded ("openblas Zen", OpenBLAS's core name), bf16 through oneDNN ("onednn avx512_core_bf16",
   * "onednn avx512_core_amx" on AMX CPUs).
   */
  matrixProducts: { fp32: string; bf16: string };
  /** what data-parallel training (GroupConfig) runs its collectives on in this build: gloo, on CPU engines; null where it was built without Gloo's headers */
  dataParallel: 'gloo' | null;
}
export interface LossParts {
  loss: number;
  l2: number;
  gms: number;
  ssim: number;
  windows: number;
  seconds: number;
}
/** Images as uint8, (count, height, width, channels) interleaved. */
export interface ImageSet {
  data: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** each image's texture descriptors at this size, (count, TEXTURE_DESCRIPTORS, height, width): what the texture term needs */
  texture?: Float32Array;
}
export interface AnomalyMaps {
  /** (count, height, width) float32. */
  maps: Float32Array;
  /** (count) float32: each map's maximum, or its top-k mean (MapConfig.imageScore). */
  scores: Float32Array;
  /** (count, height, width, channels) in [0, 1], when asked for. */
  reconstruction?: Float32Array;
}
export interface EngineDescription {
  model: ModelConfig;
  train: TrainConfig;
  parameters: number;
  steps: number;
  metadata: string;
  hasNormalStatistics: boolean;
  /** per-pixel spreads and the intensity term's statistics, which every map but the paper's needs (absent from files fitted before they existed) */
  hasSpreadStatistics: boolean;
  /** the texture term's statistics over the current descriptors (absent from files fitted before the term or with another descriptor set) */
  hasTextureStatistics: boolean;
  /** the map settings calls use */
  map: MapConfig;
  /** this engine's rank in its data-parallel group (0 of 1 when training alone) */
  group: {
    rank: number;
    worldSize: number;
    overlap: boolean;
    bucketBytes: number;
    /** the gradient buckets (laid out by the first step in a group) and the bytes each rank sends into their sums per step */
    buckets: number;
    bytesPerStep: number;
    /** steps whose gradients were averaged, buckets launched from the backward's hooks, and ms waited for the sums after it (totals since joining) */
    reducedSteps: number;
    launchedInBackward: number;
    waitMs: number;
  };
  /** what it was loaded for (Engine.load's purpose); `training` for an engine created anew */
  purpose: LoadPurpose;
  /** windows per forward pass at inference */
  inferenceBatch: number;
  device: string;
  deviceNote: string;
  kernels: 'fused' | 'reference' | 'cuda-emulated';
  /**
   * what each kernel family runs (kernelFamilies()): `kernels` where the family's table has an
   * entry for this device and referenceFor does not name it, else `reference` (Adam: libtorch's
   * own step; layer norm, bias + GELU, bias adds: ATen's composites); weights: `fused` where bf16
   * training's products read the working copies the fused Adam rewrites
   */
  families: Record<KernelFamily, 'fused' | 'reference' | 'cuda-emulated'>;
}
/** One timed phase of an engine call; startNs is on process.hrtime's clock (CLOCK_MONOTONIC). */
export interface ProfileEvent {
  name: string;
  startNs: number;
  durationNs: number;
  /** nesting depth within the engine call (0 = outermost) */
  depth: number;
  /** who timed it: JavaScript phases are marked, the engine's are not */
  source?: 'js';
}
/** One ATen op, autograd node ("...Backward0") or kernel of ours ("intra::..."), over every call in the profiled engine calls. */
export interface OpProfile {
  name: string;
  calls: number;
  /** time in the op less that of the ops nested in it */
  selfNs: number;
  totalNs: number;
}
/** Largest absolute errors against a float64 reference, per output ("out") and gradient ("grad0"...). */
export interface KernelErrors {
  fused32: number;
  reference32: number;
  fused64: number;
  fusedBf16: number;
  referenceBf16: number;
  fusedF16: number;
  referenceF16: number;
  scale: number;
  /** the tolerance rules this output breaks (native/kernels/checks/harness.h), "" when none */
  violations: string;
}
/** Where and what a kernel check runs: the device and the implementation under test. */
/** The method's constants as the engine uses them (methodConstants()). */
export interface MethodConstants {
  gmsConstant: number;
  ssimC1: number;
  ssimC2: number;
  ssimWindow: number;
  ssimSigma: number;
  paperMapScales: number[];
  paperKernelsAt512: number[];
  paperBlurSigma: number;
  thesisMapScales: number[];
  thesisMeanFilter: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEps: number;
  adamWeightDecay: number;
}
export interface KernelCheckOptions {
  device?: KernelDevice;
  impl?: CheckedImplementation;
  /**
   * a deliberately wrong kernel put in the family's table for this check (the standing mutation
   * test: the check must fail on it): `output-scale` (attention's output off by one part in
   * 1024), `gradient-term` (GMS's backward without its second image's gradient; layer norm's
   * without its bias gradient)
   */
  fault?: KernelFault;
}
export const KERNEL_FAULTS = ['output-scale', 'gradient-term'] as const;
export type KernelFault = (typeof KERNEL_FAULTS)[number];
export interface KernelBenchRequest {
  op: KernelOp;
  /** sdpa: libtorch 2.x's at::scaled_dot_product_attention (softmax attention; INTRA_UNSUPPORTED on 1.x) */
  impl: 'fused' | 'reference' | 'cuda-emulated' | 'sdpa';
  device?: KernelDevice;
  pass: 'forward' | 'forward+backward';
  /** attention: [B, heads, S, dqk, dv]; filters: [B, C, H, W] (+ kernel for blur/mean_filter) */
  shape: number[];
  warmup?: number;
  repeats?: number;
  dtype?: KernelDtype;
  threads?: number;
}
export const KERNEL_DTYPES = ['float32', 'bfloat16', 'float16'] as const;
export type KernelDtype = (typeof KERNEL_DTYPES)[number];
export interface KernelBenchResult {
  ms: number;
  minMs: number;
  flops: number;
  bytes: number;
  /** tensor bytes alive at the peak of a run above those before it (on a GPU, the CUDA caching allocator's peak); -1 when not measured */
  peakBytes: number;
}
/** The addon's engine object (native/addon/engine_wrap.cpp). */
export interface NativeEngine {
  setTrainingImages(data: Uint8Array, n: number, h: number, w: number, c: number): Promise<void>;
  setValidationImages(data: Uint8Array, n: number, h: number, w: number, c: number, windowsPerImage?: number, windowSeed?: number): Promise<void>;
  trainSteps(steps: number): Promise<LossParts>;
  validate(): Promise<LossParts>;
  reconstruct(data: Uint8Array, n: number, h: number, w: number, c: number): Promise<Float32Array>;
  /** with `configs`: scores (V, count) and maps (V, count, H, W), one set per config, from one reconstruction */
  anomalyMaps(data: Uint8Array, n: number, h: number, w: number, c: number, withReconstruction: boolean, withMaps?: boolean, configs?: Partial<MapConfig>[], texture?: Float32Array): Promise<AnomalyMaps>;
  addTextureSamples(descriptors: Float32Array, count: number): Promise<void>;
  fitTextureStatistics(): Promise<void>;
  /** (V, count) with `configs`, else (count) under the engine's own settings */
  validationScores(configs?: Partial<MapConfig>[]): Promise<Float32Array>;
  fitNormalStatistics(): Promise<void>;
  setMapConfig(config: Partial<MapConfig>): void;
  joinGroup(config: GroupConfig): Promise<void>;
  groupAverage(values: Float64Array): Promise<Float64Array>;
  keepBest(): Promise<void>;
  restoreBest(): Promise<void>;
  save(path: string, metadata: string): Promise<void>;
  describe(): EngineDescription;
  setProfiling(on: boolean, ops?: boolean): void;
  takeProfile(): ProfileEvent[];
  takeOpProfile(): OpProfile[];
  dispose(): void;
}
/** What a preset brings to training beside its geometry (presetTraining()). */
export interface PresetTraining {
  batchSize?: number;
  learningRate?: number;
  windowsPerImage?: number;
  /** bf16 matrix products where the machine has them */
  trainPrecision?: 'bf16-if-available';
  /** a training-time budget */
  minutes?: number;
  /** the map settings its models keep (absent: the paper's) */
  map?: MapConfig;
}
