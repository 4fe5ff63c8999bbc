import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine.js';
import { pick, stripes, withDefect } from './fixtures.js';

const SIZE = 64;

describe('training the tiny preset on stripes', () => {
  const train = stripes(8, SIZE, 1);
  const validation = stripes(2, SIZE, 2);
  let engine: Engine;
  let before: number;
  let after: number;

  beforeAll(async () => {
    engine = Engine.create({ preset: 'tiny', channels: 1, attention: 'msa' }, { seed: 3, batchSize: 64, learningRate: 1e-3, augment: false }, { threads: 2 });
    await engine.setTrainingImages(train);
    await engine.setValidationImages(validation);
    before = (await engine.validate()).loss;
    for (let i = 0; i < 12; i++) await engine.trainSteps(25);
    after = (await engine.validate()).loss;
    await engine.fitNormalStatistics();
  });
  afterAll(() => engine.dispose());

  it('halves the validation loss within 300 steps', () => {
    expect(after).toBeLessThan(before / 2);
  });

  it('validates deterministically', async () => {
    expect((await engine.validate()).loss).toBe(after);
  });

  it('reconstructs a normal image better than one with a pasted defect', async () => {
    const normal = pick(validation, 0);
    const defect = withDefect(validation, 0, 24, 24, 12);
    const error = async (set: typeof normal) => {
      const out = await engine.reconstruct(set);
      expect(out.length).toBe(SIZE * SIZE);
      let sum = 0;
      for (let i = 0; i < out.length; i++) sum += (out[i]! - set.data[i]! / 255) ** 2;
      return sum / out.length;
    };
    expect(await error(normal)).toBeLessThan(await error(defect));
  });

  it('peaks the anomaly map inside the defect and scores it above normal images', async () => {
    const defect = withDefect(validation, 1, 36, 12, 12);
    const { maps, scores } = await engine.anomalyMaps(defect);
    let best = 0;
    for (let i = 1; i < maps.length; i++) if (maps[i]! > maps[best]!) best = i;
    const x = best % SIZE, y = Math.floor(best / SIZE);
    expect(x).toBeGreaterThanOrEqual(36 - 4);
    expect(x).toBeLessThan(36 + 12 + 4);
    expect(y).toBeGreaterThanOrEqual(12 - 4);
    expect(y).toBeLessThan(12 + 12 + 4);
    expect(scores[0]).toBeCloseTo(maps[best]!, 6);
    const normal = await engine.anomalyMaps(pick(validation, 1));
    expect(scores[0]!).toBeGreaterThan(normal.scores[0]! * 2);
  });

  it('returns reconstructions with the maps when asked', async () => {
    const result = await engine.anomalyMaps(pick(validation, 0), { withReconstruction: true });
    expect(result.reconstruction?.length).toBe(SIZE * SIZE);
    expect(result.maps.length).toBe(SIZE * SIZE);
  });
});

describe('the thesis\'s multi-scale GMS loss', () => {
  it('adds the pooled scales, weighted equally: another GMS part on the same windows, the rest unchanged; 1-3 scales only', async () => {
    const set = stripes(4, 64, 9);
    const gmsOf = async (gmsScales: number) => {
      const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 3, batchSize: 32, gmsScales }, { threads: 1 });
      await engine.setTrainingImages(set);
      await engine.setValidationImages(set);
      const parts = await engine.validate();  // untrained, same weights, same fixed windows
      engine.dispose();
      return parts;
    };
    const one = await gmsOf(1), three = await gmsOf(3);
    expect(three.l2).toBe(one.l2);
    expect(three.ssim).toBe(one.ssim);
    // (g1 + g2 + g3) / 3 with g2, g3 in [0, 2]: never the single-scale value, bounded by it and the
    // pooled terms (test/thesis-recipe.test.ts checks the value itself against the equations).
    expect(three.gms).not.toBe(one.gms);
    expect(three.gms).toBeGreaterThanOrEqual(one.gms / 3);
    expect(three.gms).toBeLessThanOrEqual(one.gms / 3 + (2 + 2) / 3);
    expect(() => Engine.create({ preset: 'tiny', channels: 1 }, { gmsScales: 4 }, { threads: 1 })).toThrow('Expected at most 3 for gmsScales but received 4');
    expect(() => Engine.create({ preset: 'tiny', channels: 1 }, { gmsScales: 0 }, { threads: 1 })).toThrow('Expected a positive integer for gmsScales but received 0');
  });
});

describe('the threshold\'s scores', () => {
  it('are the anomaly scores of the validation images the engine holds, without sending them again', async () => {
    const set = stripes(3, 64, 21), validation = stripes(2, 64, 22);
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 5, batchSize: 16 }, { threads: 1 });
    await engine.setTrainingImages(set);
    await expect(engine.validationScores()).rejects.toThrow('no training statistics');
    await engine.trainSteps(2);
    await engine.fitNormalStatistics();
    await expect(engine.validationScores()).rejects.toThrow('No validation images');
    await engine.setValidationImages(validation);
    expect(Array.from(await engine.validationScores())).toEqual(Array.from((await engine.anomalyMaps(validation)).scores));
    // and scores alone, without the maps crossing back, are the same numbers
    expect(Array.from(await engine.anomalyScores(validation))).toEqual(Array.from((await engine.anomalyMaps(validation)).scores));
    engine.dispose();
  });
});
