// The thesis's set-up as the thesis wrote it (Versteeg 2022): its anomaly map (eqs. 4.12-4.14),
// its MSGMS loss (RIAD's, which §4.3 says it used), its image sizes (Table 5.1). Each is checked
// against a direct float64 computation of the equations here, not against the engine's code.
import { mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { modelShape, packImages } from '../lib/data/images.js';
import { listImages } from '../lib/data/dataset.js';
import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { patchLoss } from '../lib/native.js';
import { decodeAll, trainCategory } from '../lib/train/train.js';
import { rng } from '../lib/data/random.js';

/** One channel's pixels, row-major. */
type Plane = { h: number; w: number; v: Float64Array };

const GMS_C = 0.0026;  // RIAD's constant (Zavrtanik et al. 2021), images in [0, 1]
const SSIM_C1 = 0.01 ** 2, SSIM_C2 = 0.03 ** 2;  // Wang et al. 2004, K1 = 0.01, K2 = 0.03, range 1

const clampAt = (p: Plane, y: number, x: number): number => p.v[Math.min(p.h - 1, Math.max(0, y)) * p.w + Math.min(p.w - 1, Math.max(0, x))]!;
const map = (p: Plane, f: (y: number, x: number) => number): Plane => {
  const v = new Float64Array(p.h * p.w);
  for (let y = 0; y < p.h; y++) for (let x = 0; x < p.w; x++) v[y * p.w + x] = f(y, x);
  return { h: p.h, w: p.w, v };
};

/** Prewitt gradient magnitude (1/3 entries), replicated borders. */
function gradientMagnitude(p: Plane): Plane {
  return map(p, (y, x) => {
    let gx = 0, gy = 0;
    for (let d = -1; d <= 1; d++) {
      gx += (clampAt(p, y + d, x - 1) - clampAt(p, y + d, x + 1)) / 3;
      gy += (clampAt(p, y - 1, x + d) - clampAt(p, y + 1, x + d)) / 3;
    }
    return Math.sqrt(gx * gx + gy * gy);
  });
}

/** GMS map averaged over channels. */
function gms(a: Plane[], b: Plane[]): Plane {
  const maps = a.map((pa, c) => {
    const ma = gradientMagnitude(pa), mb = gradientMagnitude(b[c]!);
    return map(pa, (y, x) => {
      const i = y * pa.w + x;
      return (2 * ma.v[i]! * mb.v[i]! + GMS_C) / (ma.v[i]! ** 2 + mb.v[i]! ** 2 + GMS_C);
    });
  });
  return map(maps[0]!, (y, x) => maps.reduce((s, m) => s + m.v[y * m.w + x]!, 0) / maps.length);
}

/** Mean over f x f blocks (a downscale by f). */
function pool(p: Plane, f: number): Plane {
  const out = { h: p.h / f, w: p.w / f, v: new Float64Array((p.h / f) * (p.w / f)) };
  return map(out, (y, x) => {
    let s = 0;
    for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) s += p.v[(y * f + i) * p.w + x * f + j]!;
    return s / (f * f);
  });
}

