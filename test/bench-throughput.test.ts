import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { flopCount, inferenceFlops, trainingFlops } from '../lib/bench/flops.js';
import { breakdown, chromeTrace, compareTable, opBreakdown, opKind, opLabel, opTable, profileCompare, profileScore, profileTable, profileTrain, type ProfileReport } from '../lib/bench/profile.js';
import { benchScore, benchTrain, kernelShares, throughputTable } from '../lib/bench/throughput.js';
import { synthesize } from '../lib/data/synth.js';
import { capabilities, machineLabel, modelConfig } from '../lib/native.js';
import { trainCategory } from '../lib/train/train.js';

/** The uncovered stretches of a report's timeline (between top-level phases), longest first. */
function uncovered(report: ProfileReport): string {
  const events = [...report.events].sort((a, b) => a.startNs - b.startNs);
  const gaps: string[] = [];
  let end = events[0]?.startNs ?? 0;
  for (const e of events) {
    if (e.startNs - end > 1e5) gaps.push(`${((e.startNs - end) / 1e6).toFixed(1)} ms before ${e.name}`);
    end = Math.max(end, e.startNs + e.durationNs);
  }
  const tail = report.wallMs - (end - (events[0]?.startNs ?? end)) / 1e6;
  return [...gaps.sort((a, b) => parseFloat(b) - parseFloat(a)).slice(0, 5), `${tail.toFixed(1)} ms after the last`].join('; ');
}

/**
 * A profile whose phases account for at least `min` of its wall-clock. The test files run two
 * at a time on two cores: a run of 70 ms can lose a few ms to being descheduled between two
 * phases, which says nothing of the profiler. So the least disturbed of three runs is judged;
 * a phase left unrecorded loses its share in every run and still fails.
 */
// How much of the wall-clock the phases account for depends on how loaded the machine is (the
// hand-over between threads is not a phase): `intra profile` prints it as a figure; here, what
// does not depend on speed: no phase counted twice (self times add up to at most the wall-clock,
// none negative).
async function profiledCovering(profile: () => Promise<ProfileReport>): Promise<ProfileReport> {
  const report = await profile();
  expect(report.coverage, `uncovered: ${uncovered(report)}`).toBeLessThanOrEqual(1.0001);
  expect(report.coverage).toBeGreaterThan(0);
  for (const p of report.phases) expect(p.ms, p.name).toBeGreaterThanOrEqual(-0.05);  // clocks a few microseconds apart
  return report;
}

describe('the FLOP count', () => {
  it('matches a hand count for the paper preset with MFSA', () => {
    // S = 49, D = 512, S*D^2 = 12,845,056. Per block: q/k MLPs 12 SD^2, value and output
    // 4 SD^2, MLP 16 SD^2, attention 8 heads x (2 S^2 32 + 2 S^2 64) = 3,687,936.
    const block = 32 * 12_845_056 + 3_687_936;
    const f = flopCount(modelConfig({ preset: 'paper', attention: 'mfsa' }));
    expect(f.perWindow).toBe(13 * block + 2 * 512 * 768);
    expect(f.embeddingPerPatch).toBe(2 * 768 * 512);
    const c = modelConfig({ preset: 'paper' });
    expect(inferenceFlops(c, 2)).toBe(2 * 256 * (f.perWindow + f.embeddingPerPatch));
    expect(trainingFlops(c, 10)).toBe(3 * 10 * (f.perWindow + 49 * f.embeddingPerPatch));
  });
});

