// The texture term: local texture descriptors measured at an image's own size (native
// textureDescriptors) against a float64 reference written out here, and what the term (a
// Gaussian per pixel over training images' descriptors) sees: a band of streaks turned across
// the rest, whatever the exposure.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

import { rocAuc } from '../lib/eval/metrics.js';
import { imageTexture } from '../lib/data/images.js';
import { TEXTURE_DESCRIPTORS, textureDescriptors } from '../lib/native.js';
import { random } from './fixtures.js';
import { gaussianReference, mahalanobisReference } from './texture-reference.js';

const SCALES = [9, 33, 65];

/** libtorch's median: the lower middle of the sorted values. */
function lowerMedian(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The descriptors of texture.h in float64, at the image's own size (no resize). */
function referenceDescriptors(pixels: Uint8Array, height: number, width: number, channels: number): Float64Array[] {
  const grey = new Float64Array(height * width);
  for (let i = 0; i < grey.length; i++) {
    let total = 0;
    for (let c = 0; c < channels; c++) total += pixels[i * channels + c]! / 255;
    grey[i] = total / channels;
  }
  const median = lowerMedian(grey);
  for (let i = 0; i < grey.length; i++) grey[i] = grey[i]! / (median + 1 / 255);
  const at = (a: Float64Array, y: number, x: number) => a[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))]!;
  const dx = new Float64Array(grey.length), dy = new Float64Array(grey.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x > 0) dx[y * width + x] = grey[y * width + x]! - grey[y * width + x - 1]!;
      if (y > 0) dy[y * width + x] = grey[y * width + x]! - grey[(y - 1) * width + x]!;
    }
  }
  const box = (f: (i: number) => number, size: number) => {
    const values = Float64Array.from({ length: grey.length }, (_, i) => f(i));
    const out = new Float64Array(grey.length), r = Math.floor(size / 2);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let total = 0;
        for (let v = -r; v <= r; v++) for (let u = -r; u <= r; u++) total += at(values, y + v, x + u);
        out[y * width + x] = total / (size * size);
      }
    }
    return out;
  };
  const result: Float64Array[] = [];
  for (const scale of SCALES) {
    let size = Math.min(scale, height, width);
    if (size % 2 === 0) size--;
    const ax = box((i) => Math.abs(dx[i]!), size), ay = box((i) => Math.abs(dy[i]!), size);
    const xx = box((i) => dx[i]! ** 2, size), yy = box((i) => dy[i]! ** 2, size), xy = box((i) => dx[i]! * dy[i]!, size);
    const lx = ax.map((v) => Math.log(v + 1e-3)), ly = ay.map((v) => Math.log(v + 1e-3));
    const anisotropy = lx.map((v, i) => v - ly[i]!), energy = lx.map((v, i) => (v + ly[i]!) / 2);
    result.push(anisotropy, energy);
    result.push(xx.map((v, i) => (v - yy[i]!) / (v + yy[i]! + 1e-6)), xy.map((v, i) => (2 * v) / (xx[i]! + yy[i]! + 1e-6)));
    for (const plane of [anisotropy, energy]) {
      const columnMedians = Array.from({ length: width }, (_, x) => lowerMedian(Array.from({ length: height }, (_, y) => plane[y * width + x]!)));
      const rowMedians = Array.from({ length: height }, (_, y) => lowerMedian(Array.from(plane.subarray(y * width, (y + 1) * width))));
      result.push(plane.map((v, i) => v - columnMedians[i % width]!), plane.map((v, i) => v - rowMedians[Math.floor(i / width)]!));
    }
  }
  return result;
}

interface StreakOptions {
  /** exposure: every level multiplied by it */
  gain?: number;
  /** the streaks' depth, 1 by default */
  roughness?: number;
  /** rows [from, to) whose streaks run across the rest (turned by 90 degrees), or are `bandRoughness` deep */
  band?: [number, number];
  bandRoughness?: number;
}

