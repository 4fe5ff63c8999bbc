// A model trained on a GPU is the same model on the CPU: trained with --device cuda (bf16
// products), scored on the CPU and on the GPU, the scores agree to float rounding. Needs a
// CUDA device (skipped with the reason elsewhere); scripts/dev/gpu-run.sh interchange does the same on a device without the test runner.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { listImages } from '../lib/data/dataset.js';
import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { scoreFiles } from '../lib/infer/score.js';
import { capabilities } from '../lib/native.js';
import { trainCategory } from '../lib/train/train.js';

describe('a model trained on the GPU', () => {
  it('scores the same on the CPU as on the GPU', async (context) => {
    const caps = capabilities();
    if (!caps.cuda.built) context.skip("this build's libtorch has no CUDA");
    if (!caps.cuda.available) context.skip('no CUDA device is visible');
    const root = mkdtempSync(join(tmpdir(), 'intra-interchange-'));
    await synthesize(join(root, 'data'), { seed: 4, categories: ['weave'], size: 128, train: 12, testGood: 4, testPerDefect: 2 });
    const model = join(root, 'gpu.intra');
    await trainCategory({ category: join(root, 'data', 'weave'), out: model, preset: 'small', device: 'cuda', epochs: 2, windowsPerImage: 32, trainPrecision: 'bf16' });
    const files = await listImages([join(root, 'data', 'weave', 'test')]);
    const scores = async (device: 'cpu' | 'cuda') => {
      const engine = await Engine.load(model, { device, threads: 2, purpose: 'scoring' });
      const out = new Map<string, number>();
      for await (const line of scoreFiles(engine, files, {})) out.set(line.file, line.score!);
      engine.dispose();
      return out;
    };
    const cpu = await scores('cpu'), gpu = await scores('cuda');
    expect(cpu.size).toBe(files.length);
    for (const [file, score] of cpu) expect(Math.abs(score - gpu.get(file)!) / Math.max(1e-12, Math.abs(score)), file).toBeLessThan(1e-4);
  }, 300_000);
});