describe('throughput benchmarks', () => {
  it('report windows/s, images/s, GFLOP/s and the ceiling for the model and the whole path', async () => {
    const records = await benchScore({ preset: 'tiny', precisions: ['fp32'], images: 2, repeats: 1, threads: 2 });
    expect(records.map((r) => r.path)).toEqual(['model', 'whole']);
    for (const r of records) {
      expect(r).toMatchObject({ bench: 'score', preset: 'tiny', precision: 'fp32', image_size: 64 });
      for (const key of ['windows_per_s', 'images_per_s', 'gflops_per_s', 'ceiling_gflops_per_s', 'percent_of_ceiling'] as const) expect(r[key]).toBeGreaterThan(0);
      expect(r.windows_per_s).toBeCloseTo(r.images_per_s * 64, 6);  // 8 x 8 patches per image
      expect(r.percent_of_ceiling).toBeCloseTo((100 * r.gflops_per_s) / r.ceiling_gflops_per_s, 9);
      expect(r.machine).toEqual(machineLabel());
      expect(r.device).toBe('cpu');
    }
    const train = await benchTrain({ preset: 'tiny', precisions: ['fp32'], batch: 16, steps: 1, repeats: 1, threads: 2 });
    expect(train[0]).toMatchObject({ bench: 'train', path: 'whole', kernels: 'fused' });
    expect(train[0]!.windows_per_s).toBeGreaterThan(0);
  }, 120_000);

  it('runs on the GPU with --device cuda, or refuses it saying why where there is none', async () => {
    const caps = capabilities();
    const run = () => benchTrain({ preset: 'tiny', precisions: ['bf16'], batch: 16, steps: 1, repeats: 1, device: 'cuda' });
    if (caps.cuda.available) {
      const [record] = await run();
      expect(record).toMatchObject({ bench: 'train', device: 'cuda' });
      expect(record!.ceiling_gflops_per_s).toBeGreaterThan(10_000);  // an 8192^3 product on the GPU
      return;
    }
    await expect(run()).rejects.toThrow(caps.cuda.built ? /no CUDA device is visible/ : /libtorch has no CUDA/);
  }, 120_000);

  it('runs each configuration with our kernels and with the reference when asked, and says what ours take off', async () => {
    const records = await benchTrain({ preset: 'tiny', precisions: ['fp32'], kernels: ['fused', 'reference'], batch: 16, steps: 1, repeats: 1, threads: 2 });
    expect(records.map((r) => r.kernels)).toEqual(['fused', 'reference']);
    const shares = kernelShares(records);
    expect(shares).toHaveLength(1);
    expect(shares[0]!.speedup).toBeCloseTo(records[1]!.seconds / records[0]!.seconds, 9);
    expect(throughputTable(records)).toMatch(/train fp32 whole: the reference takes \d+\.\d\dx as long as our kernels/);
  }, 120_000);

  it('with ablate, runs our kernels again with each family on its reference in turn, and says what each takes off', async () => {
    const train = await benchTrain({ preset: 'tiny', precisions: ['fp32'], kernels: ['fused', 'reference'], ablate: true, batch: 16, steps: 1, repeats: 1, threads: 2 });
    expect(train.map((r) => [r.kernels, r.reference_for])).toEqual([
      ['fused', undefined], ['fused', 'attention'], ['fused', 'filters'], ['fused', 'norm'], ['fused', 'activation'], ['fused', 'bias'], ['fused', 'optimizer'], ['reference', undefined],
    ]);
    const shares = kernelShares(train);
    expect(shares.map((s) => s.family)).toEqual(['attention', 'filters', 'norm', 'activation', 'bias', 'optimizer', undefined]);
    shares.forEach((s, i) => expect(s.speedup).toBeCloseTo(train[i + 1]!.seconds / train[0]!.seconds, 9));
    const table = throughputTable(train);
    expect(table).toMatch(/fused, attention ref\s+whole/);
    expect(table).toMatch(/train fp32 whole: with filters on its reference it takes \d+\.\d\dx as long as with our kernels/);
    // Scoring runs no optimizer; our kernels alone (no reference asked for) still get the families.
    const score = await benchScore({ preset: 'tiny', precisions: ['fp32'], ablate: true, images: 1, repeats: 1, threads: 2 });
    expect(score.filter((r) => r.path === 'model').map((r) => r.reference_for)).toEqual([undefined, 'attention', 'filters', 'norm', 'activation', 'bias']);
  }, 120_000);
});

