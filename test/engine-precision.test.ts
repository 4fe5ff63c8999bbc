import { describe, expect, it } from 'vitest';

import { capabilities } from '../lib/native.js';
import { Engine } from '../lib/engine.js';
import { stripes, withDefect } from './fixtures.js';

describe('bf16', () => {
  const supported = capabilities().bf16;

  it('scores within a few percent of fp32 at inference', async (context) => {
    if (!supported) context.skip('this CPU has no bf16 matrix products (avx512_bf16 or AMX)');
    const images = stripes(6, 64, 1);
    const fp32 = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 2, batchSize: 64, learningRate: 1e-3 }, { threads: 2 });
    await fp32.setTrainingImages(images);
    await fp32.trainSteps(60);
    await fp32.fitNormalStatistics();
    const path = `${process.env.TMPDIR ?? '/tmp'}/intra-bf16-${process.pid}.intra`;
    await fp32.save(path);
    const bf16 = await Engine.load(path, { threads: 2, precision: 'bf16' });
    const probe = withDefect(images, 0, 20, 20, 10);
    const a = await fp32.anomalyMaps(probe, { withReconstruction: true });
    const b = await bf16.anomalyMaps(probe, { withReconstruction: true });
    let worst = 0;
    for (let i = 0; i < a.reconstruction!.length; i++) worst = Math.max(worst, Math.abs(a.reconstruction![i]! - b.reconstruction![i]!));
    // bf16 keeps 8 bits of mantissa: reconstructions within 2% of the pixel range.
    expect(worst).toBeLessThan(0.02);
    expect(Math.abs(a.scores[0]! - b.scores[0]!) / a.scores[0]!).toBeLessThan(0.1);
    fp32.dispose();
    bf16.dispose();
  });

  it('trains with bf16 matrix products and fp32 weights', async (context) => {
    if (!supported) context.skip('this CPU has no bf16 matrix products (avx512_bf16 or AMX)');
    const images = stripes(4, 64, 1);
    const run = async (trainPrecision: 'fp32' | 'bf16') => {
      const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 2, batchSize: 64, learningRate: 1e-3, trainPrecision }, { threads: 2 });
      await engine.setTrainingImages(images);
      const first = await engine.trainSteps(1);
      const later = await engine.trainSteps(40);
      engine.dispose();
      return { first: first.loss, later: later.loss };
    };
    const [fp32, bf16] = [await run('fp32'), await run('bf16')];
    expect(Math.abs(fp32.first - bf16.first) / fp32.first).toBeLessThan(0.05);
    expect(bf16.later).toBeLessThan(bf16.first);
  });

  it('is refused on CPUs without bf16', (context) => {
    if (supported) context.skip('this CPU has bf16 matrix products: nothing to refuse');
    expect(() => Engine.create({ preset: 'tiny' }, {}, { precision: 'bf16' })).toThrow(/no bf16 instructions/);
  });
});
