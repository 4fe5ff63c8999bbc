// The paper's image size per MVTec AD category (Table 1), taken by the paper preset when a
// category folder has one of those names, and said so; any other name keeps the preset's.
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { paperImageSize, smoothedBestLoss, trainCategory } from '../lib/train/train.js';

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
});
