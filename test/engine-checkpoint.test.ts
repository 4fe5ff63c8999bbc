import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

  it('loads for scoring: the same maps, without the optimiser state; refuses to train, save or restore', async () => {
    const scoring = await Engine.load(path, { threads: 2, purpose: 'scoring' });
    expect(scoring.describe()).toMatchObject({ purpose: 'scoring', steps: 7, hasNormalStatistics: true });
    expect(scoring.metadata()).toEqual({ epoch: 3, note: 'round trip' });
    const full = await Engine.load(path, { threads: 2 });  // the engine above has trained on since it saved
    const a = await full.anomalyMaps(images, { withReconstruction: true });
    const b = await scoring.anomalyMaps(images, { withReconstruction: true });
    full.dispose();
    expect(Array.from(b.maps)).toEqual(Array.from(a.maps));
    expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
    await scoring.setTrainingImages(images);
    const refusal = /this engine was loaded for scoring \(without its optimiser state and best weights\); load the model with purpose 'training' to/;
    await expect(scoring.trainSteps(1)).rejects.toThrow(refusal);
    await expect(scoring.trainSteps(1)).rejects.toMatchObject({ code: 'INTRA_INVALID_STATE' });
    await expect(scoring.restoreBest()).rejects.toThrow(refusal);
    await expect(scoring.save(join(dir, 'from-scoring.intra'))).rejects.toThrow(refusal);
    expect(existsSync(join(dir, 'from-scoring.intra'))).toBe(false);
    expect(engine.describe().purpose).toBe('training');
    scoring.dispose();
    await expect(Engine.load(path, { purpose: 'grading' as never })).rejects.toThrow("Expected one of training, scoring for purpose but received 'grading'");
  });

  const flip = (bytes: Buffer, at: number, mask: number) => bytes.writeUInt8(bytes.readUInt8(at) ^ mask, at);
  it('scores the same with fewer windows per forward pass (less memory)', async () => {
    const wide = await Engine.load(path, { threads: 2, purpose: 'scoring' });
    const narrow = await Engine.load(path, { threads: 2, purpose: 'scoring', inferenceBatch: 7 });
    expect([wide.describe().inferenceBatch, narrow.describe().inferenceBatch]).toEqual([512, 7]);
    const a = await wide.anomalyMaps(images), b = await narrow.anomalyMaps(images);
    for (let i = 0; i < a.scores.length; i++) expect(b.scores[i]).toBeCloseTo(a.scores[i]!, 5);
    const mapError = Math.max(...Array.from(a.maps, (v, i) => Math.abs(v - b.maps[i]!)));
    expect(mapError).toBeLessThan(1e-5);
    wide.dispose();
    narrow.dispose();
    await expect(Engine.load(path, { inferenceBatch: 0 })).rejects.toThrow(/inferenceBatch/);
  });

  // The byte offset of a tensor record's data in the file, found by its name.
  function dataOffset(bytes: Buffer, name: string): number {
    const at = bytes.indexOf(Buffer.from(name)) + name.length;  // then kind, dtype, rank, sizes, byte count
    return at + 2 + 4 + 8 * bytes.readUInt32LE(at + 2) + 8;
  }

  it('checks every record it reads: a damaged weight is refused for any purpose, damaged optimiser state only where it is read', async () => {
    const bytes = readFileSync(path);
    const weight = Buffer.from(bytes);
    flip(weight, dataOffset(weight, 'param:head.weight') + 5, 0x10);
    const badWeight = join(dir, 'bad-weight.intra');
    writeFileSync(badWeight, weight);
    for (const purpose of ['training', 'scoring'] as const) {
      await expect(Engine.load(badWeight, { purpose })).rejects.toThrow(`Checkpoint ${badWeight} is not usable: record param:head.weight does not match its hash (corrupted)`);
    }
    const moment = Buffer.from(bytes);
    flip(moment, dataOffset(moment, 'adam.exp_avg_sq:head.weight') + 3, 0x01);
    const badMoment = join(dir, 'bad-moment.intra');
    writeFileSync(badMoment, moment);
    await expect(Engine.load(badMoment)).rejects.toThrow('record adam.exp_avg_sq:head.weight does not match its hash (corrupted)');
    const scoring = await Engine.load(badMoment, { purpose: 'scoring' });  // the moments are skipped unread
    const full = await Engine.load(path);
    expect(Array.from((await scoring.anomalyMaps(images)).maps)).toEqual(Array.from((await full.anomalyMaps(images)).maps));
    scoring.dispose();
    full.dispose();
  });

  it('rejects a truncated file, wherever it was cut, and one with bytes after its end', async () => {
    const bytes = readFileSync(path);
    const truncated = join(dir, 'truncated.intra');
    for (const length of [Math.floor(bytes.length / 2), bytes.length - 1, bytes.length - 8, 20]) {
      writeFileSync(truncated, bytes.subarray(0, length));
      for (const purpose of ['training', 'scoring'] as const) {
        const error = await Engine.load(truncated, { purpose }).catch((e: unknown) => e);
        expect(error, `${length} bytes`).toMatchObject({ code: 'INTRA_CHECKPOINT' });
        expect((error as Error).message).toMatch(new RegExp(`^Checkpoint ${truncated} is not usable: .*truncated`));
      }
    }
    const longer = join(dir, 'longer.intra');
    writeFileSync(longer, Buffer.concat([bytes, Buffer.from('tail')]));
    await expect(Engine.load(longer)).rejects.toThrow(`Checkpoint ${longer} is not usable: 4 bytes follow its end`);
    await expect(Engine.load(dir)).rejects.toThrow(`Cannot open checkpoint ${dir}: it is a folder`);
  });

  it('holds the weights once when the best weights are the weights (after keepBest or restoreBest)', async () => {
    const twice = readFileSync(path);
    const once = join(dir, 'best-is-current.intra');
    const source = await Engine.load(path, { threads: 2 });
    await source.restoreBest();
    await source.save(once, { best: 'current' });
    const bytes = readFileSync(once);
    expect(bytes.includes(Buffer.from('best:head.weight'))).toBe(false);
    expect(twice.length - bytes.length).toBeGreaterThan(source.describe().parameters * 4);
    const loaded = await Engine.load(once, { threads: 2 });
    const before = await source.reconstruct(images);
    expect(Array.from(await loaded.reconstruct(images))).toEqual(Array.from(before));
    await loaded.setTrainingImages(images);
    await loaded.trainSteps(2);  // moves the weights; the best stay where they were
    await loaded.restoreBest();
    expect(Array.from(await loaded.reconstruct(images))).toEqual(Array.from(before));
    source.dispose();
    loaded.dispose();
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
    await expect(Engine.load(versioned)).rejects.toThrow('format version 99, this build reads versions 1 to 2');
  });

  it('writes atomically: a failed save leaves the old file whole', async () => {
    await expect(engine.save(join(dir, 'no-such-dir', 'model.intra'))).rejects.toMatchObject({ code: 'INTRA_IO' });
    const again = await Engine.load(path);
    expect(again.metadata()).toEqual({ epoch: 3, note: 'round trip' });
    again.dispose();
  });
});
