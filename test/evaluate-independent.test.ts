// `intra eval`'s figures recomputed here from the model's own maps with metrics written
// independently of lib/eval/metrics.ts (Mann-Whitney ranks, brute-force F1, a separate region
// labelling and PRO sweep): overall and per defect type, each defect type's set being its own
// images and the defect-free ones, the maps taken at the masks' resolution.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { readCategory } from '../lib/data/dataset.js';
import { loadImage, loadMask, modelShape, packImages } from '../lib/data/images.js';
import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { evaluateCategory, type Report } from '../lib/eval/evaluate.js';
import { resizeMap } from '../lib/native.js';
import { trainCategory } from '../lib/train/train.js';

/** AUROC as P(positive > negative) + P(tie)/2, from average ranks (Mann-Whitney U). */
function auroc(scores: readonly number[], labels: readonly number[]): number {
  const order = scores.map((s, i) => [s, labels[i]!] as const).sort((a, b) => a[0] - b[0]);
  let rankSum = 0, positives = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j < order.length && order[j]![0] === order[i]![0]) j++;
    const rank = (i + 1 + j) / 2;  // ranks i+1..j share their mean
    for (let k = i; k < j; k++) if (order[k]![1] === 1) { rankSum += rank; positives++; }
    i = j;
  }
  const negatives = order.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** F1-max over every threshold "score >= t", t a score. */
function f1Max(scores: readonly number[], labels: readonly number[]): number {
  let best = 0;
  for (const t of scores) {
    let tp = 0, fp = 0, fn = 0;
    scores.forEach((s, i) => {
      if (s >= t && labels[i] === 1) tp++;
      else if (s >= t) fp++;
      else if (labels[i] === 1) fn++;
    });
    best = Math.max(best, (2 * tp) / (2 * tp + fp + fn));
  }
  return best;
}

/** 8-connected regions of a mask by breadth-first search: region ids from 1, 0 outside. */
function regions(mask: Uint8Array, width: number, height: number): { ids: Int32Array; sizes: number[] } {
  const ids = new Int32Array(mask.length), sizes: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || ids[start]) continue;
    const id = sizes.length + 1;
    let size = 0;
    const queue = [start];
    ids[start] = id;
    while (queue.length) {
      const p = queue.shift()!;
      size++;
      const y = Math.floor(p / width), x = p % width;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy, xx = x + dx, q = yy * width + xx;
        if (yy >= 0 && yy < height && xx >= 0 && xx < width && mask[q] && !ids[q]) {
          ids[q] = id;
          queue.push(q);
        }
      }
    }
    sizes.push(size);
  }
  return { ids, sizes };
}

interface Pixels { score: number; region: number }  // region -1: a defect-free pixel

/** Area under the per-region-overlap curve up to FPR 0.3 (linear at the cut), over 0.3. */
function aupro(pixels: readonly Pixels[], regionSizes: readonly number[]): number {
  const sorted = [...pixels].sort((a, b) => b.score - a.score);
  const negatives = pixels.filter((p) => p.region < 0).length;
  let fp = 0, overlap = 0, lastFpr = 0, lastPro = 0, area = 0;
  for (let i = 0; i < sorted.length;) {
    const v = sorted[i]!.score;
    for (; i < sorted.length && sorted[i]!.score === v; i++) {
      const r = sorted[i]!.region;
      if (r < 0) fp++;
      else overlap += 1 / regionSizes[r]!;
    }
    const fpr = fp / negatives, pro = overlap / regionSizes.length;
    if (fpr >= 0.3) {
      const atCut = fpr > lastFpr ? lastPro + ((0.3 - lastFpr) / (fpr - lastFpr)) * (pro - lastPro) : pro;
      return (area + ((0.3 - lastFpr) * (lastPro + atCut)) / 2) / 0.3;
    }
    area += ((fpr - lastFpr) * (lastPro + pro)) / 2;
    lastFpr = fpr;
    lastPro = pro;
  }
  return area / 0.3;
}

