// End to end on synthetic data with the tiny preset: train, score, evaluate, resume, bad input.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { runCli } from '../lib/cli/index.js';
import { synthesize } from '../lib/data/synth.js';
import { evaluateCategory, type Report } from '../lib/eval/evaluate.js';
import { capabilities } from '../lib/native.js';
import { Engine } from '../lib/engine.js';
import { trainCategory, type TrainOptions } from '../lib/train/train.js';

const root = mkdtempSync(join(tmpdir(), 'intra-e2e-'));
const data = join(root, 'data');
const recipe = { preset: 'tiny', epochs: 6, patience: 6, windowsPerImage: 48, batchSize: 64, learningRate: 1e-3, threads: 2, seed: 1 } satisfies Partial<TrainOptions>;

beforeAll(async () => {
  await synthesize(data, { seed: 7, categories: ['weave', 'grain'], size: 64, train: 12, testGood: 6, testPerDefect: 3 });
  await trainCategory({ ...recipe, category: join(data, 'weave'), out: join(root, 'weave.intra') });
});

afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

describe('train, evaluate', () => {
  let report: Report;
  beforeAll(async () => {
    report = await evaluateCategory({ model: join(root, 'weave.intra'), category: join(data, 'weave'), outDir: join(root, 'eval-weave'), threads: 2 });
  });

  it('detects and localises the defects of the easiest category', () => {
    expect(report.image_auroc).toBeGreaterThanOrEqual(0.9);
    expect(report.pixel_auroc).toBeGreaterThanOrEqual(0.9);
  });

  it('writes report.json with the figures overall and per defect type, a markdown table and panels', () => {
    // (test/evaluate-independent.test.ts recomputes the figures themselves)
    const json = JSON.parse(readFileSync(join(root, 'eval-weave', 'report.json'), 'utf8')) as Report;
    for (const key of ['image_auroc', 'pixel_auroc', 'aupro', 'image_f1_max'] as const) {
      expect(json[key], key).toBe(report[key]);
      for (const [defect, m] of Object.entries(json.by_defect)) expect(m[key], `${defect} ${key}`).toBe(report.by_defect[defect]![key]);
    }
    expect(Object.keys(json.by_defect).sort()).toEqual(['scratch', 'spot', 'stain']);
    expect(readFileSync(join(root, 'eval-weave', 'report.md'), 'utf8')).toContain('| all | 15 |');
    expect(json.panels.length).toBeGreaterThan(0);
    for (const panel of json.panels) expect(existsSync(panel)).toBe(true);
  });

  it('stores the best epoch, the training statistics and a threshold in the model', async () => {
    const engine = await Engine.load(join(root, 'weave.intra'));
    const state = engine.metadata<{ state: string; threshold: number; bestEpoch: number; history: unknown[] }>();
    expect(state.state).toBe('done');
    expect(state.threshold).toBeGreaterThan(0);
    expect(state.history).toHaveLength(6);
    expect(engine.describe().hasNormalStatistics).toBe(true);
    engine.dispose();
  });

  it('evaluates --all as the paper\'s Table 1', async () => {
    const models = join(root, 'models');
    mkdirSync(models, { recursive: true });
    copyFileSync(join(root, 'weave.intra'), join(models, 'weave.intra'));
    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await runCli(['eval', '--all', data, '--models', models, '--out', join(root, 'eval-all')]);
    expect(process.exitCode).toBeUndefined();
    const table = printed.join('\n');
    expect(table).toMatch(/Category\s+Det\. \/ Seg\./);
    expect(table).toMatch(/weave\s+\d+\.\d \/\s+\d+\.\d/);
    expect(table).toContain('avg. all');
  });
});

