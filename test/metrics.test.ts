import { describe, expect, it } from 'vitest';

import { f1Max, PixelMetrics, rocAuc, rocCurve } from '../lib/eval/metrics.js';
import { labelRegions } from '../lib/native.js';
import { random } from './fixtures.js';

/** O(n^2) definition of AUROC, for checking. */
function bruteAuc(scores: number[], labels: number[]): number {
  let wins = 0, pairs = 0;
  scores.forEach((p, i) => {
    if (!labels[i]) return;
    scores.forEach((n, j) => {
      if (labels[j]) return;
      pairs++;
      wins += p > n ? 1 : p === n ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('ROC AUC', () => {
  it('matches hand-computed values, ties counted half', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    expect(rocAuc([1, 1, 1, 1], [0, 1, 0, 1])).toBe(0.5);
    // positives {0.5, 0.7}, negatives {0.5, 0.2}: pairs (0.5,0.5)=1/2, (0.5,0.2)=1, (0.7,*)=2 -> 3.5/4
    expect(rocAuc([0.5, 0.7, 0.5, 0.2], [1, 1, 0, 0])).toBe(0.875);
    expect(rocAuc([0.9, 0.1], [0, 1])).toBe(0);
    expect(rocAuc([0.3, 0.2], [1, 1])).toBeNull();
  });

  it('agrees with the pairwise definition on random scores with many ties', () => {
    const rand = random(5);
    for (let t = 0; t < 20; t++) {
      const scores = Array.from({ length: 57 }, () => Math.round(rand() * 8) / 8);
      const labels = Array.from({ length: 57 }, () => (rand() < 0.3 ? 1 : 0));
      expect(rocAuc(scores, labels)).toBeCloseTo(bruteAuc(scores, labels), 12);
    }
  });
});

describe('F1-max', () => {
  it('finds the best threshold by hand', () => {
    // thresholds: >=0.9: tp1 fp0 -> 2/(2+0+2)=0.5; >=0.8: tp1 fp1 -> 2/5; >=0.7: tp2 fp1 -> 4/6; >=0.6: tp3 fp1 -> 6/7; >=0.1: tp3 fp2 -> 6/8
    const result = f1Max([0.9, 0.8, 0.7, 0.6, 0.1], [1, 0, 1, 1, 0]);
    expect(result?.threshold).toBe(0.6);
    expect(result?.f1).toBeCloseTo(6 / 7, 12);
  });
});

describe('regions and AUPRO', () => {
  it('labels 8-connected regions', async () => {
    // 4x3: {0, 4} is one region, {10, 11} another, and 5 touches 10 only diagonally
    const mask = Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]);
    const { labels, count } = await labelRegions(mask, 4, 3);
    expect(count).toBe(2);
    expect(labels[0]).toBe(labels[4]);
    expect(labels[10]).toBe(labels[11]);
    expect(labels[0]).not.toBe(labels[10]);
    const diagonal = await labelRegions(Uint8Array.from([1, 0, 0, 1]), 2, 2);
    expect(diagonal.count).toBe(1);
  });

  it('labels as a plain flood fill does, on random masks of odd shapes, numbered in raster order', async () => {
    // The reference: breadth-first over the 8 neighbours, a new label at each unlabelled mask pixel met in raster order.
    const reference = (mask: Uint8Array, width: number, height: number) => {
      const labels = new Int32Array(mask.length);
      let count = 0;
      for (let start = 0; start < mask.length; start++) {
        if (!mask[start] || labels[start]) continue;
        labels[start] = ++count;
        const queue = [start];
        for (let k = 0; k < queue.length; k++) {
          const x = queue[k]! % width, y = Math.floor(queue[k]! / width);
          for (const [dx, dy] of [[-1, -1], [0, -1], [1, -1], [-1, 0], [1, 0], [-1, 1], [0, 1], [1, 1]] as const) {
            const nx = x + dx, ny = y + dy, q = ny * width + nx;
            if (nx >= 0 && ny >= 0 && nx < width && ny < height && mask[q] && !labels[q]) {
              labels[q] = count;
              queue.push(q);
            }
          }
        }
      }
      return { labels, count };
    };
    const rand = random(23);
    for (const [width, height, density] of [[1, 1, 1], [1, 37, 0.5], [41, 1, 0.5], [17, 13, 0.3], [64, 48, 0.45], [5, 7, 0]] as const) {
      const mask = Uint8Array.from({ length: width * height }, () => (rand() < density ? 255 : 0));
      const want = reference(mask, width, height), got = await labelRegions(mask, width, height);
      expect(got.count, `${width}x${height}`).toBe(want.count);
      expect(got.labels, `${width}x${height}`).toEqual(want.labels);
      expect(got.mask).toBe(mask);
    }
  });

  it('refuses masks that do not match their sizes', async () => {
    await expect(labelRegions(new Uint8Array(5), 2, 2)).rejects.toThrow('a mask of 4 bytes');
    await expect(labelRegions(new Uint8Array(4), 0, 4)).rejects.toThrow('positive integer sizes');
    await expect(labelRegions(new Float32Array(4) as unknown as Uint8Array, 2, 2)).rejects.toThrow('a Uint8Array');
    expect(() => new PixelMetrics().add(new Float32Array(3), { mask: new Uint8Array(4), labels: new Int32Array(4), count: 0 })).toThrow("a mask of the map's 3 pixels");
  });

  it('is 1 for a perfect map and matches a hand-built curve', async () => {
    // One 4x1 image: a region of 2 pixels (scores 0.9, 0.5) and 2 normal pixels (0.7, 0.1).
    const m = new PixelMetrics();
    m.add(Float32Array.of(0.9, 0.5, 0.7, 0.1), await labelRegions(Uint8Array.of(1, 1, 0, 0), 4, 1));
    // Thresholds: 0.9 -> (fpr 0, pro .5); 0.7 -> (.5, .5); ... limit 0.3 reached on the
    // step to fpr .5: area = .3 * .5 (pro is .5 from fpr 0 up), but the first point rises
    // from (0,0) to (0,.5) at fpr 0, so area up to .3 = .3 * .5 = .15 -> normalised .5.
    expect(m.aupro(0.3)).toBeCloseTo(0.5, 12);
    const perfect = new PixelMetrics();
    perfect.add(Float32Array.of(0.9, 0.8, 0.2, 0.1), await labelRegions(Uint8Array.of(1, 1, 0, 0), 4, 1));
    perfect.add(Float32Array.of(0.3, 0.1, 0.2, 0.1), undefined);
    expect(perfect.aupro(0.3)).toBeCloseTo(1, 12);
    expect(perfect.rocAuc()).toBe(1);
  });

  it('weights regions equally, not pixels', async () => {
    // A big region fully found and a small one missed: PRO = 1/2 for low FPR.
    const width = 10;
    const mask = new Uint8Array(width * 2);
    const map = new Float32Array(width * 2);
    for (let x = 0; x < 6; x++) {
      mask[x] = 1;
      map[x] = 1;
    }
    mask[19] = 1;  // the small region, scored like the background
    for (let i = 6; i < 20; i++) map[i] = 0.1 + i * 0.001;
    map[19] = 0;
    const m = new PixelMetrics();
    m.add(map, await labelRegions(mask, width, 2));
    expect(m.aupro(0.3)).toBeCloseTo(0.5, 6);
  });
});

/** Area under straight segments through `points`. */
const trapezoid = (points: { x: number; y: number }[]) => points.slice(1).reduce((a, p, i) => a + ((p.x - points[i]!.x) * (p.y + points[i]!.y)) / 2, 0);

describe('curves for the report', () => {
  it('the ROC curve steps through every distinct threshold, from (0, 0) to (1, 1)', () => {
    expect(rocCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])!.map((p) => [p.fpr, p.tpr, p.threshold])).toEqual([
      [0, 0, Infinity], [0, 0.5, Math.fround(0.8)], [0.5, 0.5, Math.fround(0.4)], [0.5, 1, Math.fround(0.35)], [1, 1, Math.fround(0.1)],  // float32 scores
    ]);
    expect(rocCurve([0.3, 0.2], [1, 1])).toBeNull();
  });

  it('the area under the ROC curve is the AUROC, ties included; thinning keeps the ends and about maxPoints points', () => {
    const rand = random(11);
    const scores = Array.from({ length: 3000 }, () => Math.round(rand() * 50) / 50);
    const labels = scores.map((s) => (rand() < 0.3 + 0.4 * s ? 1 : 0));
    const full = rocCurve(scores, labels, 1e9)!;
    expect(trapezoid(full.map((p) => ({ x: p.fpr, y: p.tpr })))).toBeCloseTo(rocAuc(scores, labels)!, 12);
    const thin = rocCurve(Array.from({ length: 3000 }, () => rand()), labels, 50)!;
    expect(thin.length).toBeLessThanOrEqual(2 * 50 + 2);
    expect(thin[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(thin[thin.length - 1]).toMatchObject({ fpr: 1, tpr: 1 });
  });

  it('the pixel ROC and PRO curves agree with the pixel AUROC and AUPRO', async () => {
    const rand = random(5);
    const m = new PixelMetrics();
    for (let n = 0; n < 4; n++) {
      const map = Float32Array.from({ length: 32 * 32 }, () => rand());
      const mask = new Uint8Array(32 * 32);
      for (let y = 4 + n; y < 12 + n; y++) for (let x = 6; x < 14 + 2 * n; x++) { mask[y * 32 + x] = 1; map[y * 32 + x] = map[y * 32 + x]! + 0.4; }
      m.add(map, await labelRegions(mask, 32, 32));
    }
    const roc = m.rocCurve(1e9)!;
    expect(trapezoid(roc.map((p) => ({ x: p.fpr, y: p.tpr })))).toBeCloseTo(m.rocAuc()!, 10);
    const pro = m.proCurve(0.3, 1e9)!;
    expect(pro.aupro).toBe(m.aupro(0.3));
    expect(trapezoid(pro.points.map((p) => ({ x: p.fpr, y: p.pro }))) / 0.3).toBeCloseTo(pro.aupro, 10);
    expect(pro.points[pro.points.length - 1]!.fpr).toBeCloseTo(0.3, 12);
  });
});
