/**
 * Evaluates a model on a category's test set: image AUROC, pixel AUROC (maps at the masks'
 * original resolution), AUPRO up to FPR 0.3 and image F1-max, overall and per defect type,
 * with their curves; writes report.json, report.md, report.html (one self-contained page:
 * charts, per-defect table, labelled gallery, training curves) and the gallery's panels.
 *
 * @example const report = await evaluateCategory({ model: 'bottle.intra', category: 'data/bottle', outDir: 'eval/bottle' });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { readCategory, type TestItem } from '../data/dataset.js';
import { percent } from '../format.js';
import { loadMask, modelShape } from '../data/images.js';
import { IntraError } from '../errors.js';
import { labelRegions, machineLabel, modelConfig, PRESETS, resizeMap, type Device, type MapConfig, type MaskRegions, type ModelConfig, type Precision, type Preset } from '../native.js';
import { Engine } from '../engine.js';
import { mapSettingsName, useMapSettings } from '../infer/map-settings.js';
import { scoreImages, untimed, type PhaseTimer } from '../infer/score.js';
import type { TrainState } from '../train/train.js';
import type { HistogramBin } from './charts.js';
import { buildGallery, GallerySelection } from './gallery.js';
import { f1Max, PixelMetrics, rocAuc, rocCurve } from './metrics.js';
import type { Metrics, Report } from './report.js';
import { writeReportHtml } from './report-html.js';

export type { Metrics, Report } from './report.js';

export interface EvaluateOptions {
  model: string;
  category: string;
  outDir: string;
  threads?: number;
  device?: Device;
  precision?: Precision;
  /** windows per forward pass (the engine's default when absent) */
  inferenceBatch?: number;
  /** images per engine call */
  batch?: number;
  /** gallery pictures per group (highest-scoring defect-free images, lowest-scoring defective images, highest-scoring defective images) */
  panels?: number;
  /** the profiler's phase timer (setup, the scoring phases, gallery, metrics, report) */
  timer?: PhaseTimer;
  /** an engine already holding `model` (the profiler's, recording its phases); not disposed here */
  engine?: Engine;
  /** map settings over the model's own (left out: the model's own) */
  map?: Partial<MapConfig>;
}

export interface Scored {
  item: TestItem;
  score: number;
}

/**
 * Pixel metrics overall and per defect type (that type's images with the defect-free ones):
 * a defect-free image's map is one array shared by the overall and every type's metrics.
 */
export class DefectPixelMetrics {
  readonly overall = new PixelMetrics();
  readonly byDefect: Map<string, PixelMetrics>;

  constructor(defects: readonly string[]) {
    this.byDefect = new Map(defects.map((d) => [d, new PixelMetrics()]));
  }

  add(defect: string, map: Float32Array, regions: MaskRegions | undefined): void {
    this.overall.add(map, regions, { shared: true });
    if (defect === 'good') for (const m of this.byDefect.values()) m.add(map, undefined, { shared: true });
    else this.byDefect.get(defect)!.add(map, regions);
  }
}

/** The regions of a test image's mask at the image's own size, labelled once for every metric; undefined for a defect-free image. */
export async function maskRegionsOf(item: TestItem, size: { width: number; height: number }): Promise<MaskRegions | undefined> {
  return item.mask ? labelRegions((await loadMask(item.mask, { ...size, image: item.file })).mask, size.width, size.height) : undefined;
}

export function metricsOf(scored: readonly Scored[], pixels: PixelMetrics | undefined): Metrics {
  const scores = scored.map((s) => s.score), labels = scored.map((s) => (s.item.defect === 'good' ? 0 : 1));
  const f1 = f1Max(scores, labels);
  return {
    image_auroc: rocAuc(scores, labels),
    pixel_auroc: pixels?.rocAuc() ?? null,
    aupro: pixels?.aupro(0.3) ?? null,
    image_f1_max: f1?.f1 ?? null,
    image_f1_threshold: f1 && Number.isFinite(f1.threshold) ? f1.threshold : null,
    images: scored.length,
  };
}