/** Bilinear resize, pixel centres aligned (align_corners false). */
function resize(p: Plane, h: number, w: number): Plane {
  const source = (o: number, inSize: number, outSize: number): [number, number, number] => {
    const s = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.floor(s);
    return [i0, Math.min(i0 + 1, inSize - 1), s - i0];
  };
  return map({ h, w, v: new Float64Array(h * w) }, (y, x) => {
    const [y0, y1, ly] = source(y, p.h, h), [x0, x1, lx] = source(x, p.w, w);
    const at = (yy: number, xx: number) => p.v[yy * p.w + xx]!;
    return (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
  });
}

/** A separable filter with these taps, replicated borders. */
function separable(p: Plane, taps: readonly number[]): Plane {
  const r = (taps.length - 1) / 2;
  const rows = map(p, (y, x) => taps.reduce((s, t, k) => s + t * clampAt(p, y, x + k - r), 0));
  return map(rows, (y, x) => taps.reduce((s, t, k) => s + t * clampAt(rows, y + k - r, x), 0));
}

/** Thesis eqs. 4.12-4.13: diff = 1 - (mean over scales 1, 1/2, 1/4 of GMS, resized back) * mean21. */
function thesisDiff(x: Plane[], r: Plane[]): Plane {
  const { h, w } = x[0]!;
  const scales = [1, 2, 4].map((f) => {
    const m = gms(x.map((p) => (f === 1 ? p : pool(p, f))), r.map((p) => (f === 1 ? p : pool(p, f))));
    return f === 1 ? m : resize(m, h, w);
  });
  const msgms = map(scales[0]!, (y, xx) => scales.reduce((s, m) => s + m.v[y * w + xx]!, 0) / 3);
  const smoothed = separable(msgms, Array.from({ length: 21 }, () => 1 / 21));
  return map(smoothed, (y, xx) => 1 - smoothed.v[y * w + xx]!);
}

/** Mean of 1 - SSIM (7x7 Gaussian, sigma 1.5, replicated borders), channels averaged. */
function ssimLoss(a: Plane[], b: Plane[]): number {
  const g = Array.from({ length: 7 }, (_, k) => Math.exp(-((k - 3) ** 2) / (2 * 1.5 ** 2)));
  const taps = g.map((t) => t / g.reduce((s, u) => s + u, 0));
  let sum = 0, n = 0;
  a.forEach((pa, c) => {
    const pb = b[c]!;
    const product = (p: Plane, q: Plane) => map(p, (y, x) => p.v[y * p.w + x]! * q.v[y * q.w + x]!);
    const muA = separable(pa, taps), muB = separable(pb, taps);
    const aa = separable(product(pa, pa), taps), bb = separable(product(pb, pb), taps), ab = separable(product(pa, pb), taps);
    for (let i = 0; i < pa.v.length; i++) {
      const ma = muA.v[i]!, mb = muB.v[i]!;
      const ssim = ((2 * ma * mb + SSIM_C1) * (2 * (ab.v[i]! - ma * mb) + SSIM_C2)) / ((ma * ma + mb * mb + SSIM_C1) * (aa.v[i]! - ma * ma + bb.v[i]! - mb * mb + SSIM_C2));
      sum += 1 - ssim;
      n++;
    }
  });
  return sum / n;
}

/** Planes of image i of an interleaved (count, h, w, c) array, divided by `scale`. */
function planesOf(data: ArrayLike<number>, i: number, h: number, w: number, c: number, scale = 1): Plane[] {
  return Array.from({ length: c }, (_, ch) => {
    const v = new Float64Array(h * w);
    for (let k = 0; k < h * w; k++) v[k] = data[(i * h * w + k) * c + ch]! / scale;
    return { h, w, v };
  });
}

/** Planes of patch i of a (count, c, k, k) array. */
function patchPlanes(data: Float32Array, i: number, c: number, k: number): Plane[] {
  return Array.from({ length: c }, (_, ch) => ({ h: k, w: k, v: Float64Array.from(data.subarray((i * c + ch) * k * k, (i * c + ch + 1) * k * k)) }));
}

const mean = (p: Plane): number => p.v.reduce((s, v) => s + v, 0) / p.v.length;

describe('the training loss', () => {
  it('is L2 + 0.01 GMS + 0.01 SSIM: checked on a patch computable by hand', () => {
    // Flat patches 0.5 and 0.7: no gradient (GMS 1 everywhere), SSIM = (2 0.35 + C1) / (0.74 + C1).
    const k = 16, a = new Float32Array(k * k).fill(0.5), b = new Float32Array(k * k).fill(0.7);
    const loss = patchLoss({}, a, b, { count: 1, channels: 1, patchSize: k });
    const ssim = 1 - (2 * 0.5 * 0.7 + SSIM_C1) / (0.5 ** 2 + 0.7 ** 2 + SSIM_C1);
    expect(loss.l2).toBeCloseTo(0.04, 6);
    expect(loss.gms).toBeCloseTo(0, 6);
    // float32 leaves E[a^2] - mean^2 at ~1e-8 against SSIM's C2 = 9e-4: 3e-5 of SSIM's term
    expect(loss.ssim).toBeCloseTo(ssim, 4);
    expect(loss.loss).toBeCloseTo(0.04 + 0.01 * ssim, 6);
    // A step edge in one: the GMS term enters with its weight 0.01.
    const edge = Float32Array.from({ length: k * k }, (_, i) => (i % k < k / 2 ? 0.2 : 0.8));
    const stepped = patchLoss({}, edge, b, { count: 1, channels: 1, patchSize: k });
    const direct = mean(gms(patchPlanes(edge, 0, 1, k), patchPlanes(b, 0, 1, k)));
    expect(stepped.gms).toBeCloseTo(1 - direct, 6);
    expect(stepped.loss).toBeCloseTo(stepped.l2 + 0.01 * stepped.gms + 0.01 * stepped.ssim, 7);
    expect(patchLoss({ alpha: 0.5, beta: 0 }, edge, b, { count: 1, channels: 1, patchSize: k }).loss).toBeCloseTo(stepped.l2 + 0.5 * stepped.gms, 6);
  });

  it("the thesis's MSGMS: the mean over the patch and its 2x and 4x pooled versions of mean(1 - GMS), as RIAD's", () => {
    const r = rng(11);
    for (const [count, channels, k] of [[3, 1, 16], [2, 3, 8], [1, 3, 12]] as const) {
      const n = count * channels * k * k;
      const a = Float32Array.from({ length: n }, () => r.next());
      const b = Float32Array.from({ length: n }, (_, i) => Math.min(1, Math.max(0, a[i]! + (r.next() - 0.5) * 0.3)));
      for (const implementation of ['fused', 'reference'] as const) {
        const loss = patchLoss({ gmsScales: 3 }, a, b, { count, channels, patchSize: k }, implementation);
        let l2 = 0, msgms = 0, ssim = 0;
        for (let i = 0; i < count; i++) {
          const pa = patchPlanes(a, i, channels, k), pb = patchPlanes(b, i, channels, k);
          pa.forEach((p, c) => p.v.forEach((v, j) => (l2 += (v - pb[c]!.v[j]!) ** 2)));
          for (const f of [1, 2, 4]) msgms += (1 - mean(gms(pa.map((p) => (f === 1 ? p : pool(p, f))), pb.map((p) => (f === 1 ? p : pool(p, f)))))) / 3;
          ssim += ssimLoss(pa, pb);
        }
        const expected = { l2: l2 / n, gms: msgms / count, ssim: ssim / count };
        expect(loss.l2, `${implementation} ${count}x${channels}x${k}`).toBeCloseTo(expected.l2, 6);
        expect(loss.gms, `${implementation} ${count}x${channels}x${k}`).toBeCloseTo(expected.gms, 5);
        expect(loss.ssim, `${implementation} ${count}x${channels}x${k}`).toBeCloseTo(expected.ssim, 5);
        expect(loss.loss).toBeCloseTo(expected.l2 + 0.01 * expected.gms + 0.01 * expected.ssim, 6);
      }
    }
  });
});

describe('--recipe thesis', () => {
  it("trains with the thesis's loss and scores with its anomaly map (eqs. 4.12-4.14), recorded in the model", async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-thesis-'));
    await synthesize(join(root, 'data'), { seed: 12, categories: ['grain'], size: 64, train: 5, testGood: 1, testPerDefect: 1 });
    const out = join(root, 'grain.intra');
    const { state } = await trainCategory({ category: join(root, 'data', 'grain'), out, recipe: 'thesis', preset: 'tiny', epochs: 2, windowsPerImage: 16, batchSize: 32, threads: 2 });
    const engine = await Engine.load(out, { threads: 2 });
    try {
      expect(engine.describe().train).toMatchObject({ gmsScales: 3, anomalyMap: 'thesis', learningRate: 1e-3 });
      expect(engine.describe().model).toMatchObject({ attention: 'msa', longResiduals: false });
      const shape = modelShape(engine.describe().model), { width: w, height: h } = shape;
      const window = engine.describe().model.windowSize * engine.describe().model.patchSize;
      // Eq. 4.14's mean: the diff maps of the training images, computed here from the engine's reconstructions.
      const train = packImages(await decodeAll(state.trainFiles, shape, 1, window), shape, 1);
      const trainReconstruction = await engine.reconstruct(train);
      const meanDiff = new Float64Array(h * w);
      for (let i = 0; i < train.count; i++) {
        const d = thesisDiff(planesOf(train.data, i, h, w, 1, 255), planesOf(trainReconstruction, i, h, w, 1));
        d.v.forEach((v, k) => (meanDiff[k] = meanDiff[k]! + v / train.count));
      }
      const tests = await listImages([join(root, 'data', 'grain', 'test')]);
      const images = packImages(await decodeAll(tests, shape, 1, window), shape, 1);
      const { maps, scores, reconstruction } = await engine.anomalyMaps(images, { withReconstruction: true });
      for (let i = 0; i < images.count; i++) {
        const d = thesisDiff(planesOf(images.data, i, h, w, 1, 255), planesOf(reconstruction!, i, h, w, 1));
        const expected = d.v.map((v, k) => (v - meanDiff[k]!) ** 2);
        const largest = Math.max(...expected);
        expect(largest).toBeGreaterThan(0);
        let worst = 0;
        for (let k = 0; k < h * w; k++) worst = Math.max(worst, Math.abs(maps[i * h * w + k]! - expected[k]!));
        expect(worst / largest, tests[i]).toBeLessThan(1e-3);
        expect(scores[i]).toBeCloseTo(Math.max(...maps.subarray(i * h * w, (i + 1) * h * w)), 9);
        expect(Math.abs(scores[i]! - largest) / largest).toBeLessThan(1e-3);
      }
    } finally {
      engine.dispose();
    }
  }, 180_000);

  it("takes the thesis's image size per MVTec AD category (Table 5.1: pill at 320, not the paper's 512)", async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-thesis-sizes-'));
    await synthesize(join(root, 'data'), { seed: 5, categories: ['grain'], size: 128, train: 3, testGood: 1, testPerDefect: 1 });
    renameSync(join(root, 'data', 'grain'), join(root, 'data', 'pill'));
    const stopped = new AbortController();
    stopped.abort();
    const common = { category: join(root, 'data', 'pill'), preset: 'paper' as const, epochs: 1, windowsPerImage: 1, batchSize: 2, threads: 2, signal: stopped.signal };
    const notes: string[] = [];
    const thesis = await trainCategory({ ...common, recipe: 'thesis', out: join(root, 'thesis.intra'), onNote: (n) => notes.push(n) });
    expect(thesis.state.imageSize).toBe(320);
    const paper = await trainCategory({ ...common, out: join(root, 'paper.intra'), onNote: (n) => notes.push(n) });
    expect(paper.state.imageSize).toBe(512);
    expect(notes).toEqual([
      "pill is an MVTec AD category: image size 320, the thesis's (Table 5.1); --image-size overrides it",
      "pill is an MVTec AD category: image size 512, the paper's (Table 1); --image-size overrides it",
    ]);
  }, 120_000);
});
