/**
 * Evaluates a model on a category's test set: image AUROC, pixel AUROC (maps at the masks'
 * original resolution), AUPRO up to FPR 0.3 and image F1-max, overall and per defect type;
 * writes report.json, report.md and picture panels of the best and worst cases.
 *
 * @example const report = await evaluateCategory({ model: 'bottle.intra', category: 'data/bottle', outDir: 'eval/bottle' });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import sharp from 'sharp';

import { readCategory, type TestItem } from '../data/dataset.js';
import { loadImage, loadMask, packImages, type DecodedImage } from '../data/images.js';
import { IntraError } from '../errors.js';
import { Engine, heatPictures, resizeMap, type Device, type Precision } from '../native.js';
import { f1Max, PixelMetrics, rocAuc } from './metrics.js';

export interface Metrics {
  image_auroc: number | null;
  pixel_auroc: number | null;
  aupro: number | null;
  image_f1_max: number | null;
  image_f1_threshold: number | null;
  images: number;
}

export interface Report extends Metrics {
  category: string;
  model: string;
  image_size: number;
  attention: string;
  by_defect: Record<string, Metrics>;
  scores: { file: string; defect: string; score: number }[];
  panels: string[];
  seconds: number;
}

export interface EvaluateOptions {
  model: string;
  category: string;
  outDir: string;
  threads?: number;
  device?: Device;
  precision?: Precision;
  /** images per engine call */
  batch?: number;
  /** panels of best and worst cases (per side) */
  panels?: number;
}

interface Scored {
  item: TestItem;
  score: number;
}

function metricsOf(scored: readonly Scored[], pixels: PixelMetrics | undefined): Metrics {
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
  const category = await readCategory(options.category, { requireTest: true });
  const engine = await Engine.load(options.model, { threads: options.threads, device: options.device, precision: options.precision });
  try {
    const { model } = engine.describe();
    if (!engine.describe().hasNormalStatistics) {
      throw new IntraError('INTRA_INVALID_STATE', `Model ${options.model} has no training statistics (did its training finish?)`);
    }
    const size = model.imageSize, channels = model.channels as 1 | 3;
    const defects = [...new Set(category.test.map((t) => t.defect))].filter((d) => d !== 'good');
    // One PixelMetrics overall and one per defect type (that type's images plus the good ones).
    const overall = new PixelMetrics();
    const perDefect = new Map(defects.map((d) => [d, new PixelMetrics()]));
    const scored: Scored[] = [];
    const batch = options.batch ?? 8;
    for (let i = 0; i < category.test.length; i += batch) {
      const items = category.test.slice(i, i + batch);
      const images = await Promise.all(items.map((item) => loadImage(item.file, { size, channels })));
      const { maps, scores } = await engine.anomalyMaps(packImages(images, size, channels));
      for (let k = 0; k < items.length; k++) {
        const item = items[k]!, image = images[k]!;
        scored.push({ item, score: scores[k]! });
        const to = { width: image.originalWidth, height: image.originalHeight };
        const map = await resizeMap(maps.subarray(k * size * size, (k + 1) * size * size), { width: size, height: size }, to);
        const mask = item.mask ? (await loadMask(item.mask, { ...to, image: item.file })).mask : undefined;
        overall.add(map, mask, to.width, to.height);
        if (item.defect === 'good') for (const m of perDefect.values()) m.add(map, undefined, to.width, to.height);
        else perDefect.get(item.defect)!.add(map, mask, to.width, to.height);
      }
    }
    const byDefect: Record<string, Metrics> = {};
    for (const d of defects) {
      byDefect[d] = metricsOf(scored.filter((s) => s.item.defect === d || s.item.defect === 'good'), perDefect.get(d));
    }
    await mkdir(options.outDir, { recursive: true });
    const panels = await writePanels(engine, scored, size, channels, options.outDir, options.panels ?? 2);
    const report: Report = {
      category: category.name,
      model: options.model,
      image_size: size,
      attention: model.attention,
      ...metricsOf(scored, overall),
      by_defect: byDefect,
      scores: scored.map((s) => ({ file: s.item.file, defect: s.item.defect, score: s.score })),
      panels,
      seconds: (Date.now() - started) / 1000,
    };
    await writeFile(join(options.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(join(options.outDir, 'report.md'), reportMarkdown(report));
    return report;
  } finally {
    engine.dispose();
  }
}

const percent = (v: number | null): string => (v === null ? '–' : (100 * v).toFixed(1));

export function reportMarkdown(report: Report): string {
  const rows = [['all', report] as const, ...Object.entries(report.by_defect)];
  const lines = [
    `# ${report.category}: ${report.attention}, ${report.image_size}×${report.image_size}`,
    '',
    '| defect | images | image AUROC | pixel AUROC | AUPRO@0.3 | image F1-max |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(([name, m]) => `| ${name} | ${m.images} | ${percent(m.image_auroc)} | ${percent(m.pixel_auroc)} | ${percent(m.aupro)} | ${percent(m.image_f1_max)} |`),
    '',
    ...(report.panels.length ? ['Panels (image, reconstruction, anomaly map, mask):', '', ...report.panels.map((p) => `- ${p}`), ''] : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** Image | reconstruction | map | mask, for the best and worst scored cases. */
async function writePanels(engine: Engine, scored: readonly Scored[], size: number, channels: 1 | 3, outDir: string, perSide: number): Promise<string[]> {
  const anomalous = scored.filter((s) => s.item.defect !== 'good').sort((a, b) => b.score - a.score);
  const good = scored.filter((s) => s.item.defect === 'good').sort((a, b) => b.score - a.score);
  const picks: { name: string; s: Scored }[] = [
    ...anomalous.slice(0, perSide).map((s, i) => ({ name: `best-anomalous-${i + 1}`, s })),
    ...anomalous.slice(-perSide).reverse().map((s, i) => ({ name: `worst-anomalous-${i + 1}`, s })),
    ...good.slice(0, perSide).map((s, i) => ({ name: `worst-good-${i + 1}`, s })),
  ];
  if (picks.length === 0) return [];
  const images: DecodedImage[] = await Promise.all(picks.map((p) => loadImage(p.s.item.file, { size, channels })));
  const { maps, reconstruction } = await engine.anomalyMaps(packImages(images, size, channels), { withReconstruction: true });
  const scale = Math.max(...scored.map((s) => s.score), 1e-12);
  const written: string[] = [];
  for (let k = 0; k < picks.length; k++) {
    const { name, s } = picks[k]!;
    const one = size * size * channels;
    const recon = Uint8Array.from(reconstruction!.subarray(k * one, (k + 1) * one), (v) => Math.round(v * 255));
    const { grey: map } = await heatPictures(maps.subarray(k * size * size, (k + 1) * size * size), images[k]!.pixels, { width: size, height: size, channels }, scale);
    const mask = s.item.mask
      ? await sharp(s.item.mask).toColourspace('b-w').resize(size, size, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer()
      : new Uint8Array(size * size);
    const tile = (pixels: Uint8Array, c: number) => sharp(pixels, { raw: { width: size, height: size, channels: c as 1 | 3 } }).toColourspace('srgb').png().toBuffer();
    const tiles = await Promise.all([tile(images[k]!.pixels, channels), tile(recon, channels), tile(map, 1), tile(new Uint8Array(mask), 1)]);
    const file = join(outDir, `${name}.png`);
    await sharp({ create: { width: size * 4 + 12, height: size, channels: 3, background: '#ffffff' } })
      .composite(tiles.map((input, i) => ({ input, left: i * (size + 4), top: 0 })))
      .png()
      .toFile(file);
    written.push(file);
  }
  return written;
}