export async function evaluateCategory(options: EvaluateOptions): Promise<Report> {
  const started = Date.now();
  const timer = options.timer ?? untimed;
  const category = await timer.time('setup', () => readCategory(options.category, { requireTest: true }));
  const engine = options.engine ?? (await Engine.load(options.model, { threads: options.threads, device: options.device, precision: options.precision, inferenceBatch: options.inferenceBatch, purpose: 'scoring' }));
  try {
    const { model } = engine.describe();
    if (!engine.describe().hasNormalStatistics) {
      throw new IntraError('INTRA_INVALID_STATE', `Model ${options.model} has no training statistics (did its training finish?)`);
    }
    const settings = useMapSettings(engine, options.map, options.model);
    const size = modelShape(model), channels = model.channels as 1 | 3;
    const defects = [...new Set(category.test.map((t) => t.defect))].filter((d) => d !== 'good');
    const pixels = new DefectPixelMetrics(defects);
    const scored: Scored[] = [];
    const selection = new GallerySelection(options.panels ?? 3);
    // The scoring path itself (as intra score runs it), keeping maps and reconstructions.
    const scoring = scoreImages(engine, category.test.map((t) => t.file), { batch: options.batch, keep: { maps: true, reconstruction: true }, timer });
    let index = 0;
    for await (const { line, image, map: modelMap, reconstruction } of scoring) {
      const item = category.test[index++]!;
      if (line.error !== undefined) throw new IntraError(line.code ?? 'INTRA_IMAGE', line.error);
      const one: Scored = { item, score: line.score! };
      scored.push(one);
      // Copies: the gallery keeps a few past this batch, whose buffers the next one replaces.
      await timer.time('gallery', async () => selection.offer(one, () => ({ pixels: image!.pixels, map: modelMap!.slice(), reconstruction: reconstruction!.slice() })));
      const to = { width: image!.originalWidth, height: image!.originalHeight };
      const measure = async (): Promise<void> => {
        pixels.add(item.defect, await resizeMap(modelMap!, size, to), await maskRegionsOf(item, to));
      };
      await timer.time('metrics', measure);
    }
    // Metrics over the whole set, the gallery and the report files ("report" when profiled).
    const finish = async (): Promise<Report> => {
      const byDefect: Record<string, Metrics> = {};
      for (const d of defects) {
        byDefect[d] = metricsOf(scored.filter((s) => s.item.defect === d || s.item.defect === 'good'), pixels.byDefect.get(d));
      }
      await mkdir(options.outDir, { recursive: true });
      const state = engine.metadata<Partial<TrainState>>();
      const overallMetrics = metricsOf(scored, pixels.overall);
      const labels = scored.map((s) => (s.item.defect === 'good' ? 0 : 1)), scoreValues = scored.map((s) => s.score);
      const { threshold, rule } = settings.threshold !== undefined
        ? { threshold: settings.threshold, rule: state.thresholdRule ?? 'fitted at training' }
        : { threshold: overallMetrics.image_f1_threshold, rule: 'F1-max on this test set (the model holds none)' };
      const gallery = threshold === null ? [] : await buildGallery(selection, { size, channels, threshold, outDir: options.outDir });
      const counts: Record<string, number> = {};
      for (const s of scored) counts[s.item.defect] = (counts[s.item.defect] ?? 0) + 1;
      const report: Report = {
        category: category.name,
        model: options.model,
        image_width: size.width,
        image_height: size.height,
        attention: model.attention,
        map: settings.map,
        map_name: mapSettingsName(settings.map),
        ...overallMetrics,
        by_defect: byDefect,
        scores: scored.map((s) => ({ file: s.item.file, defect: s.item.defect, score: s.score })),
        panels: gallery.map((g) => g.panel),
        seconds: 0,
        threshold,
        threshold_rule: rule,
        model_info: {
          ...model,
          preset: state.preset ?? presetOf(model),
          epochs_trained: state.epoch ?? null,
          best_epoch: state.bestEpoch ?? null,
          best_loss: state.bestLoss ?? null,
          training: state.state ?? null,
        },
        counts,
        curves: { image_roc: rocCurve(scoreValues, labels), pixel_roc: pixels.overall.rocCurve(), pro: pixels.overall.proCurve(0.3)?.points ?? null },
        histogram: scoreHistogram(scored, threshold),
        history: (state.history ?? []).map((h) => ({ epoch: h.epoch, train: h.train.loss, validation: h.validation.loss })),
        gallery: gallery.map(({ tiles: _, ...entry }) => entry),
        machine: machineLabel(),
        finished_at: new Date().toISOString(),
        html: join(options.outDir, 'report.html'),
      };
      report.seconds = (Date.now() - started) / 1000;
      await writeFile(join(options.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      await writeFile(join(options.outDir, 'report.md'), reportMarkdown(report));
      await writeReportHtml(report, gallery, report.html);
      return report;
    };
    return await timer.time('report', finish);
  } finally {
    if (options.engine === undefined) engine.dispose();
  }
}


export function reportMarkdown(report: Report): string {
  const rows = [['all', report] as const, ...Object.entries(report.by_defect)];
  const lines = [
    `# ${report.category}: ${report.attention}, ${report.image_width}×${report.image_height}`,
    '',
    `Anomaly map: ${report.map_name}.`,
    '',
    '| defect | images | image AUROC | pixel AUROC | AUPRO@0.3 | image F1-max |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(([name, m]) => `| ${name} | ${m.images} | ${percent(m.image_auroc)} | ${percent(m.pixel_auroc)} | ${percent(m.aupro)} | ${percent(m.image_f1_max)} |`),
    '',
    ...(report.panels.length ? ['Panels (image, reconstruction, anomaly map, overlay, mask with the predicted region outlined):', '', ...report.panels.map((p) => `- ${p}`), ''] : []),
    `The whole report, with curves and the labelled gallery: ${report.html}`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** Image scores in 20 bins over their range (widened to hold the threshold), per group. */
export function scoreHistogram(scored: readonly Scored[], threshold: number | null, binCount = 20): { domain: [number, number]; bins: HistogramBin[] } {
  const values = scored.map((s) => s.score);
  let lo = Math.min(...values, threshold ?? Infinity), hi = Math.max(...values, threshold ?? -Infinity);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { domain: [0, 1], bins: [] };
  if (hi <= lo) hi = lo + 1e-6;
  const pad = (hi - lo) * 0.02;
  lo -= pad;
  hi += pad;
  const width = (hi - lo) / binCount;
  const bins = new Map<string, HistogramBin>();
  for (const s of scored) {
    const k = Math.min(binCount - 1, Math.floor((s.score - lo) / width));
    const key = `${s.item.defect}\n${k}`;
    const bin = bins.get(key) ?? { start: lo + k * width, end: lo + (k + 1) * width, group: s.item.defect, count: 0 };
    bin.count++;
    bins.set(key, bin);
  }
  return { domain: [lo, hi], bins: [...bins.values()] };
}

/** The preset whose geometry the model has (width, depth, heads, MLP ratio, patch, window), if any. */
export function presetOf(model: ModelConfig): Preset | null {
  return PRESETS.find((preset) => {
    const p = modelConfig({ preset, channels: model.channels });  // at its own size: the geometry compared does not depend on it
    return p.dim === model.dim && p.depth === model.depth && p.heads === model.heads && p.mlpRatio === model.mlpRatio && p.patchSize === model.patchSize && p.windowSize === model.windowSize;
  }) ?? null;
}
