// The anomaly map beyond the paper's: the intensity term, the standardised (z) map over the
// training images' per-pixel spread, the top-k image score; their place in the model file, in
// scoring and in the reports; and model files from before them, which keep the paper's map.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { runCli } from '../lib/cli/index.js';
import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import type { MapsRecord } from '../lib/bench/maps.js';
import { evaluateCategory, type Report } from '../lib/eval/evaluate.js';
import { rocAuc } from '../lib/eval/metrics.js';
import { allMapSettings, mapSettingsName, PAPER_MAP, parseTopkArea } from '../lib/infer/map-settings.js';
import { configFields, mapDifferences, TEXTURE_DESCRIPTORS, type ImageSet, type MapConfig, type MapDifferences } from '../lib/native.js';
import { imageTexture } from '../lib/data/images.js';
import { gaussianReference, mahalanobisReference } from './texture-reference.js';
import { trainCategory, type TrainOptions, type TrainState } from '../lib/train/train.js';
import { parse, write, type Record_ } from './checkpoint-format.js';
import { random } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'intra-maps-'));
const SIDE = 64;

/** `count` grey SIDE x SIDE images, each pixel from `paint(x, y, rand, blocks)`; `blocks` are 16x16 random levels drawn per image. */
function images(count: number, seed: number, paint: (x: number, y: number, rand: () => number, blocks: number[]) => number): ImageSet {
  const rand = random(seed), data = new Uint8Array(count * SIDE * SIDE);
  for (let n = 0; n < count; n++) {
    const blocks = Array.from({ length: 256 }, () => rand() * 255);
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) data[(n * SIDE + y) * SIDE + x] = Math.max(0, Math.min(255, Math.round(paint(x, y, rand, blocks))));
    }
  }
  return { data, count, height: SIDE, width: SIDE, channels: 1 };
}

/** A grey set as colour (each level in all three channels), for the colour categories' models. */
function colour(set: ImageSet): ImageSet {
  const data = new Uint8Array(set.data.length * 3);
  set.data.forEach((v, i) => data.fill(v, 3 * i, 3 * i + 3));
  return { ...set, data, channels: 3 };
}

/** The mean of a map over the pixels whose column satisfies `columns`. */
const meanOver64 = (map: Float64Array, columns: (x: number) => boolean) => meanOver(Float32Array.from(map), columns);
function meanOver(map: Float32Array, columns: (x: number) => boolean): number {
  let sum = 0, count = 0;
  for (let i = 0; i < map.length; i++) {
    if (columns(i % SIDE)) {
      sum += map[i]!;
      count++;
    }
  }
  return sum / count;
}

const AREA = SIDE * SIDE;
type Term = keyof MapDifferences;

/** Per-pixel mean and sample standard deviation of a term's diffs over `count` images, in double. */
function statistics(diffs: Float32Array, count: number): { mean: Float64Array; spread: Float64Array } {
  const mean = new Float64Array(AREA), spread = new Float64Array(AREA);
  for (let n = 0; n < count; n++) for (let p = 0; p < AREA; p++) mean[p]! += diffs[n * AREA + p]! / count;
  for (let n = 0; n < count; n++) for (let p = 0; p < AREA; p++) spread[p]! += (diffs[n * AREA + p]! - mean[p]!) ** 2 / Math.max(1, count - 1);
  return { mean, spread: spread.map(Math.sqrt) };
}

type Statistics = Record<Term, ReturnType<typeof statistics>>;

/**
 * The anomaly maps of `diffs` as the method defines them, written here independently of the
 * engine: per term (d - mean)^2, or under z ((d - mean) / s)^2 with s the spread floored at its
 * mean over the image; the terms summed; the score the maximum or the top-k mean.
 */
function referenceMaps(diffs: MapDifferences, stats: Statistics, count: number, config: MapConfig): { maps: Float64Array[]; scores: number[] } {
  const terms: Term[] = config.map === 'gms' ? ['structure'] : ['structure', 'intensity'];
  const maps = Array.from({ length: count }, () => new Float64Array(AREA));
  for (const term of terms) {
    const { mean, spread } = stats[term];
    const floor = Math.max(spread.reduce((a, b) => a + b, 0) / AREA, 1e-6);
    for (let n = 0; n < count; n++) {
      for (let p = 0; p < AREA; p++) {
        const deviation = diffs[term][n * AREA + p]! - mean[p]!;
        maps[n]![p]! += config.normalise === 'mean' ? deviation ** 2 : (deviation / Math.max(spread[p]!, floor)) ** 2;
      }
    }
  }
  const scores = maps.map((m) => {
    if (config.imageScore === 'max') return Math.max(...m);
    const k = Math.min(AREA, Math.max(1, Math.ceil(config.topkArea * AREA - 1e-9)));
    return [...m].sort((a, b) => b - a).slice(0, k).reduce((a, b) => a + b, 0) / k;
  });
  return { maps, scores };
}

