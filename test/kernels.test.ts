// The fused kernels against their ATen references, with float64 as the truth: values and
// gradients on random shapes (odd sizes, MFSA's dqk != dv, kernels wider than the image),
// gradients by central differences in double, and bf16 within a stated bound.
import { describe, expect, it } from 'vitest';

import { capabilities, checkKernel, Engine, gradcheckKernel, type KernelErrors, type KernelOp } from '../lib/native.js';
import { stripes } from './fixtures.js';

const attentionShapes = [
  [1, 1, 1, 1, 1],
  [2, 3, 13, 8, 5],
  [3, 2, 49, 64, 64],
  [1, 2, 50, 32, 64],  // MFSA: queries and keys D/2 wide
  [2, 1, 97, 17, 9],
  [1, 1, 1024, 16, 16],
];
const filterShapes: Record<string, number[][]> = {
  gms: [[2, 3, 16, 16], [3, 1, 17, 9], [1, 3, 8, 31], [2, 1, 5, 5]],
  ssim: [[2, 3, 16, 16], [3, 1, 17, 9], [1, 3, 8, 31], [2, 1, 5, 5]],
  blur: [[2, 1, 33, 20, 11], [1, 3, 9, 7, 21]],
  mean_filter: [[2, 1, 33, 20, 11], [1, 3, 9, 7, 21]],
};

/**
 * float32: within twice the reference's own float32 error, plus a floor of a few float32
 * ulps of the output's scale (llm.c / flash-attention style).
 * float64: within 1e-12 of the scale (the same arithmetic in another order).
 * bf16: the fused kernel rounds its result to bf16 (8 bits), the reference check does not:
 * within twice the reference's bf16-input error plus one bf16 rounding of the scale.
 */
function expectClose(name: string, e: KernelErrors): void {
  const floor = 4 * 2 ** -23 * Math.max(1, e.scale);
  expect(e.fused32, `${name} float32`).toBeLessThanOrEqual(2 * e.reference32 + floor);
  expect(e.fused64, `${name} float64`).toBeLessThanOrEqual(1e-12 * Math.max(1, e.scale));
  expect(e.fusedBf16, `${name} bf16`).toBeLessThanOrEqual(2 * e.referenceBf16 + 2 ** -8 * Math.max(1, e.scale));
}

describe.each(['softmax_attention', 'linear_attention'] as const)('%s', (op) => {
  it.each(attentionShapes)('matches the float64 reference, values and gradients, at [%i, %i, %i, %i, %i]', async (...shape) => {
    const errors = await checkKernel(op, shape, 11);
    expect(Object.keys(errors).sort()).toEqual(['grad0', 'grad1', 'grad2', 'out']);
    for (const [name, e] of Object.entries(errors)) expectClose(`${op} ${shape.join('x')} ${name}`, e);
  });

  it('passes a central-difference gradient check in double', async () => {
    expect(await gradcheckKernel(op, [2, 2, 7, 5, 3], 3)).toBeLessThan(1e-6);
    expect(await gradcheckKernel(op, [1, 1, 9, 4, 6], 4)).toBeLessThan(1e-6);
  });
});

describe.each(Object.keys(filterShapes) as KernelOp[])('%s', (op) => {
  it.each(filterShapes[op]!.map((s) => [s]))('matches the float64 reference at %j', async (shape) => {
    const errors = await checkKernel(op, shape, 5);
    for (const [name, e] of Object.entries(errors)) expectClose(`${op} ${shape.join('x')} ${name}`, e);
    expect(Object.keys(errors)).toContain('out');
  });

  it.runIf(op === 'gms' || op === 'ssim')('passes a central-difference gradient check in double', async () => {
    expect(await gradcheckKernel(op, [2, 3, 7, 6], 2)).toBeLessThan(1e-6);
  });
});

describe('the engine with fused and reference kernels', () => {
  it('says which kernels it runs', () => {
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, {}, { threads: 1 });
    expect(engine.describe().kernels).toBe('fused');
    engine.dispose();
    const reference = Engine.create({ preset: 'tiny', channels: 1 }, {}, { threads: 1, kernels: 'reference' });
    expect(reference.describe().kernels).toBe('reference');
    reference.dispose();
    expect(['avx512', 'avx2', 'generic']).toContain(capabilities().fusedKernels);
  });

  it.each(['msa', 'mfsa', 'linear'] as const)('trains and scores alike with %s attention', async (attention) => {
    const images = stripes(4, 64, 3);
    const path = `${process.env.TMPDIR ?? '/tmp'}/intra-kernels-${attention}-${process.pid}.intra`;
    const run = async (kernels: 'fused' | 'reference') => {
      const engine = Engine.create({ preset: 'tiny', channels: 1, attention }, { seed: 5, batchSize: 32, learningRate: 1e-3 }, { threads: 2, kernels });
      await engine.setTrainingImages(images);
      const losses: number[] = [(await engine.trainSteps(1)).loss];  // before any update
      for (let i = 0; i < 5; i++) losses.push((await engine.trainSteps(4)).loss);
      await engine.fitNormalStatistics();
      const { scores } = await engine.anomalyMaps(images);
      if (kernels === 'reference') await engine.save(path);
      engine.dispose();
      return { losses, scores: Array.from(scores) };
    };
    const fused = await run('fused'), reference = await run('reference');
    // Same seed, same first batch: the first loss differs by rounding only. Later ones drift:
    // Adam moves a weight by about lr whatever its gradient's size, so rounding-level
    // differences in near-zero gradients become differences of lr at once.
    expect(Math.abs(fused.losses[0]! - reference.losses[0]!) / reference.losses[0]!).toBeLessThan(1e-5);
    fused.losses.forEach((l, i) => expect(Math.abs(l - reference.losses[i]!) / reference.losses[i]!).toBeLessThan(1e-2));
    const top = Math.max(...reference.scores);
    fused.scores.forEach((s, i) => expect(Math.abs(s - reference.scores[i]!)).toBeLessThan(2e-2 * top));
    // The same weights scored by both: maps agree to float rounding.
    const [a, b] = [await Engine.load(path, { threads: 2, kernels: 'fused' }), await Engine.load(path, { threads: 2, kernels: 'reference' })];
    const [sa, sb] = [await a.anomalyMaps(images), await b.anomalyMaps(images)];
    sa.scores.forEach((s, i) => expect(Math.abs(s - sb.scores[i]!)).toBeLessThan(1e-4 * Math.max(...sb.scores)));
    a.dispose();
    b.dispose();
  });
});
