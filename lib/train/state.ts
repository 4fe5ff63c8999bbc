/**
 * What a model file's metadata holds about its training run: the one home of these types (the
 * model's shape and channels are not among them: the model config holds them).
 *
 * @example import type { TrainState } from './state.js';
 */
import type { LossParts, Preset } from '../native.js';
import type { Recipe } from './recipes.js';

export interface EpochRecord {
  epoch: number;
  train: LossParts;
  validation: LossParts;
  best: boolean;
  bestEpoch: number;
  bestLoss: number;
  seconds: number;
  windowsPerSecond: number;
  /** in a data-parallel group: what averaging the gradients cost rank 0 this epoch */
  allReduce?: AllReduceRecord;
}

/** One epoch's gradient all-reduce, as rank 0 saw it. */
export interface AllReduceRecord {
  procs: number;
  /** whether the sums were launched while the backward ran */
  overlap: boolean;
  /** gradient buckets, and the bytes each rank sends into their sums per step */
  buckets: number;
  bytesPerStep: number;
  /** ms per step spent after the backward waiting for the sums: the part the backward did not hide */
  waitMsPerStep: number;
  /** buckets launched from the backward's hooks, and the steps */
  launchedInBackward: number;
  steps: number;
}

export type StopReason = 'epochs' | 'patience' | 'minutes';

/** What the checkpoint's metadata holds about the run. */
export interface TrainState {
  state: 'training' | 'interrupted' | 'done';
  category: string;
  /** absent in models from before recipes: the paper's */
  recipe?: Recipe;
  /** the preset it was created with (two presets may share a geometry: small and cpu) */
  preset?: Preset;
  /** the pixel budget's side (the paper's image size); the shape and channels are the model config's */
  imageSize: number;
  validationFiles: string[];
  trainFiles: string[];
  epochs: number;
  patience: number;
  /** the training-time budget, if any */
  minutes?: number;
  /** seconds spent in epochs so far (training and validation), over all resumes */
  trainingSeconds?: number;
  /** why the last run stopped */
  stopped?: StopReason;
  windowsPerImage: number;
  epoch: number;  // last complete epoch (0 = none)
  bestEpoch: number;
  bestLoss: number | null;
  history: EpochRecord[];
  partial?: { step: number; sums: { loss: number; l2: number; gms: number; ssim: number; windows: number; seconds: number } };
  /** the threshold under the model's own map settings */
  threshold?: number;
  thresholdRule?: string;
  /** by mapSettingsName (infer/map-settings.ts): the threshold under every map setting, fitted on the same validation images */
  thresholds?: Record<string, number>;
  /** how `--image-size auto` chose the size: kept so that a resume continues the chosen run */
  imageSizeChoice?: ImageSizeChoice;
}

/** One size's trial run of `--image-size auto`, as it ended. */
export interface SizeTrial {
  size: number;
  epochs: number;
  seconds: number;
  /** the smoothed best validation loss over the compared epochs */
  loss: number;
}

/** The record of `--image-size auto`'s choice, stored in the chosen model. */
export interface ImageSizeChoice {
  chosen: number;
  /** epochs compared: the first epochs that every trial reached */
  comparedEpochs: number;
  trialEpochs: number;
  /** each trial's share of the training-time budget, when there is one */
  trialMinutes?: number;
  trials: SizeTrial[];
}
