/**
 * Training recipes: the defaults of one published set-up, each overridable by its own option.
 * `paper` is Pirnay & Chai's InTra; `thesis` is Versteeg's set-up for comparing MSA with linear
 * attention (thesis §4.2-4.5, Table 4.1): MSA or linear attention (no MFSA), no long residuals,
 * Adam at 1e-3, batch 256, early stopping after 150 epochs of at most 20,000, no augmentation,
 * the multi-scale GMS loss (RIAD's, which the thesis says it used), the thesis's anomaly map
 * (eqs. 4.12-4.14) and its image sizes (Table 5.1).
 *
 * @example recipeDefaults('thesis').learningRate // 1e-3
 */
import { IntraError } from '../errors.js';
import { presetTraining as nativePresetTraining, type AnomalyMapKind, type AttentionKind, type Precision, type Preset, type PresetTraining } from '../native.js';

export const RECIPES = ['paper', 'thesis'] as const;
export type Recipe = (typeof RECIPES)[number];

export interface RecipeDefaults {
  /** undefined: the preset's */
  attention?: AttentionKind;
  /** attention kinds the recipe allows */
  attentions: readonly AttentionKind[];
  longResiduals: boolean;
  learningRate: number;
  batchSize: number;
  epochs: number;
  patience: number;
  augment: boolean;
  /** 1: mean(1 - GMS) on the patch; 3: MSGMS over the patch and two pooled scales */
  gmsScales: number;
  anomalyMap: AnomalyMapKind;
  /** the image size per MVTec AD category the recipe's publication used */
  imageSizes: Readonly<Record<string, number>>;
}

// Table 1 of the paper; the thesis's Table 5.1 lists the same sizes but for pill (320, not 512).
const PAPER_SIZES: Readonly<Record<string, number>> = {
  carpet: 512, leather: 512, tile: 512, wood: 512, pill: 512, zipper: 512,
  capsule: 320, screw: 320,
  bottle: 256, cable: 256, grid: 256, hazelnut: 256, metal_nut: 256, toothbrush: 256, transistor: 256,
};
const THESIS_SIZES: Readonly<Record<string, number>> = { ...PAPER_SIZES, pill: 320 };

const DEFAULTS: Record<Recipe, RecipeDefaults> = {
  // augment off: measured on magnetic tile (docs/real-data.md), augmentation cost accuracy at the same budget
  paper: { attentions: ['mfsa', 'msa', 'linear'], longResiduals: true, learningRate: 1e-4, batchSize: 256, epochs: 1000, patience: 50, augment: false, gmsScales: 1, anomalyMap: 'paper', imageSizes: PAPER_SIZES },
  thesis: { attention: 'msa', attentions: ['msa', 'linear'], longResiduals: false, learningRate: 1e-3, batchSize: 256, epochs: 20_000, patience: 150, augment: false, gmsScales: 3, anomalyMap: 'thesis', imageSizes: THESIS_SIZES },
};

export function recipeDefaults(recipe: Recipe = 'paper'): RecipeDefaults {
  const defaults = DEFAULTS[recipe];
  if (!defaults) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected one of ${RECIPES.join(', ')} for recipe but received '${recipe}'`);
  return defaults;
}

/** Refuses an attention kind the recipe does not use (the thesis compares MSA with linear only). */
export function checkRecipeAttention(recipe: Recipe, attention: AttentionKind | undefined): void {
  const { attentions } = recipeDefaults(recipe);
  if (attention !== undefined && !attentions.includes(attention)) {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected ${attentions.join(' or ')} attention with the ${recipe} recipe but received '${attention}'`);
  }
}

/** What a preset brings to training beside its geometry (the recipe and the flags go on top): the engine's (native/core/preset_training.cpp). */
export function presetTraining(preset: Preset): PresetTraining {
  return nativePresetTraining(preset);
}

/** The training precision a preset asks for on this machine. */
export function presetPrecision(training: PresetTraining, machineHasBf16: boolean): Precision | undefined {
  return training.trainPrecision === 'bf16-if-available' ? (machineHasBf16 ? 'bf16' : 'fp32') : undefined;
}
