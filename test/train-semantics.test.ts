// What training decides, each checked against an independent computation rather than a second
// run of the same code: the validation split, the best epoch, the weights restored, the
// threshold, and the verdicts `intra score` gives with it (or with --threshold).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { modelShape, packImages } from '../lib/data/images.js';
import { decodeAll, splitValidation, trainCategory, type TrainState } from '../lib/train/train.js';
import { stripes } from './fixtures.js';

describe('the validation split', () => {
  it('holds out 10% of the images (at least 1, at most 20), never also trained on, chosen by the seed', () => {
    for (const n of [2, 3, 4, 5, 9, 14, 15, 16, 24, 25, 26, 100, 194, 195, 196, 204, 205, 206, 1000]) {
      const files = Array.from({ length: n }, (_, i) => `img-${i}.png`);
      const { train, validation } = splitValidation(files, 7);
      // round half up, as the thesis's "10%" of a count gives whole images
      const expected = Math.min(20, Math.max(1, Math.floor(n / 10 + 0.5)));
      expect(validation, `${n} images`).toHaveLength(expected);
      expect(new Set([...train, ...validation]).size, `${n} images`).toBe(n);
      expect(train.filter((f) => validation.includes(f)), `${n} images`).toEqual([]);
      expect(train, 'training keeps the files\' order').toEqual(files.filter((f) => !validation.includes(f)));
      expect(splitValidation(files, 7)).toEqual({ train, validation });
    }
    const files = Array.from({ length: 200 }, (_, i) => `img-${i}.png`);
    expect(splitValidation(files, 8).validation).not.toEqual(splitValidation(files, 7).validation);
    expect(() => splitValidation(['one.png'], 0)).toThrow('Training needs at least 2 images in train/good (one is held out for validation), found 1');
  });
});

describe('a trained model', () => {
  const root = mkdtempSync(join(tmpdir(), 'intra-semantics-'));
  const out = join(root, 'grain.intra');
  const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
  let state: TrainState;

  beforeAll(async () => {
    await synthesize(join(root, 'data'), { seed: 6, categories: ['grain'], size: 64, train: 16, testGood: 2, testPerDefect: 1 });
    // Patience 1: the run stops at the first epoch that does not improve, so the best epoch is
    // never the last one and the restored weights differ from the last epoch's.
    ({ state } = await trainCategory({
      category: join(root, 'data', 'grain'), out, preset: 'tiny', epochs: 200, patience: 1, windowsPerImage: 16, batchSize: 32, learningRate: 3e-3, threads: 2, seed: 2,
      onEpoch: (r) => copyFileSync(out, `${out}.epoch-${r.epoch}`),
    }));
  }, 240_000);

  it('keeps the epoch of the lowest validation loss, flags each improvement, and stops on patience', () => {
    expect(state.stopped).toBe('patience');
    const losses = state.history.map((r) => r.validation.loss);
    const lowest = losses.indexOf(Math.min(...losses)) + 1;  // the first epoch at the minimum
    expect(state.bestEpoch).toBe(lowest);
    expect(state.bestLoss).toBe(losses[lowest - 1]);
    expect(state.epoch).toBe(state.bestEpoch + 1);
    state.history.forEach((r, i) => expect(r.best, `epoch ${r.epoch}`).toBe(losses.slice(0, i).every((l) => r.validation.loss < l)));
  });

  it('holds exactly the best epoch\'s weights, not the last epoch\'s', async () => {
    const images = stripes(2, 64, 3);
    const reconstruction = async (model: string) => {
      const engine = await Engine.load(model, { threads: 1 });
      try {
        return await engine.reconstruct(images);
      } finally {
        engine.dispose();
      }
    };
    const final = await reconstruction(out);
    expect(final).toEqual(await reconstruction(`${out}.epoch-${state.bestEpoch}`));
    expect(final).not.toEqual(await reconstruction(`${out}.epoch-${state.epoch}`));
  });

  it('sets the threshold to the largest score over the held-out images, none of them above it', async () => {
    expect(state.validationFiles.length).toBe(2);  // 16 images: the largest of two scores, not one
    for (const f of state.validationFiles) expect(state.trainFiles).not.toContain(f);
    const engine = await Engine.load(out, { threads: 1, purpose: 'scoring' });
    try {
      const { model } = engine.describe();
      const shape = modelShape(model), channels = model.channels as 1 | 3;
      const held = packImages(await decodeAll(state.validationFiles, shape, channels, model.windowSize * model.patchSize), shape, channels);
      const { scores } = await engine.anomalyMaps(held);
      expect(scores[0]).not.toBe(scores[1]);
      expect(state.threshold).toBe(Math.max(...scores));
      expect(state.thresholdRule).toBe('maximum anomaly score over the held-out validation images (all normal)');
    } finally {
      engine.dispose();
    }
  });

  it('intra score flags what scores above the model\'s threshold, or above --threshold', () => {
    const score = (...extra: string[]) => {
      const run = spawnSync(process.execPath, [cli, 'score', out, join(root, 'data', 'grain', 'test'), '--out', join(root, `s${extra.length}.jsonl`), '--threads', '1', ...extra], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      return readFileSync(join(root, `s${extra.length}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; score: number; anomalous: boolean });
    };
    const lines = score();
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l.anomalous, l.file).toBe(l.score > state.threshold!);
    // A threshold between two scores splits the images there.
    const sorted = lines.map((l) => l.score).sort((a, b) => a - b);
    const middle = (sorted[0]! + sorted[1]!) / 2;
    const overridden = score('--threshold', String(middle));
    expect(overridden.filter((l) => !l.anomalous).map((l) => l.score)).toEqual([sorted[0]]);
    expect(overridden.map((l) => l.score)).toEqual(lines.map((l) => l.score));
  });
});
