// The fused kernels against their ATen references, with float64 as the truth: values and
// gradients on random shapes (odd sizes, MFSA's dqk != dv, kernels wider than the image),
// gradients by central differences in double, and bf16 within a stated bound.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { capabilities, checkKernel, type CheckedImplementation, type EngineOptions, gradcheckKernel, type KernelDevice, type KernelErrors, kernelFamilies, type KernelFamily, kernelOps, toleranceViolations } from '../lib/native.js';
import { Engine } from '../lib/engine.js';
import { stripes } from './fixtures.js';

// Every op's shapes come from the kernel registry (native/kernels/*/descriptor.cpp says why each
// is there), so these tests and intra-kernel-check cover the same ones.
const ops = kernelOps();
const opNamed = (name: string) => ops.find((o) => o.name === name)!;
const familyOps = (family: string) => kernelFamilies().find((f) => f.name === family)!.ops.map((o) => o.name);

const caps = capabilities();
const noCuda = !caps.cuda.built
  ? "this build's libtorch has no CUDA"
  : !caps.cuda.available
    ? 'no CUDA device is visible'
    : caps.fusedKernels.cuda === null
      ? 'the CUDA kernels are not in this build (nvcc was not found)'
      : '';
// Every implementation against the same float64 reference and tolerance rules
// (native/kernels/checks/harness.h): the CPU kernels, the CUDA kernels' own source run on CPU
// threads, and the CUDA kernels on a GPU where there is one.
const targets: { name: string; device: KernelDevice; impl: CheckedImplementation; skip: string }[] = [
  { name: 'cpu fused', device: 'cpu', impl: 'fused', skip: '' },
  { name: 'cuda kernels emulated on cpu threads', device: 'cpu', impl: 'cuda-emulated', skip: '' },
  { name: 'cuda fused', device: 'cuda', impl: 'fused', skip: noCuda },
];
for (const t of targets.filter((t) => t.skip)) console.warn(`kernels.test: skipping "${t.name}": ${t.skip}`);

function expectClose(errors: Record<string, KernelErrors>): void {
  for (const [name, e] of Object.entries(errors)) {
    expect(e.violations, `${name}: ${JSON.stringify(e)}`).toBe('');
    // The rules themselves, spelled out: float32 within twice the reference's own error
    // plus a few ulps of scale; double within 1e-12 of scale.
    expect(e.fused32).toBeLessThanOrEqual(2 * e.reference32 + 4 * 2 ** -23 * Math.max(1, e.scale));
    expect(e.fused64).toBeLessThanOrEqual(1e-12 * Math.max(1, e.scale));
  }
}

describe.each(targets)('$name', ({ device, impl, skip }) => {
  describe.skipIf(skip !== '').each(['softmax_attention', 'linear_attention'] as const)('%s', (op) => {
    it.each(opNamed(op).checkShapes)('matches the float64 reference, values and gradients, at [%i, %i, %i, %i, %i]', async (...shape) => {
      const errors = await checkKernel(op, shape, 11, { device, impl });
      expect(Object.keys(errors).sort()).toEqual(['grad0', 'grad1', 'grad2', 'out']);
      expectClose(errors);
    });

    it('passes a central-difference gradient check in double', async () => {
      for (const [i, shape] of opNamed(op).gradcheckShapes.entries()) expect(await gradcheckKernel(op, shape, 3 + i, { device, impl }), `${shape}`).toBeLessThan(1e-6);
    });
  });

  describe.skipIf(skip !== '').each(familyOps('filters'))('%s', (op) => {
    it.each(opNamed(op).checkShapes.map((s) => [s]))('matches the float64 reference at %j', async (shape) => {
      const errors = await checkKernel(op, shape, 5, { device, impl });
      expect(Object.keys(errors)).toContain('out');
      expectClose(errors);
    });

    // The smoothing filters have no backward (the anomaly map needs none): no gradient to check.
    if (opNamed(op).backward) {
      it('passes a central-difference gradient check in double', async () => {
        for (const shape of opNamed(op).gradcheckShapes) expect(await gradcheckKernel(op, shape, 2, { device, impl })).toBeLessThan(1e-6);
      });
    }
  });
});

