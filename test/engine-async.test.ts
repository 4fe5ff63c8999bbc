import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Engine, IntraError } from '../lib/index.js';
import { stripes } from './fixtures.js';

function makeEngine(): Engine {
  return Engine.create({ preset: 'tiny', channels: 1, attention: 'linear' }, { seed: 11, batchSize: 32 }, { threads: 1 });
}

describe('async native calls', () => {
  it('keep the event loop free: the loop turns while training runs', async () => {
    const engine = makeEngine();
    await engine.setTrainingImages(stripes(4, 64, 1));
    // Events, not times: a call that blocked the loop would have finished (its promise settled,
    // its callbacks queued as microtasks) before the loop's next turn; an async one has not.
    let settled = false;
    const training = engine.trainSteps(60).then(() => (settled = true));
    let turns = 0;
    while (!settled && turns < 3) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!settled) turns++;
    }
    expect(turns).toBe(3);
    await training;
    engine.dispose();
  });

  it('describe() reads whole metadata while queued saves replace it (taken under the engine\'s lock)', async () => {
    const engine = makeEngine();
    const dir = mkdtempSync(join(tmpdir(), 'intra-describe-'));
    const notes = Array.from({ length: 12 }, (_, i) => ({ save: i, text: 'x'.repeat(4096 * (i + 1)) }));
    const saves = notes.map((metadata, i) => engine.save(join(dir, `m${i}.intra`), metadata));
    const seen = new Set<number>();
    let settled = false;
    void Promise.all(saves).then(() => (settled = true));
    while (!settled) {
      const metadata = engine.metadata<{ save?: number; text?: string }>();  // parses: never torn
      if (metadata.save !== undefined) {
        expect(metadata.text).toBe('x'.repeat(4096 * (metadata.save + 1)));
        seen.add(metadata.save);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(engine.metadata<{ save: number }>().save).toBe(11);
    expect(seen.size).toBeGreaterThan(0);
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

  it('completes many interleaved calls from several async tasks in the order they were made', async () => {
    const engine = makeEngine();
    await engine.setTrainingImages(stripes(2, 64, 4));
    await engine.setValidationImages(stripes(1, 64, 5));
    const made: string[] = [], done: string[] = [];
    const call = (name: string, promise: Promise<unknown>) => {
      made.push(name);
      return promise.then(() => done.push(name));
    };
    // Long and short calls mixed: a short one made later must not overtake a long one.
    const task = async (id: number) => {
      for (let i = 0; i < 4; i++) {
        const pending = [call(`${id}.${i} train`, engine.trainSteps(1 + ((id + i) % 3) * 4)), call(`${id}.${i} validate`, engine.validate())];
        if (i % 2 === 1) await Promise.all(pending);
      }
    };
    await Promise.all([task(0), task(1), task(2)]);
    expect(done).toEqual(made);
    engine.dispose();
  });

  it('lets sharp decode while an engine has many calls queued: no pool thread waits on the engine', async () => {
    const sharp = (await import('sharp')).default;
    const png = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();
    const engine = makeEngine();
    await engine.setTrainingImages(stripes(4, 64, 1));
    const events: string[] = [];
    // More calls than libuv has pool threads (4): queued natively, 3 would sit on a mutex and
    // the rest, and sharp's work, would wait behind them.
    const calls = Array.from({ length: 8 }, (_, i) => engine.trainSteps(15).then(() => events.push(`engine ${i}`)));
    const decoded = sharp(png).raw().toBuffer().then(() => events.push('decoded'));
    await Promise.all([...calls, decoded]);
    expect(events.indexOf('decoded')).toBeLessThan(events.indexOf('engine 2'));
    engine.dispose();
  });

  it('runs calls already made to the end when the engine is disposed, and refuses new ones', async () => {
    const engine = makeEngine();
    const images = stripes(2, 64, 4);
    const pending = [engine.setTrainingImages(images), engine.trainSteps(2), engine.trainSteps(2)];
    engine.dispose();
    const results = await Promise.all(pending);
    expect(results[2]?.windows).toBe(64);
    expect(() => engine.trainSteps(1)).toThrow('Engine is disposed');
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
      "Expected training images of 64x64 pixels (the model's width x height) but received 72x72",
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
