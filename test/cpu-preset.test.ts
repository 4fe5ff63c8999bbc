// The `cpu` preset's recipe kept honest on small data: its geometry and training defaults (as a
// user gets them from `--preset cpu`) detect and localise a synthetic category's defects. The
// epochs are bounded so that the test's time is; nothing here is timed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { accuracyCurve, curveTable } from '../lib/bench/curve.js';
import { synthesize } from '../lib/data/synth.js';
import { evaluateCategory } from '../lib/eval/evaluate.js';
import { capabilities, modelConfig } from '../lib/native.js';
import { Engine } from '../lib/engine.js';
import { presetTraining } from '../lib/train/recipes.js';
import { trainCategory } from '../lib/train/train.js';

describe('the cpu preset', () => {
  it('brings its training defaults, each overridable', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-cpu-defaults-'));
    await synthesize(join(root, 'data'), { seed: 2, categories: ['grain'], size: modelConfig({ preset: 'cpu' }).imageHeight, train: 4, testGood: 1, testPerDefect: 1 });
    const category = join(root, 'data', 'grain');
    const bare = await trainCategory({ category, out: join(root, 'bare.intra'), preset: 'cpu', epochs: 1, threads: 2 });
    expect(bare.state).toMatchObject({ windowsPerImage: presetTraining('cpu').windowsPerImage, minutes: presetTraining('cpu').minutes });
    const engine = await Engine.load(bare.out);
    expect(engine.describe().train).toMatchObject({
      batchSize: presetTraining('cpu').batchSize,
      learningRate: presetTraining('cpu').learningRate,
      trainPrecision: capabilities().bf16 ? 'bf16' : 'fp32',
    });
    expect(engine.describe().map).toEqual(presetTraining('cpu').map);
    engine.dispose();
    const told = await trainCategory({ category, out: join(root, 'told.intra'), preset: 'cpu', epochs: 1, threads: 2, batchSize: 16, windowsPerImage: 4, trainPrecision: 'fp32', minutes: 5, map: { normalise: 'mean' } });
    expect(told.state).toMatchObject({ windowsPerImage: 4, minutes: 5 });
    const toldEngine = await Engine.load(told.out);
    expect(toldEngine.describe().train).toMatchObject({ batchSize: 16, trainPrecision: 'fp32' });
    // A flag replaces its field of the preset's map settings, the others stay the preset's.
    expect(toldEngine.describe().map).toEqual({ ...presetTraining('cpu').map, normalise: 'mean' });
    toldEngine.dispose();
  });

  it('detects and localises a synthetic category\'s defects (image and pixel AUROC >= 0.95)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-cpu-recipe-'));
    const size = modelConfig({ preset: 'cpu' }).imageHeight;
    await synthesize(join(root, 'data'), { seed: 11, categories: ['weave'], size, train: 24, testGood: 8, testPerDefect: 4 });
    const category = join(root, 'data', 'weave');
    await trainCategory({ category, out: join(root, 'weave.intra'), preset: 'cpu', epochs: 24, patience: 24, threads: 2 });
    const report = await evaluateCategory({ model: join(root, 'weave.intra'), category, outDir: join(root, 'eval'), threads: 2 });
    expect(report.image_auroc).toBeGreaterThanOrEqual(0.95);
    expect(report.pixel_auroc).toBeGreaterThanOrEqual(0.95);
  }, 600_000);
});

describe('intra bench curve', () => {
  it('trains one run to each budget, evaluating at each, skips a budget no epoch fits in, and refuses budgets that do not increase', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-curve-'));
    await synthesize(join(root, 'data'), { seed: 3, categories: ['grain'], size: 64, train: 4, testGood: 2, testPerDefect: 1 });
    const common = { category: join(root, 'data', 'grain'), out: join(root, 'curve'), preset: 'tiny' as const, windowsPerImage: 4, validationWindowsPerImage: 16, batchSize: 16, threads: 1 };
    // The first budget (6 ms) still trains one epoch, which takes longer than the second (12 ms)
    // leaves room for: that budget gets no point, and the run goes on to the third (6 s).
    const skipped: { budget: number; trained: number; epoch: number }[] = [];
    const records = await accuracyCurve({ ...common, minutes: [0.0001, 0.0002, 0.1], onSkip: (budget, trained, epoch) => skipped.push({ budget, trained, epoch }) });
    expect(records.map((r) => r.budget_minutes)).toEqual([0.0001, 0.1]);
    expect(skipped).toEqual([{ budget: 0.0002, trained: records[0]!.training_minutes, epoch: expect.any(Number) }]);
    expect(skipped[0]!.trained + skipped[0]!.epoch).toBeGreaterThan(0.0002);
    expect(records[1]!.epochs).toBeGreaterThan(records[0]!.epochs);
    expect(records[1]!.windows).toBeGreaterThan(records[0]!.windows);
    for (const r of records) {
      expect(r).toMatchObject({ bench: 'curve', preset: 'tiny', image_width: 64, image_height: 64, category: 'grain' });
      expect(r.machine.cpu.length).toBeGreaterThan(0);
    }
    // The last point is the model as it stands: evaluated again, the same figures.
    const again = await evaluateCategory({ model: join(common.out, 'model.intra'), category: common.category, outDir: join(common.out, 'again'), threads: 1 });
    expect([records[1]!.image_auroc, records[1]!.pixel_auroc, records[1]!.aupro]).toEqual([again.image_auroc, again.pixel_auroc, again.aupro]);
    expect(curveTable(records).split('\n')).toHaveLength(3);
    await expect(accuracyCurve({ ...common, minutes: [0.04, 0.02] })).rejects.toThrow('Expected increasing positive minutes but received 0.04, 0.02');
  }, 120_000);
});

describe('a model trained with the cpu preset', () => {
  it('names its preset in the evaluation report, though its geometry is the small preset\'s', async () => {
    expect((({ parameters: _, ...c }) => c)(modelConfig({ preset: 'cpu' }))).toEqual((({ parameters: _, ...c }) => c)(modelConfig({ preset: 'small' })));
    const root = mkdtempSync(join(tmpdir(), 'intra-cpu-name-'));
    await synthesize(join(root, 'data'), { seed: 5, categories: ['grain'], size: 128, train: 4, testGood: 1, testPerDefect: 1 });
    const category = join(root, 'data', 'grain');
    await trainCategory({ category, out: join(root, 'm.intra'), preset: 'cpu', epochs: 1, windowsPerImage: 2, threads: 2 });
    const report = await evaluateCategory({ model: join(root, 'm.intra'), category, outDir: join(root, 'eval'), threads: 2 });
    expect(report.model_info.preset).toBe('cpu');
  }, 120_000);
});