// The CUDA softmax's two kernel sets under the emulation: the tensor-core window kernels (WMMA,
// emulated per warp) take 16-bit windows up to S = 64, the row kernels the rest; INTRA_CUDA_ATTENTION=rows
// keeps every problem on the row kernels. Both pass the checks, and their 16-bit errors differ:
// two different kernels ran.
describe('the emulated CUDA softmax kernels', () => {
  it('runs the tensor-core window kernels for 16-bit windows, the row kernels with INTRA_CUDA_ATTENTION=rows', async () => {
    const shape = [3, 2, 49, 64, 64];
    const windows = await checkKernel('softmax_attention', shape, 11, { impl: 'cuda-emulated' });
    const script = `import(${JSON.stringify(join(import.meta.dirname, '..', 'dist', 'lib', 'native.js'))}).then(async (n) => console.log(JSON.stringify(await n.checkKernel('softmax_attention', ${JSON.stringify(shape)}, 11, { impl: 'cuda-emulated' }))))`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, INTRA_CUDA_ATTENTION: 'rows' } });
    expect(run.status, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as Record<string, KernelErrors>;
    expectClose(windows);
    expectClose(rows);
    expect(windows.out!.fused32).toBe(rows.out!.fused32);  // float32: the row kernels either way
    expect(windows.out!.fusedBf16).not.toBe(rows.out!.fusedBf16);
    expect(windows.grad0!.fusedF16).not.toBe(rows.grad0!.fusedF16);
  });
});

// The standing mutation test: a deliberately wrong kernel, put in its family's dispatch table for
// one check (the same dispatch every run takes), must fail the float64 checks; the table is whole
// again afterwards.
describe.each(targets.filter((t) => !t.skip))('a wrong kernel under $name', ({ device, impl }) => {
  it.each(['softmax_attention', 'linear_attention'] as const)('%s: an output off by one part in 1024 fails the float32 and float64 rules', async (op) => {
    const wrong = await checkKernel(op, [2, 3, 13, 8, 5], 11, { device, impl, fault: 'output-scale' });
    expect(wrong.out!.violations).toMatch(/out float32: error/);
    expect(wrong.out!.violations).toMatch(/out float64: error/);
    expectClose(await checkKernel(op, [2, 3, 13, 8, 5], 11, { device, impl }));
  });

  it("gms: a gradient left out of the backward fails the gradient's rules and the central differences", async () => {
    const wrong = await checkKernel('gms', [2, 3, 16, 16], 5, { device, impl, fault: 'gradient-term' });
    expect(wrong.out!.violations).toBe('');
    expect(wrong.grad0!.violations).toBe('');
    expect(wrong.grad1!.violations).toMatch(/grad1 float32: error .*grad1 float64: error/);
    expect(await gradcheckKernel('gms', [2, 3, 7, 6], 2, { device, impl, fault: 'gradient-term' })).toBeGreaterThan(1e-3);
    expect(await gradcheckKernel('gms', [2, 3, 7, 6], 2, { device, impl })).toBeLessThan(1e-6);
  });

  it("layer_norm: its bias gradient left out fails that gradient's rules and the central differences", async () => {
    const wrong = await checkKernel('layer_norm', [33, 512], 5, { device, impl, fault: 'gradient-term' });
    for (const output of ['out', 'grad0', 'grad1']) expect(wrong[output]!.violations, output).toBe('');
    expect(wrong.grad2!.violations).toMatch(/grad2 float32: error .*grad2 float64: error/);
    expect(await gradcheckKernel('layer_norm', [5, 9], 2, { device, impl, fault: 'gradient-term' })).toBeGreaterThan(1e-3);
    expect(await gradcheckKernel('layer_norm', [5, 9], 2, { device, impl })).toBeLessThan(1e-6);
  });

  it('names a fault that does not apply to the op', async () => {
    await expect(checkKernel('ssim', [2, 1, 8, 8], 1, { device, impl, fault: 'gradient-term' })).rejects.toThrow("Expected fault output-scale (softmax_attention, linear_attention) or gradient-term (gms, layer_norm), not 'gradient-term' for ssim");
    expect(() => checkKernel('gms', [2, 1, 8, 8], 1, { device, impl, fault: 'off' as never })).toThrow("Expected one of output-scale, gradient-term for fault but received 'off'");
  });
});