describe('scoring', () => {
  it('streams JSON lines, writes maps, reports bad files and goes on', async () => {
    const inputs = join(root, 'incoming');
    mkdirSync(inputs, { recursive: true });
    for (const name of readdirSync(join(data, 'weave', 'test', 'spot'))) copyFileSync(join(data, 'weave', 'test', 'spot', name), join(inputs, `spot-${name}`));
    copyFileSync(join(data, 'weave', 'test', 'good', '000.png'), join(inputs, 'good-000.png'));
    writeFileSync(join(inputs, 'broken.png'), 'not an image');
    const whole = readFileSync(join(data, 'weave', 'test', 'good', '001.png'));
    writeFileSync(join(inputs, 'truncated.png'), whole.subarray(0, whole.length >> 1));
    copyFileSync(join(data, 'grain', 'train', 'good', '000.png'), join(inputs, 'grey.png'));
    const out = join(root, 'scores.jsonl');
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await runCli(['score', join(root, 'weave.intra'), inputs, join(root, 'no-such-file.png'), '--out', out, '--maps', join(root, 'maps'), '--batch', '2', '--threads', '2']);
    expect(process.exitCode).toBe(1);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; score?: number; anomalous?: boolean; ms?: number; error?: string; code?: string });
    expect(lines).toHaveLength(8);
    const byName = (n: string) => lines.find((l) => l.file.endsWith(n))!;
    expect(byName('broken.png').error).toContain(`Cannot read ${join(inputs, 'broken.png')}`);
    expect(byName('truncated.png').error).toContain(join(inputs, 'truncated.png'));
    expect(byName('grey.png')).toMatchObject({ code: 'INTRA_CHANNELS' });
    expect(byName('no-such-file.png').error).toContain('no such file');
    const scored = lines.filter((l) => l.score !== undefined);
    expect(scored).toHaveLength(4);
    for (const l of scored) {
      expect(typeof l.anomalous).toBe('boolean');
      expect(l.ms).toBeGreaterThan(0);
    }
    expect(byName('spot-000.png').score!).toBeGreaterThan(byName('good-000.png').score!);
    expect(readdirSync(join(root, 'maps')).filter((f) => f.endsWith('.overlay.png'))).toHaveLength(4);
    const meta = await sharp(join(root, 'maps', readdirSync(join(root, 'maps')).find((f) => f.endsWith('.map.png'))!)).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([64, 64, 1]);
  });
});

describe('resume', () => {
  it('continues an interrupted run to the same epochs as an uninterrupted one', async () => {
    const options = { ...recipe, epochs: 3, patience: 3, category: join(data, 'grain') };
    const whole = await trainCategory({ ...options, out: join(root, 'grain-whole.intra') });
    const controller = new AbortController();
    const first = await trainCategory({
      ...options,
      out: join(root, 'grain-split.intra'),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.epoch === 2 && p.step >= 4) controller.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(first.state.epoch).toBe(1);
    const resumed = await trainCategory({ ...options, out: join(root, 'grain-split.intra'), resume: true });
    expect(resumed.interrupted).toBe(false);
    expect(resumed.state.history.map((h) => h.validation.loss)).toEqual(whole.state.history.map((h) => h.validation.loss));
    resumed.state.history.forEach((h, i) => expect(h.train.loss).toBeCloseTo(whole.state.history[i]!.train.loss, 9));
    expect(resumed.state.bestEpoch).toBe(whole.state.bestEpoch);
    expect(resumed.state.threshold).toBe(whole.state.threshold);
  });
});

describe('bad input', () => {
  it('names the missing folder and the empty training set', async () => {
    await expect(trainCategory({ ...recipe, category: join(root, 'nothing'), out: join(root, 'x.intra') })).rejects.toThrow(`Category folder ${join(root, 'nothing')} does not exist`);
    mkdirSync(join(root, 'empty', 'train', 'good'), { recursive: true });
    await expect(trainCategory({ ...recipe, category: join(root, 'empty'), out: join(root, 'x.intra') })).rejects.toThrow('train/good holds no images');
  });

  it('names an unreadable training image', async () => {
    const dir = join(root, 'badtrain');
    mkdirSync(join(dir, 'train', 'good'), { recursive: true });
    for (const name of ['000.png', '001.png', '002.png']) copyFileSync(join(data, 'weave', 'train', 'good', name), join(dir, 'train', 'good', name));
    writeFileSync(join(dir, 'train', 'good', '003.png'), 'garbage');
    await expect(trainCategory({ ...recipe, category: dir, out: join(root, 'bad.intra') })).rejects.toThrow(`Cannot read ${join(dir, 'train', 'good', '003.png')}`);
  });

  it('names a model whose channels do not fit the data, and a mask of another size', async () => {
    await expect(evaluateCategory({ model: join(root, 'weave.intra'), category: join(data, 'grain'), outDir: join(root, 'e1') })).rejects.toThrow(/it is grey but the model expects colour/);
    const dir = join(root, 'badmask');
    mkdirSync(join(dir, 'test', 'spot'), { recursive: true });
    mkdirSync(join(dir, 'ground_truth', 'spot'), { recursive: true });
    copyFileSync(join(data, 'weave', 'test', 'spot', '000.png'), join(dir, 'test', 'spot', '000.png'));
    await sharp(new Uint8Array(32 * 32), { raw: { width: 32, height: 32, channels: 1 } }).toColourspace('b-w').png().toFile(join(dir, 'ground_truth', 'spot', '000_mask.png'));
    await expect(evaluateCategory({ model: join(root, 'weave.intra'), category: dir, outDir: join(root, 'e2') })).rejects.toThrow(
      `Mask ${join(dir, 'ground_truth', 'spot', '000_mask.png')} is 32x32 but its image ${join(dir, 'test', 'spot', '000.png')} is 64x64`,
    );
  });

  it('exits non-zero with a clear message from the CLI', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    await runCli(['train', join(root, 'nothing'), '--out', join(root, 'y.intra'), '--preset', 'tiny']);
    expect(process.exitCode).toBe(1);
    expect(errors.join('\n')).toContain(`intra: Category folder ${join(root, 'nothing')} does not exist [INTRA_DATASET]`);
  });
});