describe('the profiler', () => {
  it('takes self time from nested phases and measures coverage', () => {
    const ms = 1e6;
    const events = [
      { name: 'block 0 / attention', startNs: 0, durationNs: 10 * ms, depth: 0 },
      { name: 'inner', startNs: 2 * ms, durationNs: 3 * ms, depth: 1 },
      { name: 'block 1 / attention', startNs: 10 * ms, durationNs: 5 * ms, depth: 0 },
      { name: 'decode', startNs: 15 * ms, durationNs: 4 * ms, depth: 0 },
    ];
    const { phases, summary, coverage } = breakdown(events, 20 * ms);
    expect(phases.find((p) => p.name === 'block 0 / attention')?.ms).toBeCloseTo(7, 9);
    expect(summary.find((p) => p.name === 'attention')?.ms).toBeCloseTo(12, 9);
    expect(coverage).toBeCloseTo(19 / 20, 9);
  });

  it('keeps the phases inside validation as validation, apart from the training step', () => {
    const ms = 1e6;
    const events = [
      { name: 'mlp', startNs: 0, durationNs: 4 * ms, depth: 0 },
      { name: 'validation', startNs: 5 * ms, durationNs: 10 * ms, depth: 0 },
      { name: 'engine call', startNs: 5 * ms, durationNs: 9 * ms, depth: 1 },
      { name: 'mlp', startNs: 6 * ms, durationNs: 6 * ms, depth: 2 },
    ];
    const { summary, coverage } = breakdown(events, 15 * ms);
    expect(summary.find((p) => p.name === 'mlp')?.ms).toBeCloseTo(4, 9);
    expect(summary.find((p) => p.name === 'validation')?.ms).toBeCloseTo(10, 9);
    expect(summary.map((p) => p.name)).not.toContain('engine call');
    expect(coverage).toBeCloseTo(14 / 15, 9);
  });

  it('takes two phases whose clocks overlap at the seam as siblings, not one inside the other', () => {
    const us = 1e3;
    // block 1's backward ends a microsecond after block 0's begins (two hooks, two clock reads)
    const events = [
      { name: 'backward', startNs: 0, durationNs: 8000 * us, depth: 0 },
      { name: 'block 1 / backward', startNs: 100 * us, durationNs: 3738 * us, depth: 1 },
      { name: 'block 0 / backward', startNs: 3837 * us, durationNs: 3488 * us, depth: 1 },
    ];
    const { phases } = breakdown(events, 8000 * us);
    expect(phases.find((p) => p.name === 'block 1 / backward')?.ms).toBeCloseTo(3.738, 9);
    expect(phases.find((p) => p.name === 'block 0 / backward')?.ms).toBeCloseTo(3.488, 9);
    expect(phases.find((p) => p.name === 'backward')?.ms).toBeCloseTo(8 - 3.738 - 3.488, 9);
  });

  it('times every phase of an epoch, none counted twice, and writes a Chrome trace', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-profile-'));
    await synthesize(root, { seed: 1, categories: ['grain'], size: 64, train: 6 });
    const reports = [];
    for (const attention of ['msa', 'linear'] as const) {
      reports.push(await profiledCovering(() => profileTrain({ category: join(root, 'grain'), preset: 'tiny', attention, windowsPerImage: 40, batchSize: 32, threads: 2 })));
    }
    for (const r of reports) {
      const names = r.summary.map((p) => p.name);
      // decode: the training path's own loading (decode and resize in one sharp pass, as training runs it)
      for (const phase of ['decode', 'upload', 'sampling', 'embedding', 'attention', 'mlp', 'norm', 'head', 'loss / gms', 'loss / ssim', 'backward', 'optimizer', 'validation']) {
        expect(names, phase).toContain(phase);
      }
      expect(r.epochSeconds).toBeGreaterThan(0);
      // The backward is split per block too (timed by autograd hooks at the block boundaries).
      const detailed = r.phases.map((p) => p.name);
      expect(detailed).toContain('block 0 / backward');
      expect(detailed).toContain('block 1 / backward');
    }
    const trace = chromeTrace(reports);
    const complete = trace.traceEvents.filter((e) => (e as { ph: string }).ph === 'X') as { ts: number; dur: number; name: string }[];
    expect(complete.length).toBeGreaterThan(50);
    expect(complete.every((e) => e.ts >= 0 && e.dur >= 0)).toBe(true);
    expect(compareTable(reports)).toMatch(/epoch seconds/);
  }, 120_000);

  it('--compare: every kind warmed up before its epoch, the kinds in mirrored rounds, set-up reported apart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-profile-compare-'));
    await synthesize(root, { seed: 2, categories: ['grain'], size: 64, train: 6 });
    const { reports, order } = await profileCompare({ category: join(root, 'grain'), preset: 'tiny', windowsPerImage: 16, batchSize: 32, threads: 2 }, ['msa', 'linear'], 2);
    expect(order).toEqual(['msa', 'linear', 'linear', 'msa']);  // neither kind always runs first
    expect(reports.map((r) => r.attention)).toEqual(['msa', 'linear']);
    for (const r of reports) {
      expect(r.epochRuns).toHaveLength(2);
      expect(r.epochRuns).toContain(r.epochSeconds);
      const [from, to] = r.epochSpanNs!;
      expect((to - from) / 1e9).toBeCloseTo(r.epochSeconds!, 9);
      // The one-time costs lie before the epoch: set-up, decoding, upload, and a warm-up that trained.
      const before = r.events.filter((e) => ['setup', 'decode', 'warm-up', 'upload'].includes(e.name));
      expect(before.map((e) => e.name)).toEqual(expect.arrayContaining(['setup', 'decode', 'warm-up']));
      for (const e of before) expect(e.startNs + e.durationNs, e.name).toBeLessThanOrEqual(from);
      expect(r.setupSeconds).toBeGreaterThan(0);
      expect(r.setupSeconds! * 1e9).toBeGreaterThanOrEqual(before.find((e) => e.name === 'warm-up')!.durationNs);
    }
    expect(compareTable(reports)).toMatch(/^set-up seconds/m);
    await expect(profileCompare({ category: join(root, 'grain'), preset: 'tiny' }, ['msa'], 0)).rejects.toThrow('Expected a positive integer for rounds but received 0');
  }, 180_000);

  it('profiles bf16 training and scoring as intra train and intra score run them', async (context) => {
    if (!capabilities().bf16) context.skip('this CPU has no bf16 matrix products (avx512_bf16 or AMX)');
    const root = mkdtempSync(join(tmpdir(), 'intra-profile-bf16-'));
    await synthesize(root, { seed: 3, categories: ['grain'], size: 64, train: 4, testGood: 2, testPerDefect: 1 });
    const train = await profiledCovering(() => profileTrain({ category: join(root, 'grain'), preset: 'tiny', precision: 'bf16', windowsPerImage: 16, batchSize: 16, threads: 2 }));
    // The engine's own account of its training precision, not the option echoed back.
    expect(train.precision).toBe('bf16');
    expect(profileTable(train)).toMatch(/^train tiny mfsa bf16: /);
    const model = join(root, 'grain.intra');
    await trainCategory({ category: join(root, 'grain'), out: model, preset: 'tiny', epochs: 1, windowsPerImage: 8, batchSize: 16, threads: 2 });
    const scoring = await profiledCovering(() => profileScore({ model, inputs: [join(root, 'grain', 'test')], precision: 'bf16', threads: 2 }));
    expect(scoring.precision).toBe('bf16');
  }, 120_000);

  it('sorts ops by self time, names their kinds and leaves time outside ops as such', () => {
    expect(opKind('aten::mm')).toBe('matrix product');
    expect(opKind('intra::layer norm backward')).toBe('ours');
    expect(opKind('MmBackward0')).toBe('autograd');
    expect(opKind('torch::autograd::CppNode<intra::kernels::(anonymous namespace)::LayerNormFunction>')).toBe('autograd');
    expect(opKind('aten::copy_')).toBe('aten');
    expect(opLabel('torch::autograd::CppNode<intra::kernels::(anonymous namespace)::LayerNormFunction>')).toBe('LayerNormFunction (node)');
    const ms = 1e6;
    const ops = opBreakdown('2 steps', [
      { name: 'aten::copy_', calls: 4, selfNs: 2 * ms, totalNs: 2 * ms },
      { name: 'aten::mm', calls: 2, selfNs: 6 * ms, totalNs: 6 * ms },
      { name: 'intra::Adam', calls: 2, selfNs: 1 * ms, totalNs: 1 * ms },
    ], 10 * ms);
    expect(ops.ops.map((o) => o.name)).toEqual(['aten::mm', 'aten::copy_', 'intra::Adam']);
    expect(ops.ops[0]!.share).toBeCloseTo(0.6, 9);
    expect(Object.fromEntries(ops.kinds.map((k) => [k.kind, k.ms]))).toEqual({ 'matrix product': 6, aten: 2, ours: 1, 'outside ops': 1 });
    expect(opTable(ops, 2).split('\n')).toHaveLength(4);
  });

  it('times the ops of the training steps (validation apart) and of scoring', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-profile-ops-'));
    await synthesize(root, { seed: 4, categories: ['grain'], size: 64, train: 4, testGood: 2, testPerDefect: 1 });
    const batchSize = 16, windowsPerImage = 16;
    const train = await profileTrain({ category: join(root, 'grain'), preset: 'tiny', attention: 'msa', windowsPerImage, batchSize, threads: 2, ops: true });
    const ops = train.ops!;
    const byName = new Map(ops.ops.map((o) => [o.name, o]));
    // One fused Adam call per step, none from validation (which has no optimizer) nor other engines.
    const steps = train.windows! / batchSize;
    expect(byName.get('intra::Adam')?.calls).toBe(steps);
    for (const name of ['aten::mm', 'intra::softmax attention', 'intra::softmax attention backward', 'intra::layer norm', 'intra::layer norm backward', 'intra::SSIM', 'intra::GMS backward']) {
      expect(byName.get(name)?.calls, name).toBeGreaterThan(0);
    }
    // Self times never exceed their totals, and together with the time outside ops they make the span.
    expect(ops.ops.every((o) => o.selfMs >= 0 && o.selfMs <= o.totalMs + 1e-6)).toBe(true);
    expect(ops.kinds.reduce((sum, k) => sum + k.share, 0)).toBeGreaterThan(0.99);
    expect(ops.kinds.find((k) => k.kind === 'outside ops')!.share).toBeLessThan(0.5);
    const plain = await profileTrain({ category: join(root, 'grain'), preset: 'tiny', windowsPerImage, batchSize, threads: 2 });
    expect(plain.ops).toBeUndefined();

    const model = join(root, 'grain.intra');
    await trainCategory({ category: join(root, 'grain'), out: model, preset: 'tiny', epochs: 1, windowsPerImage: 8, batchSize: 16, threads: 2 });
    const scoring = await profileScore({ model, inputs: [join(root, 'grain', 'test')], threads: 2, ops: true });
    const scored = scoring.ops!.ops.map((o) => o.name);
    expect(scored).toContain('intra::GMS');
    expect(scored).not.toContain('intra::Adam');
    expect(scored.some((n) => /Backward/.test(n))).toBe(false);  // scoring builds no graph
  }, 120_000);

  it('profiles scoring and the evaluation metrics of a category', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-profile-score-'));
    await synthesize(root, { seed: 2, categories: ['grain'], size: 64, train: 4, testGood: 2, testPerDefect: 1 });
    const model = join(root, 'grain.intra');
    await trainCategory({ category: join(root, 'grain'), out: model, preset: 'tiny', epochs: 1, windowsPerImage: 8, batchSize: 16, threads: 2 });
    const report = await profiledCovering(() => profileScore({ model, inputs: [join(root, 'grain')], evaluate: true, threads: 2 }));
    expect(report.preset).toBe('tiny');  // the model's, not a fixed label
    const names = report.summary.map((p) => p.name);
    // The phases of the scoring path itself (scoreImages, as intra score and intra eval run it).
    for (const phase of ['decode', 'engine call', 'upload', 'embedding', 'attention', 'mlp', 'head', 'maps', 'metrics', 'report']) expect(names, phase).toContain(phase);
    const scoring = await profiledCovering(() => profileScore({ model, inputs: [join(root, 'grain', 'test')], threads: 2 }));
    for (const phase of ['decode', 'engine call', 'embedding', 'attention']) expect(scoring.summary.map((p) => p.name), phase).toContain(phase);
  }, 120_000);
});