// The element-wise row kernels of the CPU (bf16 rows read and written as they are, fp32
// arithmetic) against float64: layer norm (values, dx, dweight, dbias) and bias + GELU
// (values, dx, dbias); odd widths, one element. The engine's blocks use them where fused.
// Layer norm also as bf16 training runs it: float rows in, bf16 out and bf16 gradient back
// ("..._bf16_of_f32", held to the bf16 rule against the reference's cast of its float result).
const rowOps = [
  { op: 'layer_norm', name: /layer norm/, outputs: ['grad0', 'grad0_bf16_of_f32', 'grad1', 'grad1_bf16_of_f32', 'grad2', 'grad2_bf16_of_f32', 'out', 'out_bf16_of_f32'], describes: 'norm' },
  { op: 'bias_gelu', name: /bias \+ GELU/, outputs: ['grad0', 'grad1', 'out'], describes: 'activation' },
  { op: 'bias_add', name: /bias add/, outputs: ['grad0', 'grad1', 'out'], describes: 'bias' },
  { op: 'bias_residual', name: /bias add/, outputs: ['grad0', 'grad0_bf16_into_f32', 'grad1', 'grad1_bf16_into_f32', 'grad2', 'grad2_bf16_into_f32', 'out', 'out_bf16_into_f32'], describes: 'bias' },
] as const;
describe.each(rowOps)('$op', ({ op, outputs, describes }) => {
  describe.each(targets)('$name', ({ device, impl, skip }) => {
    it.skipIf(skip !== '').each(opNamed(op).checkShapes.map((s) => [s]))('matches the float64 reference, values and gradients, at %j', async (shape) => {
      const errors = await checkKernel(op, shape, 9, { device, impl });
      expect(Object.keys(errors).sort()).toEqual([...outputs]);
      expectClose(errors);
      // The mixed rows measured something: bf16 output, not a float one.
      if (op === 'layer_norm') expect(errors.out_bf16_of_f32!.fusedBf16).toBeGreaterThan(0);
      // bf16 training's residual add: the bias gradient summed in float from the float gradient,
      // where the reference sums it in bf16 (rounded to bf16's 8 bits at the scale of the sum).
      if (op === 'bias_residual' && shape[0]! * shape[1]! > 1) {
        const bias = errors.grad1_bf16_into_f32!;
        expect(bias.fusedBf16).toBeLessThan(1e-4 * Math.max(1, bias.scale));
        expect(bias.fusedBf16).toBeLessThan(bias.referenceBf16);
      }
    });

    it.skipIf(skip !== '')('passes a central-difference gradient check in double', async () => {
      for (const [i, shape] of opNamed(op).gradcheckShapes.entries()) expect(await gradcheckKernel(op, shape, 3 + i, { device, impl })).toBeLessThan(1e-6);
    });
  });

  it('refuses a shape that is not [rows, features], before crossing into the addon', () => {
    expect(() => checkKernel(op, [2, 3, 4], 1)).toThrow(/Expected a shape \[rows, features\] of positive integers for shape/);
  });

  it('runs in the blocks of an engine as the kernels asked for, and the ATen composite for the reference', () => {
    const config = { preset: 'tiny' as const, imageSize: 64 };
    for (const [kernels, expected] of [['auto', 'fused'], ['reference', 'reference'], ['cuda-emulated', 'cuda-emulated']] as const) {
      const engine = Engine.create(config, {}, { kernels, threads: 1 });
      try {
        expect(engine.describe().families[describes], kernels).toBe(expected);
      } finally {
        engine.dispose();
      }
    }
  });
});