/** Images (count, SIDE, SIDE, 1) in [0, 1] from uint8. */
const unit = (set: ImageSet) => Float32Array.from(set.data, (v) => v / 255);
const shapeOf = (count: number) => ({ count, height: SIDE, width: SIDE, channels: 1 });

/** Diagonal stripes (period 12) with a random phase and mild noise. */
const texture = (seed: number) => {
  const phase = random(seed)() * 12;
  return (x: number, y: number, rand: () => number) => 128 + 60 * Math.sin((2 * Math.PI * (x + y + phase)) / 12) + (rand() - 0.5) * 6;
};

afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

describe('the settings', () => {
  it("are described by the engine's table, and its defaults are the paper's", () => {
    const { map, mapDefaults } = configFields();
    expect(map.map((f) => f.name).sort()).toEqual(['imageScore', 'map', 'normalise', 'topkArea']);
    expect(mapDefaults).toEqual(PAPER_MAP);
    expect(allMapSettings(0.01).map(mapSettingsName)).toEqual([
      'gms, mean, max', 'gms, mean, top 1%', 'gms, z, max', 'gms, z, top 1%',
      'gms+intensity, mean, max', 'gms+intensity, mean, top 1%', 'gms+intensity, z, max', 'gms+intensity, z, top 1%',
    ]);
  });

  it('refuse what they do not know, naming the field', () => {
    const engine = Engine.create({ preset: 'tiny', channels: 1 });
    expect(() => engine.setMapConfig({ normalize: 'z' } as unknown as MapConfig)).toThrow(/normalize/);
    expect(() => engine.setMapConfig({ normalise: 'median' as 'z' })).toThrow(/Expected one of mean, z for normalise but received 'median'/);
    expect(() => engine.setMapConfig({ topkArea: 0 })).toThrow(/topkArea/);
    expect(() => engine.setMapConfig({ topkArea: 1.5 })).toThrow(/topkArea/);
    engine.dispose();
    expect([parseTopkArea('1%'), parseTopkArea('0.0025'), parseTopkArea(1)]).toEqual([0.01, 0.0025, 1]);
    for (const bad of ['0', '150%', 'much', '-1%']) expect(() => parseTopkArea(bad)).toThrow(`Expected a share in (0, 1] or a percentage such as 1% for --topk-area but received '${bad}'`);
  });
});

