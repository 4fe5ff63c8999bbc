/**
 * The map settings of a scoring run (MapConfig): their names in reports and thresholds, every
 * combination a model keeps a threshold for, and the threshold that goes with a setting.
 *
 * @example mapSettingsName({ map: 'gms', normalise: 'z', imageScore: 'topk', topkArea: 0.01 }) // 'gms, z, top 1%'
 */
import type { Engine } from '../engine.js';
import { IntraError } from '../errors.js';
import { IMAGE_SCORE_RULES, MAP_NORMALISATIONS, MAP_TERMS, type MapConfig } from '../native.js';

/** The paper's settings: what a model file without any has. */
export const PAPER_MAP: MapConfig = { map: 'gms', normalise: 'mean', imageScore: 'max', topkArea: 0.01 };

/** A setting as one short text: the key of a model's thresholds and the label in reports. */
export function mapSettingsName(config: MapConfig): string {
  const score = config.imageScore === 'topk' ? `top ${+(config.topkArea * 100).toPrecision(6)}%` : 'max';
  return `${config.map}, ${config.normalise}, ${score}`;
}

/** Whether a setting's map has the texture term (which needs each image's texture descriptors). */
export function usesTexture(config: Pick<MapConfig, 'map'>): boolean {
  return config.map.endsWith('+texture');
}

/**
 * Every combination of terms, normalisation and image score, at one top-k share; the texture
 * term's (standardised, so with z alone) when `texture` says the model holds its statistics.
 */
export function allMapSettings(topkArea: number, options: { texture?: boolean } = {}): MapConfig[] {
  return MAP_TERMS.filter((map) => options.texture || !usesTexture({ map })).flatMap((map) =>
    MAP_NORMALISATIONS.filter((normalise) => normalise === 'z' || !usesTexture({ map })).flatMap((normalise) =>
      IMAGE_SCORE_RULES.map((imageScore) => ({ map, normalise, imageScore, topkArea }))));
}

/** What a trained model's metadata holds of its thresholds. */
export interface ModelThresholds {
  threshold?: number;
  /** by mapSettingsName: the threshold under each setting (models fitted before the settings existed have none) */
  thresholds?: Record<string, number>;
}

/**
 * The model's threshold under `config`: the one fitted for that setting, or the model's single
 * threshold when `config` is the model's own setting; undefined when it holds none for it.
 */
export function modelThresholdUnder(state: ModelThresholds, config: MapConfig, own: MapConfig): number | undefined {
  const fitted = state.thresholds?.[mapSettingsName(config)];
  if (fitted !== undefined) return fitted;
  return mapSettingsName(config) === mapSettingsName(own) ? state.threshold : undefined;
}

/** Parses `--topk-area`: a share in (0, 1], or a percentage such as "1%". */
export function parseTopkArea(value: string | number): number {
  const text = String(value).trim();
  const share = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
  if (!(share > 0 && share <= 1)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a share in (0, 1] or a percentage such as 1% for --topk-area but received '${text}'`);
  return share;
}

/**
 * Scores on `engine` under `settings` (over the model's own; none given: the model's own) from
 * now on, and the model's threshold under them. Settings that need statistics an older model
 * file lacks are refused here, before any image is scored, naming the file and the remedy.
 */
export function useMapSettings(engine: Engine, settings: Partial<MapConfig> | undefined, model: string): { map: MapConfig; own: MapConfig; threshold: number | undefined } {
  const own = engine.describe().map;
  const map = { ...own, ...settings };
  if ((map.map !== 'gms' || map.normalise !== 'mean') && !engine.describe().hasSpreadStatistics) {
    throw new IntraError('INTRA_INVALID_STATE', `Model ${model} was fitted before per-pixel spreads and the intensity term existed, which "${mapSettingsName(map)}" needs: run intra refit ${model} to fit them`);
  }
  if (usesTexture(map) && !engine.describe().hasTextureStatistics) {
    throw new IntraError('INTRA_INVALID_STATE', `Model ${model} holds no statistics of the texture descriptors this engine measures (it was fitted before the texture term, or with another set of descriptors), which "${mapSettingsName(map)}" needs: run intra refit ${model} to fit them`);
  }
  engine.setMapConfig(map);
  return { map, own, threshold: modelThresholdUnder(engine.metadata<ModelThresholds>(), map, own) };
}
