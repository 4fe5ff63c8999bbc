import { describe, expect, it } from 'vitest';

import { Engine, IntraError } from '../lib/index.js';
import { stripes } from './fixtures.js';

function makeEngine(): Engine {
  return Engine.create({ preset: 'tiny', channels: 1, attention: 'linear' }, { seed: 11, batchSize: 32 }, { threads: 1 });
}

describe('async native calls', () => {
  it('keep the event loop free: a timer fires while training runs', async () => {
    const engine = makeEngine();
    await engine.setTrainingImages(stripes(4, 64, 1));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    await engine.trainSteps(60);
    const elapsed = Date.now() - started;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
    engine.dispose();
  });

  it('give the same results for two engines at once as one at a time', async () => {
    const images = stripes(4, 64, 1);
    const run = async (engine: Engine) => {
      await engine.setTrainingImages(images);
      const parts = await engine.trainSteps(10);
      await engine.fitNormalStatistics();
      const maps = await engine.anomalyMaps(images);
      engine.dispose();
      return { loss: parts.loss, scores: Array.from(maps.scores) };
    };
    const alone = await run(makeEngine());
    const [a, b] = await Promise.all([run(makeEngine()), run(makeEngine())]);
    expect(a).toEqual(alone);
    expect(b).toEqual(alone);
  });

  it('runs calls on one engine in order', async () => {
    const engine = makeEngine();
    const images = stripes(2, 64, 4);
    const results = await Promise.all([engine.setTrainingImages(images), engine.trainSteps(2), engine.trainSteps(2)]);
    expect(results[1]?.windows).toBe(64);
    engine.dispose();
  });
});

describe('bad arguments', () => {
  it('throw precise errors and never crash the process', async () => {
    const engine = makeEngine();
    const good = stripes(1, 64, 1);
    expect(() => engine.setTrainingImages({ ...good, data: good.data.subarray(0, 100) })).toThrow(
      'Expected a buffer of count*height*width*channels = 4096 bytes for images.data but received Uint8Array of length 100',
    );
    expect(() => engine.trainSteps(0)).toThrow('Expected a positive integer for steps but received 0');
    expect(() => engine.trainSteps(1.5)).toThrow('Expected a positive integer for steps but received 1.5');
    await expect(engine.setTrainingImages(stripes(1, 72, 1))).rejects.toThrow(
      "Expected training images of 64x64 pixels (the model's image size) but received 72x72",
    );
    await expect(engine.setTrainingImages(stripes(1, 64, 1, 3))).rejects.toThrow(
      "Expected training images with 1 channels (the model's) but received 3",
    );
    await expect(engine.trainSteps(1)).rejects.toMatchObject({ code: 'INTRA_INVALID_STATE', message: 'No training images: call setTrainingImages first' });
    await expect(engine.anomalyMaps(good)).rejects.toThrow('The model has no training statistics: call fitNormalStatistics after training');
    expect(() => Engine.create({ preset: 'tiny', imageSize: 60 })).toThrow('Expected a multiple of the patch size 8 for imageSize but received 60');
    expect(() => Engine.create({ preset: 'tiny', attention: 'sparse' as never })).toThrow("Expected one of msa, mfsa, linear for attention but received 'sparse'");
    engine.dispose();
    expect(() => engine.trainSteps(1)).toThrow('Engine is disposed');
    const error = (() => {
      try {
        engine.describe();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(IntraError);
    expect((error as IntraError).code).toBe('INTRA_DISPOSED');
  });

  it('turn libtorch errors into coded JS errors with the caller in the stack', async () => {
    const engine = makeEngine();
    const error = await engine.validate().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntraError);
    expect((error as IntraError).code).toBe('INTRA_INVALID_STATE');
    expect((error as Error).stack).toContain('engine-async.test.ts');
    engine.dispose();
  });
});