describe('the maps, against the method written out here', () => {
  it("are the engine's under every setting: its statistics, floors, sums and top-k scores", async () => {
    const train = images(10, 1, (x, y, rand) => texture(1)(x, y, rand) + (x < 16 ? (rand() - 0.5) * 40 : 0));
    const test = images(3, 2, (x, y, rand) => (x > 40 && x < 50 && y > 20 && y < 30 ? 40 : texture(2)(x, y, rand)));
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 3, batchSize: 32 }, { threads: 2 });
    await engine.setTrainingImages(train);
    await engine.trainSteps(20);
    await engine.fitNormalStatistics();
    const fitted = await mapDifferences(unit(train), await engine.reconstruct(train), shapeOf(train.count));
    const stats: Statistics = { structure: statistics(fitted.structure, train.count), intensity: statistics(fitted.intensity, train.count) };
    const diffs = await mapDifferences(unit(test), await engine.reconstruct(test), shapeOf(test.count));
    const settings = allMapSettings(0.03);
    const variants = await engine.anomalyVariants(test, settings);
    for (let v = 0; v < settings.length; v++) {
      const expected = referenceMaps(diffs, stats, test.count, settings[v]!), name = mapSettingsName(settings[v]!);
      for (let n = 0; n < test.count; n++) {
        const got = variants[v]!.maps.subarray(n * AREA, (n + 1) * AREA), want = expected.maps[n]!, scale = Math.max(...want);
        let worst = 0;
        for (let p = 0; p < AREA; p++) worst = Math.max(worst, Math.abs(got[p]! - want[p]!));
        expect(worst / scale, `${name}, image ${n}`).toBeLessThan(1e-4);
        expect(variants[v]!.scores[n]! / expected.scores[n]!, `${name}, score ${n}`).toBeCloseTo(1, 4);
      }
    }
    engine.dispose();
  });

  it('a smooth brightness step that the paper map misses, the intensity term finds', async () => {
    // Reconstructions as a good model paints them: the stripes at their normal brightness, a
    // little off in phase and level, as inpainted stripes are.
    const stripes = (x: number, y: number, phase: number) => 128 + 60 * Math.sin((2 * Math.PI * (x + y + phase)) / 12);
    const set = (count: number, seed: number, offset: (x: number) => number) => {
      const rand = random(seed), image = new Float32Array(count * AREA), painted = new Float32Array(count * AREA);
      for (let n = 0; n < count; n++) {
        const phase = rand() * 12, error = (rand() - 0.5) * 0.6, level = (rand() - 0.5) * 6;
        for (let p = 0; p < AREA; p++) {
          const x = p % SIDE, y = Math.floor(p / SIDE);
          image[n * AREA + p] = (stripes(x, y, phase) + offset(x) + (rand() - 0.5) * 6) / 255;
          painted[n * AREA + p] = (stripes(x, y, phase + error) + level) / 255;
        }
      }
      return { image, painted };
    };
    const flat = () => 0;
    const fit = set(16, 1, flat), good = set(8, 2, flat);
    // The same images, brighter by 30 levels at the left edge rising smoothly to 40 at the right: no edge anywhere.
    const bright = set(8, 2, (x) => 30 + (10 * x) / (SIDE - 1));
    const [fitDiffs, goodDiffs, brightDiffs] = await Promise.all([fit, good, bright].map((s, i) => mapDifferences(s.image, s.painted, shapeOf(i === 0 ? 16 : 8))));
    const stats: Statistics = { structure: statistics(fitDiffs!.structure, 16), intensity: statistics(fitDiffs!.intensity, 16) };
    const scores = (diffs: MapDifferences, map: MapConfig['map']) => referenceMaps(diffs, stats, 8, { ...PAPER_MAP, map }).scores;
    const separation = (map: MapConfig['map']) => rocAuc([...scores(goodDiffs!, map), ...scores(brightDiffs!, map)], [...Array(8).fill(0), ...Array(8).fill(1)]);
    // The paper's map: the brighter images score as the defect-free ones do (a coin would separate them as well).
    expect(separation('gms')).toBeLessThan(0.75);
    // With the intensity term every one of them scores far above every defect-free image.
    expect(separation('gms+intensity')).toBe(1);
    expect(Math.min(...scores(brightDiffs!, 'gms+intensity'))).toBeGreaterThan(10 * Math.max(...scores(goodDiffs!, 'gms+intensity')));
  });

  it('a region whose reconstruction error varies a lot between normal images does not raise the standardised map there', async () => {
    // Stripes; the reconstructions a little off everywhere, and far off, by a different amount
    // in each 4x4 block of each image, in the left quarter (a texture no model paints the same twice).
    const stripes = (x: number, y: number, phase: number) => 128 + 60 * Math.sin((2 * Math.PI * (x + y + phase)) / 12);
    const variable = (x: number) => x < 16;
    const set = (count: number, seed: number, defect?: (x: number, y: number) => boolean) => {
      const rand = random(seed), image = new Float32Array(count * AREA), painted = new Float32Array(count * AREA);
      for (let n = 0; n < count; n++) {
        const phase = rand() * 12, blocks = Array.from({ length: 256 }, () => (rand() - 0.5) * 100);
        for (let p = 0; p < AREA; p++) {
          const x = p % SIDE, y = Math.floor(p / SIDE);
          image[n * AREA + p] = (defect?.(x, y) ? 128 + (stripes(x, y, phase) - 128) * 0.6 : stripes(x, y, phase)) / 255;
          painted[n * AREA + p] = (stripes(x, y, phase + (rand() - 0.5) * 0.4) + (variable(x) ? blocks[(y >> 2) * 16 + (x >> 2)]! : 0)) / 255;
        }
      }
      return { image, painted };
    };
    // The defect: a 12x12 patch of faded stripes (60% of their contrast) in the steady part.
    const inDefect = (x: number, y: number) => x >= 38 && x < 50 && y >= 22 && y < 34;
    const fit = set(24, 3), good = set(6, 4), flawed = set(6, 4, inDefect);
    const [fitDiffs, goodDiffs, flawedDiffs] = await Promise.all([[fit, 24], [good, 6], [flawed, 6]].map(([s, n]) => mapDifferences((s as typeof fit).image, (s as typeof fit).painted, shapeOf(n as number))));
    const stats: Statistics = { structure: statistics(fitDiffs!.structure, 24), intensity: statistics(fitDiffs!.intensity, 24) };
    const paper = referenceMaps(goodDiffs!, stats, 6, PAPER_MAP), z = referenceMaps(goodDiffs!, stats, 6, { ...PAPER_MAP, normalise: 'z' });
    for (let n = 0; n < 6; n++) {
      // The paper's map is raised over the variable quarter: its mean there is many times the rest's.
      expect(meanOver64(paper.maps[n]!, variable) / meanOver64(paper.maps[n]!, (x) => !variable(x))).toBeGreaterThan(5);
      // The standardised map there is what normal variation gives, z^2 of about 1.
      expect(meanOver64(z.maps[n]!, variable)).toBeGreaterThan(0.2);
      expect(meanOver64(z.maps[n]!, variable)).toBeLessThan(3);
    }
    // So a faint defect elsewhere: the paper's map peaks in the variable quarter in most images
    // and barely ranks the flawed images; the standardised map peaks on the defect in each.
    const paperFlawed = referenceMaps(flawedDiffs!, stats, 6, PAPER_MAP), zFlawed = referenceMaps(flawedDiffs!, stats, 6, { ...PAPER_MAP, normalise: 'z' });
    const peak = (m: Float64Array) => {
      let k = 0;
      for (let p = 0; p < AREA; p++) if (m[p]! > m[k]!) k = p;
      return { x: k % SIDE, y: Math.floor(k / SIDE) };
    };
    const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
    expect(paperFlawed.maps.filter((m) => variable(peak(m).x)).length).toBeGreaterThanOrEqual(3);
    expect(rocAuc([...paper.scores, ...paperFlawed.scores], labels)).toBeLessThan(0.8);
    for (const m of zFlawed.maps) expect(inDefect(peak(m).x, peak(m).y)).toBe(true);
    expect(rocAuc([...z.scores, ...zFlawed.scores], labels)).toBe(1);
  });
});

