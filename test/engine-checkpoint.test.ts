import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Engine, IntraError } from '../lib/index.js';
import { stripes } from './fixtures.js';

describe('checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'intra-ckpt-'));
  const path = join(dir, 'model.intra');
  const images = stripes(3, 64, 5);
  let engine: Engine;

  beforeAll(async () => {
    engine = Engine.create({ preset: 'tiny', channels: 1, attention: 'mfsa' }, { seed: 9, batchSize: 16 }, { threads: 2 });
    await engine.setTrainingImages(images);
    await engine.trainSteps(5);
    await engine.keepBest();
    await engine.trainSteps(2);
    await engine.fitNormalStatistics();
    await engine.save(path, { epoch: 3, note: 'round trip' });
  });
  afterAll(() => engine.dispose());

  it('round-trips to identical outputs, config and metadata', async () => {
    const loaded = await Engine.load(path, { threads: 2 });
    const a = await engine.anomalyMaps(images, { withReconstruction: true });
    const b = await loaded.anomalyMaps(images, { withReconstruction: true });
    expect(Array.from(b.maps)).toEqual(Array.from(a.maps));
    expect(Array.from(b.reconstruction!)).toEqual(Array.from(a.reconstruction!));
    expect(loaded.describe().model).toEqual(engine.describe().model);
    expect(loaded.describe().train).toEqual(engine.describe().train);
    expect(loaded.describe().steps).toBe(7);
    expect(loaded.metadata()).toEqual({ epoch: 3, note: 'round trip' });
    loaded.dispose();
  });

  it('loads from a stream of unknown size (a named pipe) as from a file', async () => {
    const fifo = join(dir, 'model.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `cat "${path}" > "${fifo}"`]);
    const written = new Promise((done) => writer.on('close', done));
    const loaded = await Engine.load(fifo, { threads: 2 });
    await written;
    const a = await engine.anomalyMaps(images);
    const b = await loaded.anomalyMaps(images);
    expect(Array.from(b.maps)).toEqual(Array.from(a.maps));
    loaded.dispose();
  });

  it('resumes training exactly (weights, Adam moments and sampler state)', async () => {
    const loaded = await Engine.load(path, { threads: 2 });
    await loaded.setTrainingImages(images);
    const continued = await loaded.trainSteps(3);
    const original = await engine.trainSteps(3);
    expect(continued.loss).toBe(original.loss);
    loaded.dispose();
  });

  it('keeps the best weights in the file', async () => {
    const loaded = await Engine.load(path, { threads: 2 });
    const beforeRestore = await loaded.reconstruct(images);
    await loaded.restoreBest();
    const afterRestore = await loaded.reconstruct(images);
    expect(Array.from(afterRestore)).not.toEqual(Array.from(beforeRestore));
    loaded.dispose();
  });

  it('rejects a truncated file', async () => {
    const truncated = join(dir, 'truncated.intra');
    const bytes = readFileSync(path);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(Engine.load(truncated)).rejects.toThrow(`Checkpoint ${truncated} is not usable: its checksum does not match (truncated or corrupted)`);
    await expect(Engine.load(truncated)).rejects.toMatchObject({ code: 'INTRA_CHECKPOINT' });
  });

  it('rejects a foreign file and a missing one', async () => {
    const foreign = join(dir, 'foreign.png');
    writeFileSync(foreign, Buffer.from('\x89PNG\r\n\x1a\n not a checkpoint', 'binary'));
    await expect(Engine.load(foreign)).rejects.toThrow(`Checkpoint ${foreign} is not usable: it is not an InTra checkpoint (wrong magic bytes)`);
    const missing = join(dir, 'missing.intra');
    const error = await Engine.load(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntraError);
    expect((error as IntraError).message).toBe(`Cannot open checkpoint ${missing}: no such readable file`);
  });

  it('rejects a file of another format version', async () => {
    const versioned = join(dir, 'v99.intra');
    const bytes = Buffer.from(readFileSync(path));
    bytes.writeUInt32LE(99, 8);
    writeFileSync(versioned, bytes);
    await expect(Engine.load(versioned)).rejects.toThrow('format version 99, this build reads version 1');
  });

  it('writes atomically: a failed save leaves the old file whole', async () => {
    await expect(engine.save(join(dir, 'no-such-dir', 'model.intra'))).rejects.toMatchObject({ code: 'INTRA_IO' });
    const again = await Engine.load(path);
    expect(again.metadata()).toEqual({ epoch: 3, note: 'round trip' });
    again.dispose();
  });
});