// Adam's fused update (one pass over every parameter) against libtorch's own step, with
// float64 as the truth: parameters and moments after three steps, ragged sizes (one element;
// 3 x ~70k, so that one thread's range crosses parameters; the CUDA kernel's slices cut them).
describe('adam', () => {
  describe.each(targets)('$name', ({ device, impl, skip }) => {
    it.skipIf(skip !== '').each([[[1, 1]], [[5, 1001]], [[3, 70_001]]])('matches the float64 reference at %j', async (shape) => {
      const errors = await checkKernel('adam', shape, 7, { device, impl });
      expect(Object.keys(errors).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'param', 'working']);
      expectClose(errors);
      // The parameters moved: a check of nothing cannot pass.
      expect(errors.param!.scale).toBeGreaterThan(0);
      // bf16 training's update (bf16 gradients, which every run draws as bf16 values): the float
      // master moves exactly as with float gradients, and the working copy is it rounded once.
      expect(errors.working!.fused32).toBe(errors.param!.fused32);
      expect(errors.working!.reference32).toBe(errors.param!.reference32);
      expect(errors.working!.fusedBf16).toBeGreaterThan(0);  // rounded to bf16, not the float itself
      expect(errors.working!.fusedBf16).toBeLessThan(2 ** -8 * Math.max(1, errors.working!.scale));
    });
  });

  it('refuses a shape that is not [parameters, elements], before crossing into the addon', () => {
    expect(() => checkKernel('adam', [2, 3, 4], 1)).toThrow(/Expected a shape \[parameters, elements\] of positive integers for shape/);
  });

  it('steps an engine with the kernels asked for, and libtorch steps it for the reference', () => {
    const config = { preset: 'tiny' as const, imageSize: 64 };
    const cases = [['auto', 'fused'], ['reference', 'reference'], ['cuda-emulated', 'cuda-emulated']] as const;
    for (const [kernels, optimizer] of cases) {
      const engine = Engine.create(config, {}, { kernels, threads: 1 });
      try {
        expect(engine.describe().families.optimizer, kernels).toBe(optimizer);
      } finally {
        engine.dispose();
      }
    }
  });

  // bf16 training hands one update float gradients (norms, embeddings) and bf16 ones (the
  // products' working copies): the CUDA Adam groups them, one launch per gradient type.
  it.skipIf(!caps.bf16)('trains in bf16 with the emulated CUDA kernels as with the CPU kernels, working copies rewritten', async () => {
    const images = stripes(2, 64, 3);
    const run = async (kernels: 'cuda-emulated' | 'fused') => {
      // Attention and the filters on their reference in both runs: the row families and Adam are under test.
      const engine = Engine.create({ preset: 'tiny', channels: 1, attention: 'msa' }, { seed: 9, batchSize: 16, learningRate: 1e-3, trainPrecision: 'bf16' },
        { threads: 2, kernels, referenceFor: ['attention', 'filters'] });
      const families = engine.describe().families;
      await engine.setTrainingImages(images);
      const losses = [(await engine.trainSteps(1)).loss, (await engine.trainSteps(1)).loss, (await engine.trainSteps(1)).loss];
      engine.dispose();
      return { families, losses };
    };
    const emulated = await run('cuda-emulated'), cpu = await run('fused');
    expect([emulated.families.optimizer, emulated.families.weights]).toEqual(['cuda-emulated', 'cuda-emulated']);
    expect(Math.abs(emulated.losses[0]! - cpu.losses[0]!) / cpu.losses[0]!).toBeLessThan(1e-2);
    emulated.losses.slice(1).forEach((l, i) => expect(Math.abs(l - cpu.losses[i + 1]!) / cpu.losses[i + 1]!, `step ${i + 2}`).toBeLessThan(2e-2));
    // The updates happened: the loss moved from its first value.
    expect(emulated.losses[2]).not.toBe(emulated.losses[0]);
  });
});