describe('a model trained with map settings', () => {
  const data = join(root, 'data'), model = join(root, 'weave.intra');
  const own: MapConfig = { map: 'gms+intensity', normalise: 'z', imageScore: 'topk', topkArea: 0.02 };
  const recipe = { preset: 'tiny', epochs: 3, patience: 3, windowsPerImage: 32, batchSize: 64, learningRate: 1e-3, threads: 2, seed: 1 } satisfies Partial<TrainOptions>;
  beforeAll(async () => {
    await synthesize(data, { seed: 7, categories: ['weave'], size: 64, train: 10, testGood: 4, testPerDefect: 2 });
    await trainCategory({ ...recipe, category: join(data, 'weave'), out: model, map: own });
  });

  it('fits the texture Gaussian from the descriptors it is given, with the sample correction of many images as of few', async () => {
    const engine = await Engine.load(model);
    const area = SIDE * SIDE, count = 40, rand = random(11);
    // Correlated descriptors: each a mix of a shared part and its own, per pixel and image.
    const descriptors = new Float32Array(count * TEXTURE_DESCRIPTORS * area);
    for (let n = 0; n < count; n++) {
      for (let p = 0; p < area; p++) {
        const shared = rand() - 0.5;
        for (let d = 0; d < TEXTURE_DESCRIPTORS; d++) descriptors[(n * TEXTURE_DESCRIPTORS + d) * area + p] = Math.sin(d + p / 97) + shared * (d % 3) + (rand() - 0.5) * 0.3;
      }
    }
    await engine.addTextureSamples(descriptors, count);
    await engine.fitTextureStatistics();
    const samples = Array.from({ length: count }, (_, n) => descriptors.subarray(n * TEXTURE_DESCRIPTORS * area, (n + 1) * TEXTURE_DESCRIPTORS * area));
    const gaussian = gaussianReference(samples, TEXTURE_DESCRIPTORS, area);
    const set = colour(images(1, 17, (x, y, r) => 128 + 60 * Math.sin((x + y) / 3) + (r() - 0.5) * 8));
    set.texture = Float32Array.from(samples[3]!, (v) => v + (rand() - 0.5) * 0.5);
    const [plain, textured] = await engine.anomalyVariants(set, [{ map: 'gms+intensity', normalise: 'z' }, { map: 'gms+intensity+texture', normalise: 'z' }]);
    const term = mahalanobisReference(set.texture, gaussian, TEXTURE_DESCRIPTORS, area);
    let worst = 0;
    for (let p = 0; p < area; p++) worst = Math.max(worst, Math.abs(textured!.maps[p]! - plain!.maps[p]! - term[p]!) / Math.max(1, term[p]!));
    expect(worst).toBeLessThan(1e-3);
    // The file keeps the precision's upper triangle, and the term is the same after a load.
    const saved = join(root, 'texture-40.intra');
    await engine.save(saved, engine.metadata());
    engine.dispose();
    const precision = parse(readFileSync(saved)).records.find((r) => r.name === 'texture_precision');
    expect(precision?.kind === 'tensor' && precision.sizes.map(Number)).toEqual([SIDE, SIDE, (TEXTURE_DESCRIPTORS * (TEXTURE_DESCRIPTORS + 1)) / 2]);
    const loaded = await Engine.load(saved, { purpose: 'scoring' });
    const [again] = await loaded.anomalyVariants(set, [{ map: 'gms+intensity+texture', normalise: 'z' }]);
    expect(again!.maps).toEqual(textured!.maps);
    loaded.dispose();
  });

  it('refuses texture samples of the wrong size or not finite, and a fit before two images, saying what is wrong', async () => {
    const engine = await Engine.load(model);
    const one = TEXTURE_DESCRIPTORS * SIDE * SIDE;
    await expect(engine.addTextureSamples(new Float32Array(one - 1), 1)).rejects.toMatchObject({ code: 'INTRA_INVALID_ARGUMENT', message: expect.stringMatching(`= ${one} values for addTextureSamples but received ${one - 1}`) });
    await expect(engine.addTextureSamples(Float32Array.from({ length: one }, (_, i) => (i === 5 ? NaN : 0)), 1)).rejects.toThrow(/finite texture descriptors/);
    await engine.addTextureSamples(new Float32Array(one), 1);
    await expect(engine.fitTextureStatistics()).rejects.toMatchObject({ code: 'INTRA_INVALID_STATE', message: expect.stringMatching(/at least two training images \(have 1\)/) });
    engine.dispose();
  });

  it('keeps them in its file with a threshold under every setting, fitted on the validation images', async () => {
    const engine = await Engine.load(model, { purpose: 'scoring' });
    expect(engine.describe().map).toEqual(own);
    expect(engine.describe().hasSpreadStatistics).toBe(true);
    expect(engine.describe().hasTextureStatistics).toBe(true);
    const state = engine.metadata<TrainState>();
    expect(Object.keys(state.thresholds!).sort()).toEqual(allMapSettings(0.02, { texture: true }).map(mapSettingsName).sort());
    expect(Object.keys(state.thresholds!)).toHaveLength(12);
    expect(state.threshold).toBe(state.thresholds![mapSettingsName(own)]);
    // Scoring-only engines hold no validation images: load for training and set them again.
    const training = await Engine.load(model);
    const { decodeAll } = await import('../lib/train/train.js');
    const { packImages } = await import('../lib/data/images.js');
    const size = { width: 64, height: 64 };
    await training.setValidationImages(packImages(await decodeAll(state.validationFiles, size, 3), size, 3));
    const scores = await training.validationScoresUnder([{ normalise: 'mean', map: 'gms', imageScore: 'max' }, {}]);
    expect(state.thresholds!['gms, mean, max']).toBeCloseTo(Math.max(...scores[0]!), 6);
    expect(state.threshold).toBeCloseTo(Math.max(...scores[1]!), 6);
    // The texture term's thresholds: over the validation images with their descriptors.
    const withTexture = packImages(await decodeAll(state.validationFiles, size, 3, undefined, 8, { texture: true }), size, 3);
    const textured = await engine.anomalyVariants(withTexture, [{ map: 'gms+intensity+texture' }]);
    expect(state.thresholds!['gms+intensity+texture, z, top 2%']).toBeCloseTo(Math.max(...textured[0]!.scores), 6);
    training.dispose();
    engine.dispose();
  });

  it("adds the texture term as the method writes it: each pixel's Gaussian over the training images' descriptors, the squared Mahalanobis distance to it", async () => {
    const engine = await Engine.load(model, { purpose: 'scoring' });
    const state = engine.metadata<TrainState>();
    const size = { width: 64, height: 64 }, area = 64 * 64;
    const gaussian = gaussianReference(await Promise.all(state.trainFiles.map((file) => imageTexture(file, 3, size))), TEXTURE_DESCRIPTORS, area);
    const set = colour(images(2, 13, (x, y, rand) => 128 + 60 * Math.sin((x + y) / 3) + (rand() - 0.5) * 8));
    const rand = random(5);
    set.texture = Float32Array.from({ length: 2 * TEXTURE_DESCRIPTORS * area }, (_, i) => gaussian.mean[i % gaussian.mean.length]! + (rand() - 0.5) * 0.2);
    const [plain, textured] = await engine.anomalyVariants(set, [{ map: 'gms+intensity', imageScore: 'max' }, { map: 'gms+intensity+texture', imageScore: 'max' }]);
    for (let n = 0; n < 2; n++) {
      const term = mahalanobisReference(set.texture.subarray(n * TEXTURE_DESCRIPTORS * area, (n + 1) * TEXTURE_DESCRIPTORS * area), gaussian, TEXTURE_DESCRIPTORS, area);
      let worst = 0, peak = -Infinity;
      for (let p = 0; p < area; p++) {
        const want = plain!.maps[n * area + p]! + term[p]!;
        worst = Math.max(worst, Math.abs(textured!.maps[n * area + p]! - want) / Math.max(1, want));
        peak = Math.max(peak, want);
      }
      expect(worst).toBeLessThan(1e-3);
      expect(textured!.scores[n]! / peak).toBeCloseTo(1, 3);
    }
    // Without descriptors, or with the paper's normalisation, the texture term is refused.
    const { texture: _, ...bare } = set;
    await expect(engine.anomalyVariants(bare, [{ map: 'gms+texture' }])).rejects.toThrow(/texture descriptors/);
    await expect(engine.anomalyVariants(set, [{ map: 'gms+texture', normalise: 'mean' }])).rejects.toThrow(/needs normalise z/);
    engine.dispose();
  });

  it('scores the same after a save and a load, under its own settings and under any other', async () => {
    const engine = await Engine.load(model);
    const set = colour(images(3, 11, (x, y, rand) => 128 + 60 * Math.sin((x + y) / 3) + (rand() - 0.5) * 8));
    set.texture = Float32Array.from({ length: 3 * TEXTURE_DESCRIPTORS * 64 * 64 }, (_, i) => Math.sin(i / 7));
    const settings = allMapSettings(0.02, { texture: true });
    const before = await engine.anomalyVariants(set, settings);
    const copy = join(root, 'copy.intra');
    await engine.save(copy, engine.metadata());
    engine.dispose();
    const loaded = await Engine.load(copy, { purpose: 'scoring' });
    expect(loaded.describe().map).toEqual(own);
    const after = await loaded.anomalyVariants(set, settings);
    for (let v = 0; v < settings.length; v++) {
      expect([...after[v]!.scores], mapSettingsName(settings[v]!)).toEqual([...before[v]!.scores]);
      expect(after[v]!.maps).toEqual(before[v]!.maps);
    }
    // The default call is the model's own setting.
    const { scores } = await loaded.anomalyMaps(set);
    expect([...scores]).toEqual([...after[settings.findIndex((s) => mapSettingsName(s) === mapSettingsName(own))]!.scores]);
    loaded.dispose();
  });

  it("intra eval reports the setting it ran (its own, or the one asked for) with that setting's threshold", async () => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const state = JSON.parse((await Engine.load(model, { purpose: 'scoring' }).then((e) => { const m = e.describe().metadata; e.dispose(); return m; }))) as TrainState;
    for (const [flags, expected] of [[[], own], [['--map', 'gms', '--normalise', 'mean', '--image-score', 'max'], PAPER_MAP]] as const) {
      const out = join(root, `eval-${flags.length}`);
      await runCli(['eval', model, join(data, 'weave'), '--out', out, '--threads', '2', ...flags]);
      expect(process.exitCode).toBeUndefined();
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
      expect(report.map).toEqual({ ...expected, topkArea: 0.02 });
      expect(report.map_name).toBe(mapSettingsName(report.map));
      expect(report.threshold).toBe(state.thresholds![report.map_name]);
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      expect(html).toContain(`id="map-settings" data-map="${expected.map}" data-normalise="${expected.normalise}" data-image-score="${expected.imageScore}"`);
      expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain(`Anomaly map: ${report.map_name}.`);
    }
  });

  it('intra refit gives a file from before the settings its spreads and thresholds, the weights and the paper map unchanged', async () => {
    const records = parse(readFileSync(model)).records;
    const dropped = new Set(['map', 'diff_spread', 'intensity_mean', 'intensity_spread', 'texture_mean', 'texture_precision']);
    const old = join(root, 'weave-old.intra');
    const state = JSON.parse((records.find((r) => r.name === 'metadata') as { text: string }).text) as TrainState;
    delete state.thresholds;
    writeFileSync(old, write(records.filter((r) => !dropped.has(r.name)).map((r) => (r.name === 'metadata' ? { ...r, text: JSON.stringify(state) } as Record_ : r))));
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    await runCli(['refit', old, '--threads', '2']);
    expect(process.exitCode).toBeUndefined();
    const [refitted, original] = await Promise.all([Engine.load(old, { purpose: 'scoring' }), Engine.load(model, { purpose: 'scoring' })]);
    expect(refitted.describe().hasSpreadStatistics).toBe(true);
    expect(refitted.describe().map).toEqual(PAPER_MAP);
    expect(refitted.describe().hasTextureStatistics).toBe(true);
    expect(Object.keys(refitted.metadata<TrainState>().thresholds!)).toHaveLength(12);
    const set = colour(images(2, 12, (x, y, rand) => 128 + 60 * Math.sin((x + y) / 3) + (rand() - 0.5) * 8));
    set.texture = Float32Array.from({ length: 2 * TEXTURE_DESCRIPTORS * 64 * 64 }, (_, i) => Math.cos(i / 5));
    const all = allMapSettings(0.02, { texture: true });
    const [a, b] = [await refitted.anomalyVariants(set, all), await original.anomalyVariants(set, all)];
    for (let v = 0; v < a.length; v++) expect([...a[v]!.scores]).toEqual([...b[v]!.scores]);
    refitted.dispose();
    original.dispose();
  });

  it('with the texture term as its own setting, a checkpoint saved before its statistics loads to resume', async () => {
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 3, batchSize: 16 }, { threads: 2 });
    engine.setMapConfig({ map: 'gms+intensity+texture', normalise: 'z' });
    await engine.setTrainingImages(images(4, 21, (x, y, rand) => 128 + 60 * Math.sin((x + y) / 3) + (rand() - 0.5) * 8));
    await engine.trainSteps(1);
    const midway = join(root, 'midway-texture.intra');
    await engine.save(midway, { state: 'training' });
    engine.dispose();
    const loaded = await Engine.load(midway);
    expect(loaded.describe().map.map).toBe('gms+intensity+texture');
    expect(loaded.describe().hasTextureStatistics).toBe(false);
    loaded.dispose();
  });

  it('with one of the texture statistics is refused as damaged, naming the file', async () => {
    const partial = join(root, 'weave-partial-texture.intra');
    writeFileSync(partial, write(parse(readFileSync(model)).records.filter((r) => r.name !== 'texture_precision')));
    await expect(Engine.load(partial)).rejects.toThrow(new RegExp(`Checkpoint ${partial} is not usable: it holds one of the texture term's two statistics`));
  });

  it('with texture statistics of another descriptor set loads, asks for a refit under the texture settings, and refit replaces them', async () => {
    const other = join(root, 'weave-other-descriptors.intra'), d = 12;
    // A consistent pair measured over 12 descriptors per pixel instead of the engine's set.
    const records = parse(readFileSync(model)).records.map((r) => {
      if (r.kind !== 'tensor' || (r.name !== 'texture_mean' && r.name !== 'texture_precision')) return r;
      const sizes = r.name === 'texture_mean' ? [d, SIDE, SIDE] : [SIDE, SIDE, d, d];
      const data = Buffer.from(Float32Array.from({ length: sizes.reduce((a, b) => a * b, 1) }, (_, i) => (i % (d + 1) === 0 ? 1 : 0)).buffer);
      return { ...r, sizes: sizes.map(BigInt), bytes: BigInt(data.length), data };
    });
    writeFileSync(other, write(records));
    const loaded = await Engine.load(other, { purpose: 'scoring' });
    expect(loaded.describe().hasTextureStatistics).toBe(false);
    loaded.dispose();
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    await runCli(['score', other, join(data, 'weave', 'test', 'good'), '--threads', '2', '--map', 'gms+texture', '--normalise', 'z']);
    expect(process.exitCode).toBe(1);
    expect(errors.join('\n')).toMatch(new RegExp(`Model ${other} holds no statistics of the texture descriptors this engine measures .*run intra refit ${other}`));
    process.exitCode = undefined;
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    await runCli(['refit', other, '--threads', '2']);
    expect(process.exitCode).toBeUndefined();
    const refitted = await Engine.load(other, { purpose: 'scoring' });
    expect(refitted.describe().hasTextureStatistics).toBe(true);
    refitted.dispose();
  });

  it('intra bench maps gives each setting the figures intra eval gives it, and records them', async () => {
    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const records = join(root, 'records');
    await runCli(['bench', 'maps', model, join(data, 'weave'), '--threads', '2', '--json', '--record', records]);
    expect(process.exitCode).toBeUndefined();
    const rows = printed.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as MapsRecord);
    expect(rows.map((r) => r.settings)).toEqual(allMapSettings(0.02, { texture: true }).map(mapSettingsName));
    expect(rows.at(-1)!.settings).toBe('gms+intensity+texture, z, top 2%');
    const { readRecordFiles } = await import('../lib/bench/records.js');
    const [file] = await readRecordFiles(records);
    expect(file!.file.bench).toBe('bench maps');
    expect(file!.file.records).toEqual(rows);
    for (const row of [rows[0]!, rows[7]!, rows.at(-1)!]) {
      const report = await evaluateCategory({ model, category: join(data, 'weave'), outDir: join(root, `eval-${row.settings}`), threads: 2, map: row.map });
      expect(report.map_name).toBe(row.settings);
      expect({ image: row.image_auroc, pixel: row.pixel_auroc, aupro: row.aupro }).toEqual({ image: report.image_auroc, pixel: report.pixel_auroc, aupro: report.aupro });
      for (const [defect, m] of Object.entries(report.by_defect)) {
        expect(row.by_defect[defect], `${row.settings} ${defect}`).toEqual({ image_auroc: m.image_auroc, pixel_auroc: m.pixel_auroc, aupro: m.aupro });
      }
    }
  });

  it('intra score takes the settings too, with their threshold', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((text: string | Uint8Array) => {
      lines.push(String(text));
      return true;
    });
    const file = join(data, 'weave', 'test', 'good');
    await runCli(['score', model, file, '--threads', '2', '--normalise', 'mean', '--map', 'gms', '--threshold', 'model']);
    expect(process.exitCode).toBeUndefined();
    const scored = lines.join('').trim().split('\n').map((l) => JSON.parse(l) as { score: number; anomalous: boolean });
    expect(scored.length).toBeGreaterThan(0);
    const engine = await Engine.load(model, { purpose: 'scoring' });
    const threshold = engine.metadata<TrainState>().thresholds!['gms, mean, top 2%'];
    engine.dispose();
    for (const line of scored) expect(line.anomalous).toBe(line.score > threshold!);
  });
});