describe('intra eval against an independent computation', () => {
  const root = mkdtempSync(join(tmpdir(), 'intra-eval-independent-'));
  const data = join(root, 'data');
  let report: Report;
  // per test image: its defect, score, map at the mask's resolution, and mask
  const images: { defect: string; score: number; map: Float32Array; mask?: Uint8Array; width: number; height: number }[] = [];

  beforeAll(async () => {
    // 80-pixel images for a 64-pixel model: the maps are resized to the masks' resolution.
    await synthesize(data, { seed: 14, categories: ['grain'], size: 80, train: 6, testGood: 4, testPerDefect: 2 });
    const model = join(root, 'grain.intra');
    await trainCategory({ category: join(data, 'grain'), out: model, preset: 'tiny', epochs: 2, windowsPerImage: 16, batchSize: 32, threads: 2 });
    report = await evaluateCategory({ model, category: join(data, 'grain'), outDir: join(root, 'eval'), threads: 2 });
    const engine = await Engine.load(model, { threads: 2, purpose: 'scoring' });
    try {
      const shape = modelShape(engine.describe().model);
      for (const item of (await readCategory(join(data, 'grain'), { requireTest: true })).test) {
        const image = await loadImage(item.file, { size: shape, channels: 1 });
        const { maps, scores } = await engine.anomalyMaps(packImages([image], shape, 1));
        const to = { width: image.originalWidth, height: image.originalHeight };
        const map = await resizeMap(maps, shape, to);
        images.push({ defect: item.defect, score: scores[0]!, map, mask: item.mask ? (await loadMask(item.mask)).mask : undefined, ...to });
      }
    } finally {
      engine.dispose();
    }
  }, 240_000);

  const expected = (set: typeof images) => {
    const labels = set.map((i) => (i.defect === 'good' ? 0 : 1)), scores = set.map((i) => i.score);
    const pixels: Pixels[] = [];
    const sizes: number[] = [];
    for (const i of set) {
      const { ids, sizes: own } = i.mask ? regions(i.mask, i.width, i.height) : { ids: new Int32Array(i.map.length), sizes: [] };
      i.map.forEach((score, k) => pixels.push({ score, region: ids[k]! ? sizes.length + ids[k]! - 1 : -1 }));
      sizes.push(...own);
    }
    return {
      image_auroc: auroc(scores, labels),
      image_f1_max: f1Max(scores, labels),
      pixel_auroc: auroc(pixels.map((p) => p.score), pixels.map((p) => (p.region >= 0 ? 1 : 0))),
      aupro: aupro(pixels, sizes),
      images: set.length,
    };
  };

  it('has the scores of the model\'s maps, each the maximum of its map', () => {
    expect(report.scores.map((s) => s.defect)).toEqual(images.map((i) => i.defect));
    report.scores.forEach((s, k) => expect(s.score, s.file).toBe(images[k]!.score));
  });

  it('gives the image and pixel AUROC, AUPRO and F1-max overall', () => {
    const want = expected(images);
    expect(want.image_auroc).toBeGreaterThan(0);
    for (const key of ['image_auroc', 'image_f1_max', 'pixel_auroc', 'aupro'] as const) expect(report[key], key).toBeCloseTo(want[key], 9);
    expect(report.images).toBe(want.images);
  });

  it('gives each defect type its figures over its own images and the defect-free ones', () => {
    const defects = [...new Set(images.map((i) => i.defect))].filter((d) => d !== 'good').sort();
    expect(Object.keys(report.by_defect).sort()).toEqual(defects);
    expect(defects.length).toBeGreaterThan(1);
    for (const d of defects) {
      const want = expected(images.filter((i) => i.defect === d || i.defect === 'good'));
      for (const key of ['image_auroc', 'image_f1_max', 'pixel_auroc', 'aupro', 'images'] as const) expect(report.by_defect[d]![key], `${d} ${key}`).toBeCloseTo(want[key], 9);
    }
  });
});