/** A grey surface of vertical streaks with noise; `band` rows turned across them, or deeper or shallower. */
function streaks(height: number, width: number, seed: number, options: StreakOptions = {}): Uint8Array {
  const rand = random(seed), pixels = new Uint8Array(height * width), phase = rand() * 10;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inBand = options.band && y >= options.band[0] && y < options.band[1];
      // Vertical streaks (varying along x), or horizontal ones inside a turned band.
      const t = inBand && options.bandRoughness === undefined ? y : x;
      const depth = inBand && options.bandRoughness !== undefined ? options.bandRoughness : (options.roughness ?? 1);
      const level = 110 + depth * (25 * Math.sin(t * 1.9 + phase) + 12 * Math.sin(t * 0.7 + 2 * phase) + 10 * (rand() - 0.5));
      pixels[y * width + x] = Math.max(0, Math.min(255, Math.round(level * (options.gain ?? 1))));
    }
  }
  return pixels;
}

describe('texture descriptors', () => {
  it('equal the float64 reference on odd sizes, grey and colour, each scale clipped to the image', async () => {
    const rand = random(7);
    for (const [height, width, channels] of [[23, 37, 1], [41, 19, 3], [70, 80, 1]] as const) {
      const pixels = Uint8Array.from({ length: height * width * channels }, () => Math.floor(rand() * 256));
      const got = await textureDescriptors(pixels, { height, width, channels }, { height, width });
      const want = referenceDescriptors(pixels, height, width, channels);
      expect(got.length).toBe(want.length * height * width);
      let worst = 0;
      want.forEach((plane, d) => plane.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[d * height * width + i]! - v) / Math.max(1, Math.abs(v))))));
      expect(worst, `${height}x${width}x${channels}`).toBeLessThan(1e-5);
    }
  });

  it('are resized to the requested shape, and an exposure change leaves them as they were', async () => {
    const pixels = streaks(150, 120, 3), brighter = streaks(150, 120, 3, { gain: 1.4 });
    const a = await textureDescriptors(pixels, { height: 150, width: 120, channels: 1 }, { height: 36, width: 28 });
    const b = await textureDescriptors(brighter, { height: 150, width: 120, channels: 1 }, { height: 36, width: 28 });
    expect(a.length).toBe(TEXTURE_DESCRIPTORS * 36 * 28);
    let worst = 0;
    a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]!))));
    // What differs: rounding to 8 bits after the gain, and the floors (1/255 beside the median,
    // 1e-3 under the logs); turning the streaks moves the anisotropy by more than 1.
    expect(worst).toBeLessThan(0.1);
    const turned = await textureDescriptors(streaks(150, 120, 3, { band: [0, 150] }), { height: 150, width: 120, channels: 1 }, { height: 36, width: 28 });
    const anisotropy = (d: Float32Array) => d.subarray(0, 36 * 28).reduce((t, v) => t + v, 0) / (36 * 28);
    expect(anisotropy(a) - anisotropy(turned)).toBeGreaterThan(1);
  });

  it('refuse pixels that do not fit the shape', async () => {
    await expect(textureDescriptors(new Uint8Array(10), { height: 3, width: 3, channels: 1 }, { height: 2, width: 2 })).rejects.toThrow(/height\*width\*channels = 9/);
  });
});

