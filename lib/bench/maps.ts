/**
 * The map settings compared on one trained model: every combination of terms (gms,
 * gms+intensity, and either with the texture term where the model holds its statistics: with z
 * alone), normalisation (mean, z) and image score (max, top-k) on a category's test set, image
 * and pixel AUROC and AUPRO overall and per defect type. One reconstruction per image
 * serves all settings (Engine.anomalyVariants), so the settings differ in nothing but the map.
 *
 * @example const records = await compareMapSettings({ model: 'tile.intra', category: 'data/tile' });
 */
import { basename } from 'node:path';

import { readCategory } from '../data/dataset.js';
import { loadImage, modelShape, packImages } from '../data/images.js';
import { Engine } from '../engine.js';
import { IntraError } from '../errors.js';
import { DefectPixelMetrics, maskRegionsOf, metricsOf, presetOf, type Scored } from '../eval/evaluate.js';
import { percent } from '../format.js';
import { allMapSettings, mapSettingsName, usesTexture } from '../infer/map-settings.js';
import { machineLabel, resizeMap, type MachineLabel, type MapConfig } from '../native.js';

export interface MapFigures {
  image_auroc: number | null;
  pixel_auroc: number | null;
  aupro: number | null;
}

export interface MapsRecord extends MapFigures {
  bench: 'maps';
  category: string;
  /** the model file's name */
  model: string;
  preset: string | null;
  image_width: number;
  image_height: number;
  /** the model's own training epochs */
  epochs: number | null;
  settings: string;
  map: MapConfig;
  /** per defect type (its images and the defect-free ones) */
  by_defect: Record<string, MapFigures>;
  images: number;
  threads: number;
  machine: MachineLabel;
}

export interface CompareMapsOptions {
  model: string;
  category: string;
  /** the top-k share of the topk settings (default: the model's own) */
  topkArea?: number;
  threads?: number;
  /** images per engine call */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Image and pixel AUROC and AUPRO, as intra eval computes them. */
function figures(scored: readonly Scored[], pixels: Parameters<typeof metricsOf>[1]): MapFigures {
  const { image_auroc, pixel_auroc, aupro } = metricsOf(scored, pixels);
  return { image_auroc, pixel_auroc, aupro };
}

export async function compareMapSettings(options: CompareMapsOptions): Promise<MapsRecord[]> {
  const category = await readCategory(options.category, { requireTest: true });
  const engine = await Engine.load(options.model, { threads: options.threads, purpose: 'scoring' });
  try {
    const described = engine.describe();
    if (!described.hasNormalStatistics || !described.hasSpreadStatistics) {
      throw new IntraError('INTRA_INVALID_STATE', `Model ${options.model} holds no per-pixel spreads (fitted before they existed, or unfinished): run intra refit ${options.model} first`);
    }
    if (options.topkArea !== undefined) engine.setMapConfig({ topkArea: options.topkArea });
    // The texture term's settings too where the model holds its statistics.
    const settings = allMapSettings(engine.describe().map.topkArea, { texture: described.hasTextureStatistics });
    const texture = settings.some(usesTexture);
    const model = described.model, size = modelShape(model), channels = model.channels as 1 | 3, window = model.windowSize * model.patchSize;
    const defects = [...new Set(category.test.map((t) => t.defect))].filter((d) => d !== 'good');
    const pixels = settings.map(() => new DefectPixelMetrics(defects));
    const scored = settings.map(() => [] as Scored[]);
    const batch = options.batch ?? 8;
    for (let from = 0; from < category.test.length; from += batch) {
      const items = category.test.slice(from, from + batch);
      const images = await Promise.all(items.map((item) => loadImage(item.file, { size, channels, window, texture })));
      const variants = await engine.anomalyVariants(packImages(images, size, channels), settings);
      for (let k = 0; k < items.length; k++) {
        const item = items[k]!, to = { width: images[k]!.originalWidth, height: images[k]!.originalHeight };
        const regions = await maskRegionsOf(item, to);
        const area = size.width * size.height;
        for (let v = 0; v < settings.length; v++) {
          scored[v]!.push({ item, score: variants[v]!.scores[k]! });
          pixels[v]!.add(item.defect, await resizeMap(variants[v]!.maps.subarray(k * area, (k + 1) * area), size, to), regions);
        }
      }
      options.onProgress?.(Math.min(category.test.length, from + batch), category.test.length);
    }
    const state = engine.metadata<{ epoch?: number; preset?: string }>();
    return settings.map((map, v) => {
      const byDefect: Record<string, MapFigures> = {};
      for (const d of defects) byDefect[d] = figures(scored[v]!.filter((s) => s.item.defect === d || s.item.defect === 'good'), pixels[v]!.byDefect.get(d));
      return {
        bench: 'maps' as const,
        category: category.name,
        model: basename(options.model),
        preset: state.preset ?? presetOf(model),
        image_width: size.width,
        image_height: size.height,
        epochs: state.epoch ?? null,
        settings: mapSettingsName(map),
        map,
        ...figures(scored[v]!, pixels[v]!.overall),
        by_defect: byDefect,
        images: category.test.length,
        threads: options.threads ?? 0,
        machine: machineLabel(),
      };
    });
  } finally {
    engine.dispose();
  }
}

/** One row per setting: overall image / pixel AUROC and AUPRO, then image / pixel AUROC per defect type. */
export function mapsTable(records: readonly MapsRecord[]): string[] {
  const defects = Object.keys(records[0]?.by_defect ?? {});
  const header = ['map settings', 'image AUROC', 'pixel AUROC', 'AUPRO@0.3', ...defects.map((d) => `${d} (image / pixel)`)];
  const rows = records.map((r) => [r.settings, percent(r.image_auroc), percent(r.pixel_auroc), percent(r.aupro),
    ...defects.map((d) => `${percent(r.by_defect[d]?.image_auroc ?? null)} / ${percent(r.by_defect[d]?.pixel_auroc ?? null)}`)]);
  return [
    `| ${header.join(' | ')} |`,
    `| --- | ${header.slice(1).map(() => '---:').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}