describe('intra-kernel-check (the node-free tool for GPU machines)', () => {
  it('checks the CPU kernels at other seeds than these tests, prints JSON lines and a closing count, exits 0', () => {
    const run = spawnSync('build/intra-kernel-check', ['--threads', '2'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    const records = lines.slice(0, -1).map((l) => JSON.parse(l) as { pass: boolean; op?: string; gradcheck?: string });
    expect(new Set(records.map((r) => r.op ?? r.gradcheck))).toEqual(new Set(ops.map((o) => o.name)));
    // every shape of the registry, each op's outputs
    for (const op of ops) expect(new Set(records.filter((r) => r.op === op.name).map((r) => JSON.stringify((r as { shape?: number[] }).shape))), op.name).toEqual(new Set(op.checkShapes.map((x) => JSON.stringify(x))));
    expect(records.every((r) => r.pass)).toBe(true);
    expect(run.status).toBe(0);
  });

  // The CPU runs its best set; INTRA_CPU_KERNELS narrows it, so that every set this CPU can
  // run (AVX2 and baseline ones on an AVX-512 machine) is held to the same float64 checks.
  const sets = ['avx512_bf16', 'avx512', 'avx2', 'generic'];
  const runnable = sets.slice(Math.max(0, sets.indexOf(caps.fusedKernels.cpu)));
  it.each(runnable)('holds the %s CPU kernel set to the same checks', (set) => {
    const run = spawnSync('build/intra-kernel-check', ['--threads', '2'], { encoding: 'utf8', env: { ...process.env, INTRA_CPU_KERNELS: set } });
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    const records = lines.slice(0, -1).map((l) => JSON.parse(l) as { pass: boolean; cpuKernels?: string });
    expect(new Set(records.filter((r) => r.cpuKernels !== undefined).map((r) => r.cpuKernels))).toEqual(new Set([set]));
    expect(run.status).toBe(0);
  });

  it('refuses an unknown CPU kernel set by name', () => {
    const run = spawnSync('build/intra-kernel-check', [], { encoding: 'utf8', env: { ...process.env, INTRA_CPU_KERNELS: 'sse9' } });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Expected one of avx512_bf16, avx512, avx2, generic for INTRA_CPU_KERNELS but received 'sse9'/);
  });

  it('refuses an unknown device with a clear error and exit code 2', () => {
    const run = spawnSync('build/intra-kernel-check', ['--device', 'tpu'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Expected one of cpu, cuda for device but received 'tpu'/);
  });
});

describe('the tolerance rules', () => {
  const fine: KernelErrors = { fused32: 1e-7, reference32: 1e-7, fused64: 1e-15, fusedBf16: 1e-3, referenceBf16: 1e-3, fusedF16: 1e-4, referenceF16: 1e-4, scale: 1, violations: '' };
  it('pass errors within their bounds', () => {
    expect(toleranceViolations('out', fine)).toBe('');
  });
  it.each([
    ['float32', { fused32: 3e-7 + 4 * 2 ** -23 }],
    ['float64', { fused64: 2e-12 }],
    ['bf16', { fusedBf16: 2e-3 + 2 ** -8 + 2 ** -16 + 1e-6 }],
    ['fp16', { fusedF16: 2e-4 + 2 ** -11 + 2 ** -22 + 1e-6 }],
    ['float32', { fused32: Number.NaN }],
  ])('name the output and the precision whose %s error is past its bound', (precision, change) => {
    expect(toleranceViolations('grad1', { ...fine, ...change })).toMatch(new RegExp(`^grad1 ${precision}: error`));
  });
  it('hold a 16-bit output below 1 to its own scale, not to an absolute rounding', () => {
    // values up to 0.01: one bf16 rounding of them is 4e-5; an error of 1e-3 beyond twice the
    // reference's is 25 such roundings (an absolute 2^-8 would have let it pass)
    const small = { ...fine, scale: 0.01, referenceBf16: 1e-5, fusedBf16: 1e-3, referenceF16: 1e-6, fusedF16: 2e-6 };
    expect(toleranceViolations('out', small)).toMatch(/^out bf16: error/);
    expect(toleranceViolations('out', { ...small, fusedBf16: 2e-5 + 0.01 * 2 ** -8 })).toBe('');
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
    expect(['avx512_bf16', 'avx512', 'avx2', 'generic']).toContain(capabilities().fusedKernels.cpu);
  });

  it('reads bf16 with bf16 dot products on every CPU that has them', () => {
    const features = caps.cpu.features;
    const expected = features.includes('avx512_bf16') ? 'avx512_bf16' : features.includes('avx512bw') ? 'avx512' : features.includes('avx2') ? 'avx2' : 'generic';
    expect(caps.fusedKernels.cpu).toBe(expected);
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

  // --ablate's engines: our kernels with some families on their reference. All five on their
  // reference is the reference engine, bit for bit; leaving any one of them fused changes the
  // losses (Adam excepted: our fused step matches libtorch's bit for bit here, so only describe()
  // tells it apart).
  it('keeps the families referenceFor names on their reference, and only those', async () => {
    // Irregular grey values (stripes are regular enough for bias + GELU to round alike both ways).
    const data = Uint8Array.from({ length: 3 * 64 * 64 }, (_, i) => (Math.sin(i * 0.37) * 60 + 128 + (i % 7) * 9) & 255);
    const images = { data, count: 3, height: 64, width: 64, channels: 1 };
    const run = async (options: EngineOptions) => {
      const engine = Engine.create({ preset: 'tiny', channels: 1, attention: 'mfsa' }, { seed: 5, batchSize: 16, learningRate: 1e-3 }, { threads: 2, ...options });
      await engine.setTrainingImages(images);
      const losses: number[] = [];
      for (let i = 0; i < 3; i++) losses.push((await engine.trainSteps(2)).loss);
      await engine.fitNormalStatistics();
      const scores = Array.from((await engine.anomalyMaps(images)).scores);
      const described = engine.describe().families;
      engine.dispose();
      return { losses, scores, described };
    };
    const reference = await run({ kernels: 'reference' });
    const families = kernelFamilies().map((f) => f.name);
    expect(families).toEqual(['attention', 'filters', 'norm', 'activation', 'bias', 'optimizer', 'weights']);
    const allReference = await run({ referenceFor: families });
    expect(allReference.losses).toEqual(reference.losses);
    expect(allReference.scores).toEqual(reference.scores);
    expect(Object.values(allReference.described)).toEqual(['reference', 'reference', 'reference', 'reference', 'reference', 'reference', 'reference']);
    // weights: bf16 training's working copies, which fp32 training has not (tested on their own).
    for (const family of families.filter((f) => f !== 'weights')) {
      const oneFused = await run({ referenceFor: families.filter((f) => f !== family) });
      expect(oneFused.described).toEqual({ ...allReference.described, [family]: 'fused' });
      if (family !== 'optimizer') expect(oneFused.losses, family).not.toEqual(reference.losses);
    }
    const oneReference = await run({ referenceFor: ['norm'] });
    expect(oneReference.described).toEqual({ attention: 'fused', filters: 'fused', norm: 'reference', activation: 'fused', bias: 'fused', optimizer: 'fused', weights: 'reference' });
    expect(() => Engine.create({ preset: 'tiny', channels: 1 }, {}, { threads: 1, referenceFor: ['softmax' as KernelFamily] }))
      .toThrow("Expected one of attention, filters, norm, activation, bias, optimizer, weights for referenceFor but received 'softmax'");
    expect(() => Engine.create({ preset: 'tiny', channels: 1 }, {}, { threads: 1, referenceFor: 'norm' as unknown as KernelFamily[] }))
      .toThrow("Expected an array of strings for referenceFor but received 'norm'");
  });

  // bf16 training with the fused Adam: the products read bf16 working copies that the update
  // rewrites, instead of autocast casting each fp32 master every step and its gradient back.
  // Both round to nearest even and the bf16 gradient widens exactly, so the first update is
  // the one the same Adam with autocast's casts gives (referenceFor: weights), bit for bit:
  // the second step's loss, computed on it, is equal. Later steps drift by rounding (the two
  // autograd graphs differ, and so does the order in which some gradients are summed), through
  // keepBest/restoreBest and a save and resume too; the casts left say the copies were used.
  it('trains in bf16 on working copies of the weights as with autocast casting the masters', async (context) => {
    if (!caps.bf16) context.skip('this CPU has no bf16 matrix products (avx512_bf16 or AMX)');
    const data = Uint8Array.from({ length: 3 * 64 * 64 }, (_, i) => (Math.sin(i * 0.37) * 60 + 128 + (i % 7) * 9) & 255);
    const images = { data, count: 3, height: 64, width: 64, channels: 1 };
    const dir = mkdtempSync(join(tmpdir(), 'intra-working-'));
    const run = async (options: EngineOptions, tag: string) => {
      const engine = Engine.create({ preset: 'tiny', channels: 1, attention: 'mfsa' }, { seed: 5, batchSize: 16, learningRate: 1e-3, trainPrecision: 'bf16' }, { threads: 2, ...options });
      await engine.setTrainingImages(images);
      await engine.setValidationImages(images, { windowsPerImage: 4 });
      engine.setProfiling(true, { ops: true });
      const first = [(await engine.trainSteps(1)).loss, (await engine.trainSteps(1)).loss];
      const casts = engine.takeOpProfile().find((o) => o.name === 'aten::_to_copy')?.calls ?? 0;
      engine.setProfiling(false);
      await engine.keepBest();
      const later = [(await engine.trainSteps(4)).loss, (await engine.validate()).loss];
      await engine.restoreBest();
      later.push((await engine.trainSteps(4)).loss, (await engine.validate()).loss);
      const path = join(dir, `${tag}.intra`);
      await engine.save(path);
      const { optimizer, weights } = engine.describe().families;
      engine.dispose();
      const resumed = await Engine.load(path, { threads: 2, ...options });
      await resumed.setTrainingImages(images);
      later.push((await resumed.trainSteps(4)).loss);
      await resumed.fitNormalStatistics();
      const scores = Array.from((await resumed.anomalyMaps(images)).scores);
      resumed.dispose();
      return { first, later, scores, casts, optimizer, weights };
    };
    const working = await run({}, 'working');
    const autocast = await run({ referenceFor: ['weights'] }, 'autocast');
    expect([working.weights, autocast.weights, autocast.optimizer]).toEqual(['fused', 'reference', 'fused']);
    expect(working.first).toEqual(autocast.first);
    working.later.forEach((l, i) => expect(Math.abs(l - autocast.later[i]!) / autocast.later[i]!, `loss ${i}`).toBeLessThan(2e-3));
    const top = Math.max(...autocast.scores);
    working.scores.forEach((s, i) => expect(Math.abs(s - autocast.scores[i]!)).toBeLessThan(2e-2 * top));
    // Per step autocast casts every weight and bias of the products (and the backward casts
    // their gradients back); with working copies those casts are gone.
    expect(working.casts).toBeLessThan(autocast.casts * 0.75);
  });

  it('trains and scores with the CUDA kernels emulated on CPU threads as with the reference', async () => {
    const images = stripes(2, 64, 3);
    const run = async (kernels: 'cuda-emulated' | 'reference') => {
      const engine = Engine.create({ preset: 'tiny', channels: 1, attention: 'msa' }, { seed: 9, batchSize: 16, learningRate: 1e-3 }, { threads: 2, kernels });
      expect(engine.describe().kernels).toBe(kernels);
      await engine.setTrainingImages(images);
      const first = (await engine.trainSteps(1)).loss;
      const later = (await engine.trainSteps(2)).loss;
      await engine.fitNormalStatistics();
      const { scores } = await engine.anomalyMaps(images);
      engine.dispose();
      return { first, later, scores: Array.from(scores) };
    };
    const emulated = await run('cuda-emulated'), reference = await run('reference');
    expect(Math.abs(emulated.first - reference.first) / reference.first).toBeLessThan(1e-5);
    expect(Math.abs(emulated.later - reference.later) / reference.later).toBeLessThan(1e-2);
    const top = Math.max(...reference.scores);
    emulated.scores.forEach((s, i) => expect(Math.abs(s - reference.scores[i]!)).toBeLessThan(2e-2 * top));
  });
});
