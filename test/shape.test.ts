// Images that are not square keep their shape: the model takes the training images' median
// aspect at the preset's pixel budget, trains, scores and maps at that shape, and calls out a
// test image whose aspect differs. Data: synthetic weave stretched to 2:1 strips (masks with it).
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { evaluateCategory, type Report } from '../lib/eval/evaluate.js';
import { scoreFiles, type ScoreLine } from '../lib/infer/score.js';
import { Engine } from '../lib/engine.js';
import { modelShape } from '../lib/data/images.js';
import { medianAspect, shapeForAspect, trainCategory, type TrainOptions, type TrainState } from '../lib/train/train.js';

const root = mkdtempSync(join(tmpdir(), 'intra-shape-'));
const data = join(root, 'data');
const category = join(data, 'weave');
const recipe = { preset: 'tiny', epochs: 6, patience: 6, windowsPerImage: 48, batchSize: 64, learningRate: 1e-3, threads: 2, seed: 1 } satisfies Partial<TrainOptions>;
const model = join(root, 'strip.intra');
const notes: string[] = [];
let state: TrainState;
let trainedShape: { width: number; height: number };
let report: Report;

/** Every PNG under `dir`, stretched to width x height (masks by nearest neighbour, so they stay binary). */
async function stretchAll(dir: string, width: number, height: number): Promise<void> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      await stretchAll(path, width, height);
    } else if (name.endsWith('.png')) {
      const kernel = path.includes('ground_truth') ? 'nearest' : 'lanczos3';
      const bytes = await sharp(path).resize(width, height, { fit: 'fill', kernel }).png().toBuffer();
      await sharp(bytes).toFile(path);
    }
  }
}

beforeAll(async () => {
  await synthesize(data, { seed: 7, categories: ['weave'], size: 96, train: 12, testGood: 6, testPerDefect: 3 });
  await synthesize(join(root, 'square'), { seed: 8, categories: ['weave'], size: 96, train: 1, testGood: 1, testPerDefect: 0 });
  await stretchAll(category, 128, 64);
  const trained = await trainCategory({ ...recipe, category, out: model, onNote: (n) => notes.push(n) });
  state = trained.state;
  trainedShape = modelShape(trained.model);
  report = await evaluateCategory({ model, category, outDir: join(root, 'eval'), threads: 2 });
}, 300_000);

describe('a model the shape of its images', () => {
  it('takes the median aspect at the pixel budget, rounded to patches, and says so', async () => {
    expect(await medianAspect(readdirSync(join(category, 'train', 'good')).map((f) => join(category, 'train', 'good', f)))).toBeCloseTo(2, 6);
    // tiny: 64x64 pixels of 8x8 patches; aspect 2 -> 90.5 x 45.3 -> 11 x 6 patches.
    expect(shapeForAspect(2, 64, 8, 5)).toEqual({ width: 88, height: 48 });
    expect(trainedShape).toEqual({ width: 88, height: 48 });
    expect(state).not.toHaveProperty('imageWidth');  // one copy of the shape: the model config's
    expect(notes).toContainEqual(expect.stringMatching(/^model shape 88x48 \(width x height\): the training images' median aspect 2\.00 at about 64x64 pixels/));
    const engine = await Engine.load(model, { threads: 1 });
    expect(engine.describe().model).toMatchObject({ imageWidth: 88, imageHeight: 48 });
    engine.dispose();
  });

  it('keeps at least one window per side and gives the square for square data', () => {
    expect(shapeForAspect(1, 128, 16, 7)).toEqual({ width: 128, height: 128 });
    expect(shapeForAspect(10, 128, 16, 7)).toEqual({ width: 400, height: 112 });  // 7 patches high at the least
    expect(shapeForAspect(0.9, 128, 16, 7)).toEqual({ width: 128, height: 128 });
  });

  it('detects and localises the defects at that shape', () => {
    expect(report).toMatchObject({ image_width: 88, image_height: 48 });
    expect(report.image_auroc).toBeGreaterThanOrEqual(0.9);
    expect(report.pixel_auroc).toBeGreaterThanOrEqual(0.9);
  });

  it('maps at the original resolution and warns of an image whose aspect differs', async () => {
    const strip = join(category, 'test', 'good', '000.png'), square = join(root, 'square', 'weave', 'test', 'good', '000.png');
    const engine = await Engine.load(model, { threads: 2 });
    const lines: ScoreLine[] = [];
    try {
      for await (const line of scoreFiles(engine, [strip, square], { mapsDir: join(root, 'maps') })) lines.push(line);
    } finally {
      engine.dispose();
    }
    expect(lines[0]).not.toHaveProperty('warning');
    expect(lines[0]!.score).toBeGreaterThan(0);
    expect(lines[1]!.score).toBeGreaterThan(0);
    expect(lines[1]!.warning).toBe(
      "aspect 1.00 (96x96) unlike the model's 1.83 (88x48): the image was stretched to the model's shape, which can hide or invent defects",
    );
    const map = await sharp(join(root, 'maps', '000.map.png')).metadata();  // the strip's (the square's is 000-2)
    expect({ width: map.width, height: map.height }).toEqual({ width: 128, height: 64 });
  });

  it('trains square or at an exact shape when told', async () => {
    const common = { ...recipe, category, epochs: 1, patience: 1, windowsPerImage: 2 };
    const squareNotes: string[] = [];
    const square = await trainCategory({ ...common, out: join(root, 'square.intra'), shape: 'square', onNote: (n) => squareNotes.push(n) });
    expect(modelShape(square.model)).toEqual({ width: 64, height: 64 });
    expect(squareNotes).toEqual([]);
    const exact = await trainCategory({ ...common, out: join(root, 'exact.intra'), shape: { width: 96, height: 40 } });
    expect(modelShape(exact.model)).toEqual({ width: 96, height: 40 });
    await expect(trainCategory({ ...common, out: join(root, 'bad.intra'), shape: { width: 100, height: 40 } })).rejects.toThrow(
      'Expected a multiple of the patch size 8 for imageWidth but received 100',
    );
  });
});