describe('model files from before the settings', () => {
  const train = images(8, 1, (x, y, rand) => 128 + 60 * Math.sin((x + y) / 3) + (rand() - 0.5) * 8);
  const test = images(3, 5, (x, y, rand) => (x > 20 && x < 30 && y > 20 && y < 30 ? 30 : 128 + 60 * Math.sin((x + y) / 3) + (rand() - 0.5) * 8));
  const current = join(root, 'current.intra'), old = join(root, 'old.intra');
  let records: Record_[];
  beforeAll(async () => {
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 2, batchSize: 16 }, { threads: 2 });
    await engine.setTrainingImages(train);
    await engine.trainSteps(5);
    await engine.fitNormalStatistics();
    await engine.save(current, { state: 'done' });
    engine.dispose();
    records = parse(readFileSync(current)).records;
    // What the engine wrote before: no map settings, the structure term's mean alone.
    const dropped = new Set(['map', 'diff_spread', 'intensity_mean', 'intensity_spread']);
    expect(records.filter((r) => dropped.has(r.name))).toHaveLength(4);
    writeFileSync(old, write(records.filter((r) => !dropped.has(r.name))));
  });

  it("load with the paper's map, and score exactly as the same weights and mean do under it", async () => {
    const before = await Engine.load(old, { purpose: 'scoring' });
    expect(before.describe().map).toEqual(PAPER_MAP);
    expect(before.describe().hasNormalStatistics).toBe(true);
    expect(before.describe().hasSpreadStatistics).toBe(false);
    const now = await Engine.load(current, { purpose: 'scoring' });
    const a = await before.anomalyMaps(test), b = await now.anomalyMaps(test);
    expect([...a.scores]).toEqual([...b.scores]);
    expect(a.maps).toEqual(b.maps);
    // The paper's map with a top-k score needs nothing new either.
    await expect(before.anomalyVariants(test, [{ imageScore: 'topk' }])).resolves.toHaveLength(1);
    before.dispose();
    now.dispose();
  });

  it('refuse the settings that need spreads with the remedy, and intra refit fits them', async () => {
    const engine = await Engine.load(old, { purpose: 'scoring' });
    await expect(engine.anomalyVariants(test, [{ normalise: 'z' }])).rejects.toThrow(/refit/);
    await expect(engine.anomalyVariants(test, [{ map: 'gms+intensity' }])).rejects.toMatchObject({ code: 'INTRA_INVALID_STATE' });
    await expect(engine.anomalyVariants({ ...test, texture: new Float32Array(test.count * TEXTURE_DESCRIPTORS * 64 * 64) }, [{ map: 'gms+texture', normalise: 'z' }]))
      .rejects.toMatchObject({ code: 'INTRA_INVALID_STATE' });
    engine.dispose();
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    await runCli(['score', old, join(root, 'data', 'weave', 'test', 'good'), '--normalise', 'z']);
    expect(process.exitCode).toBe(1);
    expect(errors.join('\n')).toContain(`Model ${old} was fitted before per-pixel spreads and the intensity term existed, which "gms, z, max" needs: run intra refit ${old} to fit them [INTRA_INVALID_STATE]`);
  });

  it('refuse the texture settings with the remedy', async () => {
    const engine = await Engine.load(current, { purpose: 'scoring' });
    expect(engine.describe().hasTextureStatistics).toBe(false);
    engine.dispose();
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    await runCli(['score', current, join(root, 'data', 'weave', 'test', 'good'), '--map', 'gms+texture', '--normalise', 'z']);
    expect(process.exitCode).toBe(1);
    expect(errors.join('\n')).toContain(`Model ${current} holds no statistics of the texture descriptors this engine measures (it was fitted before the texture term, or with another set of descriptors), which "gms+texture, z, max" needs: run intra refit ${current} to fit them [INTRA_INVALID_STATE]`);
  });

  it('with part of the statistics are refused, naming the file', async () => {
    const partial = join(root, 'partial.intra');
    writeFileSync(partial, write(records.filter((r) => r.name !== 'intensity_spread')));
    await expect(Engine.load(partial)).rejects.toThrow(new RegExp(`Checkpoint ${partial} is not usable: it holds 3 of the 4 training statistics`));
  });
});
