// The paper's image size per MVTec AD category (Table 1), taken by the paper preset when a
// category folder has one of those names, and said so; any other name keeps the preset's.
import { mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { paperImageSize, trainCategory } from '../lib/train/train.js';

describe('image size per MVTec AD category', () => {
  it('follows Table 1 of the paper', () => {
    for (const c of ['carpet', 'leather', 'tile', 'wood', 'pill', 'zipper']) expect(paperImageSize(c), c).toBe(512);
    for (const c of ['capsule', 'screw']) expect(paperImageSize(c), c).toBe(320);
    for (const c of ['bottle', 'cable', 'grid', 'hazelnut', 'metal_nut', 'toothbrush', 'transistor']) expect(paperImageSize(c), c).toBe(256);
    expect(paperImageSize('magnetic_tile')).toBeUndefined();
  });

  it('is what intra train takes for a folder named screw with the paper preset, saying so; --image-size wins', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-sizes-'));
    await synthesize(join(root, 'data'), { seed: 5, categories: ['grain'], size: 64, train: 3, testGood: 1, testPerDefect: 1 });
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
});
