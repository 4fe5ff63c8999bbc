// The paper's image size per MVTec AD category (Table 1), taken by the paper preset when a
// category folder has one of those names, and said so; any other name keeps the preset's.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { compareTrials, paperImageSize, smoothedBestLoss, trainCategory, type TrainState } from '../lib/train/train.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');

async function stateOf(model: string): Promise<TrainState> {
  const engine = await Engine.load(model, { purpose: 'scoring' });
  const state = engine.metadata<TrainState>();
  engine.dispose();
  return state;
}

describe('image size per MVTec AD category', () => {
  it('follows Table 1 of the paper', () => {
    for (const c of ['carpet', 'leather', 'tile', 'wood', 'pill', 'zipper']) expect(paperImageSize(c), c).toBe(512);
    for (const c of ['capsule', 'screw']) expect(paperImageSize(c), c).toBe(320);
    for (const c of ['bottle', 'cable', 'grid', 'hazelnut', 'metal_nut', 'toothbrush', 'transistor']) expect(paperImageSize(c), c).toBe(256);
    expect(paperImageSize('magnetic_tile')).toBeUndefined();
  });

  it('is what intra train takes for a folder named screw with the paper preset, saying so; --image-size wins', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-sizes-'));
    // 128 pixels: at least one window of the paper preset (7 x 16)
    await synthesize(join(root, 'data'), { seed: 5, categories: ['grain'], size: 128, train: 3, testGood: 1, testPerDefect: 1 });
    renameSync(join(root, 'data', 'grain'), join(root, 'data', 'screw'));
    // Stopped before its first step: the model is built at the chosen size, no training is needed to see it.
    const stopped = new AbortController();
    stopped.abort();
    const common = { category: join(root, 'data', 'screw'), preset: 'paper' as const, epochs: 1, windowsPerImage: 1, batchSize: 2, threads: 2, signal: stopped.signal };
    const notes: string[] = [];
    const chosen = await trainCategory({ ...common, out: join(root, 'screw.intra'), onNote: (n) => notes.push(n) });
    expect(chosen.interrupted).toBe(true);
    expect(chosen.state.imageSize).toBe(320);
    expect(notes).toEqual(["screw is an MVTec AD category: image size 320, the paper's (Table 1); --image-size overrides it"]);
    const overridden = await trainCategory({ ...common, out: join(root, 'screw-64.intra'), preset: 'tiny', imageSize: 64, onNote: (n) => notes.push(n) });
    expect(overridden.state.imageSize).toBe(64);
    expect(notes).toHaveLength(1);
  }, 120_000);

  it('compares sizes by the best validation loss averaged over ±5 epochs, not a single epoch\'s minimum', () => {
    expect(smoothedBestLoss([5, 1, 5, 5, 5], 1)).toBeCloseTo(3, 12);  // the dip alone would say 1; at the start, (5 + 1) / 2
    expect(smoothedBestLoss([5, 4, 3, 2, 1], 1)).toBeCloseTo(1.5, 12);  // the end: fewer neighbours
    const noisy = Array.from({ length: 30 }, (_, e) => 1 / (e + 1) + (e === 3 ? -0.5 : 0));
    expect(smoothedBestLoss(noisy)).toBeGreaterThan(Math.min(...noisy));
  });

  it('--image-size auto: a trial per size, the choice said, the chosen run finished, the trials removed', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-auto-'));
    await synthesize(join(root, 'data'), { seed: 8, categories: ['grain'], size: 64, train: 4, testGood: 1, testPerDefect: 1 });
    const notes: string[] = [];
    const out = join(root, 'grain.intra');
    const result = await trainCategory({ category: join(root, 'data', 'grain'), out, preset: 'tiny', imageSize: 'auto', epochs: 2, windowsPerImage: 2, batchSize: 16, threads: 2, onNote: (n) => notes.push(n) });
    expect([256, 320, 512]).toContain(result.state.imageSize);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(new RegExp(`^image size ${result.state.imageSize} by the paper's rule: best validation loss over ±5 epochs after 2 epochs 256: [\\d.e-]+, 320: [\\d.e-]+, 512: [\\d.e-]+`));
    expect(result.state).toMatchObject({ state: 'done', epoch: 2 });
    expect(readdirSync(root).filter((f) => /\.(256|320|512)$/.test(f))).toEqual([]);
    expect(readFileSync(`${out}.log.jsonl`, 'utf8').trim().split('\n')).toHaveLength(2);
    const engine = await Engine.load(out);
    expect(engine.describe().model).toMatchObject({ imageHeight: result.state.imageSize, imageWidth: result.state.imageSize });
    expect(engine.describe().hasNormalStatistics).toBe(true);
    engine.dispose();
    expect(existsSync(out)).toBe(true);
  }, 240_000);

  it('compares trials over the epochs all of them reached: a shorter trial is not beaten by a longer one\'s later epochs', () => {
    // 512 trained 2 epochs (a time budget), 256 and 320 four: over 4 epochs 256 would look best (0.1),
    // over the common 2 epochs 512 wins (0.5 against 0.9 and 0.8).
    const compared = compareTrials(new Map([[256, [1, 0.9, 0.3, 0.1]], [320, [1, 0.8, 0.4, 0.2]], [512, [0.7, 0.5]]]), 0);
    expect(compared.comparedEpochs).toBe(2);
    expect([...compared.losses]).toEqual([[256, 0.9], [320, 0.8], [512, 0.5]]);
    expect(compared.chosen).toBe(512);
    expect(compareTrials(new Map([[256, [0.5, 0.5]], [320, [0.49995, 0.49995]]]), 0).chosen).toBe(256);  // within 1e-4: the smaller
    expect(() => compareTrials(new Map([[256, [1]], [320, []]]))).toThrow('Every image-size trial needs at least one epoch');
  });

  describe('a resume of --image-size auto continues the chosen run and never runs the trials over it', () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-auto-resume-'));
    const category = join(root, 'data', 'grain');
    const small = { category, preset: 'tiny' as const, imageSize: 'auto' as const, windowsPerImage: 2, batchSize: 16, threads: 1 };
    const prepared = synthesize(join(root, 'data'), { seed: 9, categories: ['grain'], size: 64, train: 4, testGood: 1, testPerDefect: 1 });

    it('kill -9 while the chosen size continues, then the same command with --resume', async () => {
      await prepared;
      const out = join(root, 'killed.intra');
      const args = ['train', category, '--out', out, '--preset', 'tiny', '--image-size', 'auto', '--trial-epochs', '1', '--patience', '1000', '--windows-per-image', '2', '--batch', '16', '--threads', '1'];
      const killed = spawn(process.execPath, [cli, ...args, '--epochs', '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      killed.stderr.on('data', (d: Buffer) => {
        text += d.toString();
        // Each trial runs one epoch: a second epoch is the chosen run's, after the choice.
        if (/^epoch 2:/m.test(text)) killed.kill('SIGKILL');
      });
      const signal = await new Promise((resolve) => killed.on('close', (_, s) => resolve(s)));
      expect(signal, text).toBe('SIGKILL');
      expect(text).toMatch(/image size (256|320|512) by the paper's rule/);
      const cut = await stateOf(out);
      expect(cut.imageSizeChoice).toMatchObject({ chosen: cut.imageSize, comparedEpochs: 1, trialEpochs: 1 });
      expect(cut.epoch).toBeGreaterThanOrEqual(2);

      const again = spawnSync(process.execPath, [cli, ...args, '--resume', '--epochs', String(cut.epoch + 2)], { encoding: 'utf8' });
      expect(again.status, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/by the paper's rule/);
      expect(again.stderr).not.toMatch(/^epoch 1:/m);  // no trial ran again
      const resumed = await stateOf(out);
      expect(resumed).toMatchObject({ state: 'done', epoch: cut.epoch + 2, imageSize: cut.imageSize });
      expect(resumed.imageSizeChoice).toEqual(cut.imageSizeChoice);
      expect(resumed.history.slice(0, cut.epoch)).toEqual(cut.history);  // continued, not retrained
      expect(readFileSync(`${out}.log.jsonl`, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { epoch: number }).epoch)).toEqual(
        Array.from({ length: cut.epoch + 2 }, (_, i) => i + 1),
      );
      expect(readdirSync(root).filter((f) => /\.(256|320|512)$/.test(f))).toEqual([]);
    }, 300_000);

    it('a finished model goes on with --resume --epochs more, from its own history', async () => {
      await prepared;
      const out = join(root, 'finished.intra');
      const first = await trainCategory({ ...small, out, trialEpochs: 1, epochs: 2 });
      expect(first.state).toMatchObject({ state: 'done', epoch: 2 });
      const notes: string[] = [];
      const more = await trainCategory({ ...small, out, resume: true, epochs: 3, onNote: (n) => notes.push(n) });
      expect(notes).toEqual([]);
      expect(more.state).toMatchObject({ state: 'done', epoch: 3, imageSize: first.state.imageSize });
      expect(more.state.imageSizeChoice).toEqual(first.state.imageSizeChoice);
      expect(more.state.history.slice(0, 2)).toEqual(first.state.history);
    }, 300_000);

    it('never replaces a model it did not start from', async () => {
      await prepared;
      const out = join(root, 'fixed.intra');
      await trainCategory({ ...small, out, imageSize: 64, epochs: 1 });
      const bytes = readFileSync(out);
      // A new run, auto or not, refuses an existing model before any work.
      for (const imageSize of ['auto', 64] as const) {
        await expect(trainCategory({ ...small, out, imageSize, epochs: 1 })).rejects.toThrow(`Model ${out} already exists: --resume continues it, --overwrite trains a new model in its place`);
      }
      expect(readFileSync(out).equals(bytes)).toBe(true);
      expect(readdirSync(root).filter((f) => /\.(256|320|512)$/.test(f))).toEqual([]);
      // With --resume, auto continues a model of a fixed size at its own size, and says so.
      const notes: string[] = [];
      const more = await trainCategory({ ...small, out, resume: true, epochs: 2, onNote: (n) => notes.push(n) });
      expect(notes).toEqual([`${out} has no image-size choice recorded: it continues at its own size, 64`]);
      expect(more.state).toMatchObject({ imageSize: 64, epoch: 2, state: 'done' });
      // --overwrite starts anew.
      const fresh = await trainCategory({ ...small, out, imageSize: 64, epochs: 1, overwrite: true, seed: 3 });
      expect(fresh.state.epoch).toBe(1);
    }, 300_000);

    it('shares a time budget: a quarter per trial, the rest to the chosen run, all of it counted', async () => {
      await prepared;
      const out = join(root, 'budget.intra');
      const budget = 0.02;
      const result = await trainCategory({ ...small, out, minutes: budget, trialEpochs: 1000, epochs: 5000, patience: 5000 });
      const choice = result.state.imageSizeChoice!;
      expect(choice.trialMinutes).toBeCloseTo(budget / 4, 12);
      expect(choice.trials.map((t) => t.size)).toEqual([256, 320, 512]);
      expect(choice.comparedEpochs).toBe(Math.min(...choice.trials.map((t) => t.epochs)));
      // Each trial was cut by its share: it stopped before an epoch its last one said would pass it.
      for (const t of choice.trials) expect(t.epochs).toBeLessThan(1000);
      expect(result.state).toMatchObject({ state: 'done', stopped: 'minutes', minutes: budget });
      const trialSeconds = choice.trials.reduce((s, t) => s + t.seconds, 0);
      expect(result.state.trainingSeconds).toBeCloseTo(trialSeconds + result.state.history.slice(choice.trials.find((t) => t.size === choice.chosen)!.epochs).reduce((s, r) => s + r.seconds, 0), 6);
    }, 300_000);
  });
});