describe('training details', () => {
  it('picks the image size by the paper\'s rule', async () => {
    const { chooseImageSize } = await import('../lib/train/train.js');
    expect(chooseImageSize(new Map([[256, 0.0100], [320, 0.00995], [512, 0.0090]]))).toBe(256);  // 320 beats 256 by < 1e-4
    expect(chooseImageSize(new Map([[256, 0.0100], [320, 0.0098], [512, 0.00975]]))).toBe(320);
    expect(chooseImageSize(new Map([[256, 0.0100], [320, 0.0098], [512, 0.0090]]))).toBe(512);
  });

  it('writes one JSON line per epoch', () => {
    const lines = readFileSync(join(root, 'weave.intra.log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; validation: { loss: number } });
    expect(lines.map((l) => l.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(lines[0]!.validation.loss).toBeGreaterThan(0);
  });
});

describe('bf16 inference', () => {
  it('changes scores by a bounded amount and the AUROC hardly at all', async (context) => {
    if (!capabilities().bf16) context.skip('this CPU has no bf16 matrix products (avx512_bf16 or AMX)');
    const fp32 = await evaluateCategory({ model: join(root, 'weave.intra'), category: join(data, 'weave'), outDir: join(root, 'eval-fp32'), threads: 2 });
    const bf16 = await evaluateCategory({ model: join(root, 'weave.intra'), category: join(data, 'weave'), outDir: join(root, 'eval-bf16'), threads: 2, precision: 'bf16' });
    let worst = 0;
    fp32.scores.forEach((s, i) => (worst = Math.max(worst, Math.abs(s.score - bf16.scores[i]!.score) / s.score)));
    // The stated bound: anomaly scores within 25% of fp32 (the map squares a difference of
    // diffs, which doubles bf16's relative error), image and pixel AUROC within 0.02.
    expect(worst).toBeLessThan(0.25);
    expect(Math.abs(bf16.image_auroc! - fp32.image_auroc!)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(bf16.pixel_auroc! - fp32.pixel_auroc!)).toBeLessThanOrEqual(0.02);
    console.log(`bf16 vs fp32 on synthetic weave: largest relative score difference ${worst.toFixed(4)}, image AUROC ${fp32.image_auroc} -> ${bf16.image_auroc}, pixel AUROC ${fp32.pixel_auroc?.toFixed(4)} -> ${bf16.pixel_auroc?.toFixed(4)}`);
  });
});
