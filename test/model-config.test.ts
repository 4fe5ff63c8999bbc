import { describe, expect, it } from 'vitest';

import { ATTENTION_KINDS, modelConfig, PRESETS } from '../lib/native.js';
import { Engine } from '../lib/engine.js';

describe('model configs and parameter counts', () => {
  it('lands near the papers for the paper preset at 256x256', () => {
    const mfsa = modelConfig({ preset: 'paper', attention: 'mfsa', imageSize: 256 }).parameters;
    const msa = modelConfig({ preset: 'paper', attention: 'msa', imageSize: 256 }).parameters;
    // The paper: ~55M with MFSA. The thesis: 41,374,976 with MSA, which leaves out the
    // embedding stage (patch embedding 393,728 + position embedding 131,072 + token 512).
    expect(mfsa).toBe(55_551_744);
    expect(Math.abs(mfsa - 55e6) / 55e6).toBeLessThan(0.02);
    expect(msa).toBe(41_374_976 + 393_728 + 131_072 + 512);
    expect(modelConfig({ preset: 'paper', attention: 'linear' }).parameters).toBe(msa);
  });

  it('counts exactly the parameters the built model has', () => {
    for (const preset of ['small', 'tiny'] as const) {
      for (const attention of ATTENTION_KINDS) {
        for (const channels of [1, 3]) {
          const input = { preset, attention, channels, longResiduals: attention !== 'linear' };
          const engine = Engine.create(input, {}, { threads: 1 });
          expect(engine.describe().parameters).toBe(modelConfig(input).parameters);
          engine.dispose();
        }
      }
    }
  });

  it('fills presets in', () => {
    for (const preset of PRESETS) expect(modelConfig({ preset }).patchSize).toBeGreaterThan(0);
    expect(modelConfig({ preset: 'paper' })).toMatchObject({ patchSize: 16, windowSize: 7, dim: 512, depth: 13, heads: 8, attention: 'mfsa', longResiduals: true });
  });

  it('rejects bad configs with precise messages', () => {
    expect(() => modelConfig({ attention: 'cosine' as never })).toThrow("Expected one of msa, mfsa, linear for attention but received 'cosine'");
    expect(() => modelConfig({ preset: 'huge' as never })).toThrow("Expected one of paper, small, cpu, tiny for preset but received 'huge'");
    expect(() => modelConfig({ imageSize: 250 })).toThrow('Expected a multiple of the patch size 16 for imageSize but received 250');
    expect(() => modelConfig({ channels: 2 })).toThrow('Expected 1 or 3 for channels but received 2');
    expect(() => modelConfig({ imageSize: 96 })).toThrow(/at least windowSize 7 patches per side/);
    expect(() => Engine.create({ preset: 'tiny' }, {}, { device: 'tpu' as never })).toThrow("Expected one of cpu, cuda, auto for device but received 'tpu'");
  });

  it('refuses cuda from a build without it, and says what auto chose', () => {
    const engine = Engine.create({ preset: 'tiny' }, {}, { device: 'auto', threads: 1 });
    const { device, deviceNote } = engine.describe();
    if (device === 'cpu') {
      expect(deviceNote).toMatch(/^auto chose cpu/);
      expect(() => Engine.create({ preset: 'tiny' }, {}, { device: 'cuda' })).toThrow(/device 'cuda' was asked for/);
    }
    engine.dispose();
  });
});