describe('the texture term', () => {
  const root = mkdtempSync(join(tmpdir(), 'intra-texture-'));
  const HEIGHT = 160, WIDTH = 128, shape = { height: 40, width: 32 };

  async function png(name: string, pixels: Uint8Array): Promise<string> {
    const file = join(root, `${name}.png`);
    await sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 1 } }).png().toFile(file);
    return file;
  }

  it('finds a band of streaks turned across the rest, which brightness alone does not show, at any exposure', async () => {
    const area = shape.height * shape.width, training: Float32Array[] = [];
    for (let n = 0; n < 24; n++) training.push(await imageTexture(await png(`train-${n}`, streaks(HEIGHT, WIDTH, 100 + n)), 1, shape));
    // The term as texture.h defines it (the engine's own is held to this in map-settings.test.ts).
    const gaussian = gaussianReference(training, TEXTURE_DESCRIPTORS, area);
    const anomaly = (descriptors: Float32Array) => [...mahalanobisReference(descriptors, gaussian, TEXTURE_DESCRIPTORS, area)];
    const bandRows: [number, number] = [64, 112];
    const scores: number[] = [], labels: number[] = [];
    const normalPeaks: number[] = [];
    for (let n = 0; n < 4; n++) {
      const gain = n % 2 === 0 ? 1 : 1.3;
      const normal = anomaly(await imageTexture(await png(`good-${n}`, streaks(HEIGHT, WIDTH, 200 + n, { gain })), 1, shape));
      const flawed = anomaly(await imageTexture(await png(`band-${n}`, streaks(HEIGHT, WIDTH, 300 + n, { gain, band: bandRows })), 1, shape));
      normalPeaks.push(Math.max(...normal));
      for (const [map, inBand] of [[normal, () => false], [flawed, (y: number) => y * (HEIGHT / shape.height) >= bandRows[0] && y * (HEIGHT / shape.height) < bandRows[1]]] as const) {
        map.forEach((v, i) => {
          scores.push(v);
          labels.push(inBand(Math.floor(i / shape.width) + 0.5) ? 1 : 0);
        });
      }
    }
    // The band's mean brightness equals the rest's: the difference is in the streaks' direction only.
    expect(rocAuc(scores, labels)).toBeGreaterThan(0.95);
    expect(Math.max(...normalPeaks)).toBeLessThan(Math.min(...scores.filter((_, i) => labels[i] === 1).sort((a, b) => b - a).slice(0, 10)));
  });

  it('finds a band deeper than the rest of its own image, where whole images differ as much, through the relative descriptors', async () => {
    const area = shape.height * shape.width, training: Float32Array[] = [];
    // Whole images from shallow to deep streaks: a deep band is normal somewhere in the set.
    for (let n = 0; n < 24; n++) training.push(await imageTexture(await png(`depth-${n}`, streaks(HEIGHT, WIDTH, 400 + n, { roughness: 0.6 + n / 23 })), 1, shape));
    const bandRows: [number, number] = [48, 96];
    const normal: Float32Array[] = [], flawed: Float32Array[] = [];
    for (let n = 0; n < 4; n++) {
      normal.push(await imageTexture(await png(`depth-good-${n}`, streaks(HEIGHT, WIDTH, 500 + n, { roughness: 0.7 + n * 0.2 })), 1, shape));
      flawed.push(await imageTexture(await png(`depth-band-${n}`, streaks(HEIGHT, WIDTH, 600 + n, { roughness: 0.8, band: bandRows, bandRoughness: 1.4 })), 1, shape));
    }
    // The term over a subset of the descriptors (texture.h's order: per scale, the absolute four
    // first, then the four relative ones).
    const auroc = (keep: (d: number) => boolean) => {
      const kept = Array.from({ length: TEXTURE_DESCRIPTORS }, (_, d) => d).filter(keep);
      const select = (all: Float32Array) => {
        const out = new Float32Array(kept.length * area);
        kept.forEach((d, k) => out.set(all.subarray(d * area, (d + 1) * area), k * area));
        return out;
      };
      const gaussian = gaussianReference(training.map(select), kept.length, area);
      const scores: number[] = [], labels: number[] = [];
      for (const [set, isFlawed] of [[normal, false], [flawed, true]] as const) {
        for (const descriptors of set) {
          mahalanobisReference(select(descriptors), gaussian, kept.length, area).forEach((v, i) => {
            const y = (Math.floor(i / shape.width) + 0.5) * (HEIGHT / shape.height);
            scores.push(v);
            labels.push(isFlawed && y >= bandRows[0] && y < bandRows[1] ? 1 : 0);
          });
        }
      }
      return rocAuc(scores, labels);
    };
    const absoluteOnly = auroc((d) => d % 8 < 4)!, withRelative = auroc(() => true)!;
    expect(withRelative).toBeGreaterThan(0.95);
    expect(withRelative - absoluteOnly).toBeGreaterThan(0.1);
  });
});
