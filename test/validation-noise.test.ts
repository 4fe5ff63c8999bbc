// The validation loss's noise over window draws: what the default count per image rests on.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { validationNoise } from '../lib/bench/validation.js';
import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { trainCategory } from '../lib/train/train.js';
import { stripes } from './fixtures.js';

describe('validation windows', () => {
  it('are fixed by their seed and count; other seeds give other windows', async () => {
    const set = stripes(3, 64, 5);
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 2, validationWindowsPerImage: 16 }, { threads: 1 });
    await engine.setValidationImages(set);
    const byDefault = (await engine.validate()).loss;
    await engine.setValidationImages(set, { windowSeed: 11, windowsPerImage: 16 });
    const a = (await engine.validate()).loss;
    await engine.setValidationImages(set, { windowSeed: 11, windowsPerImage: 16 });
    expect((await engine.validate()).loss).toBe(a);
    await engine.setValidationImages(set, { windowSeed: 12, windowsPerImage: 16 });
    expect((await engine.validate()).loss).not.toBe(a);
    await engine.setValidationImages(set);
    expect((await engine.validate()).loss).toBe(byDefault);
    expect(() => engine.setValidationImages(set, { windowSeed: -1 })).toThrow('Expected an integer of at least 0 for windowSeed');
    engine.dispose();
  });

  it('intra bench validation: more windows per image, less spread over draws', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-validation-'));
    await synthesize(join(root, 'data'), { seed: 6, categories: ['washer'], size: 64, train: 12, testGood: 1, testPerDefect: 1 });
    const model = join(root, 'washer.intra');
    await trainCategory({ category: join(root, 'data', 'washer'), out: model, preset: 'tiny', epochs: 2, windowsPerImage: 16, batchSize: 32, threads: 2 });
    const records = await validationNoise({ model, counts: [2, 128], seeds: 5, threads: 2 });
    expect(records.map((r) => r.windows_per_image)).toEqual([2, 128]);
    for (const r of records) {
      expect(r).toMatchObject({ bench: 'validation', seeds: 5, images: 1 });
      expect(r.std_loss).toBeGreaterThan(0);
      expect(r.std_over_margin).toBeCloseTo(r.std_loss / 1e-4, 9);
    }
    expect(records[1]!.std_loss).toBeLessThan(records[0]!.std_loss);
  });
});

describe('measured defaults', () => {
  it('trains with 256 validation windows per image and without augmentation unless asked (docs/real-data.md)', () => {
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, {}, { threads: 1 });
    expect(engine.describe().train).toMatchObject({ validationWindowsPerImage: 256, augment: false });
    engine.dispose();
  });
});
