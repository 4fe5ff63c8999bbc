import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { benchKernels, crossover, kernelTable, sweepBatch, sweepChart } from '../lib/bench/kernels.js';
import { machineText } from '../lib/format.js';
import { capabilities, machineLabel, packageRoot } from '../lib/native.js';

describe('intra bench kernels', () => {
  it('measures every family, fused and reference in the same run, as JSON records and a chart', async () => {
    const records = await benchKernels({ quick: true, windows: [3, 7], repeats: 1, threads: 2 });
    const ops = new Set(records.map((r) => r.op));
    expect([...ops].sort()).toEqual(['adam', 'bias_gelu', 'bias_residual', 'blur', 'gms', 'layer_norm', 'linear_attention', 'mean_filter', 'softmax_attention', 'ssim']);
    for (const r of records) {
      expect(['reference', 'fused']).toContain(r.impl);
      expect(r.device).toBe('cpu');
      // Every record names the machine: CPU model, its instruction sets, our kernels' ISA.
      expect(r.machine).toEqual(machineLabel());
      expect(r.machine!.cpu).toBe(capabilities().cpu.label);
      expect(r.dtype).toBe('float32');
      expect(['forward', 'forward+backward']).toContain(r.pass);
      expect(r.ms).toBeGreaterThan(0);
      expect(r.ceiling_gflops_per_s).toBeGreaterThan(0);
      if (r.op.endsWith('attention')) {
        expect(r.seq).toBe(r.window! * r.window!);
        expect(r.shape).toEqual([sweepBatch(r.seq!, 2), 8, r.seq, 64, 64]);
        expect(r.gflops_per_s).toBeGreaterThan(0);
        expect(r.peak_bytes).toBeGreaterThan(0);
      }
      // Adam is memory-bound: its rate is bytes (4 tensors read, 3 written per element).
      if (r.op === 'adam') expect(r.gb_per_s).toBeCloseTo((4 * 7 * (4096 * 4 + 7 * 6)) / r.ms / 1e6, 6);
    }
    // Each fused record's speedup is the reference time of the same run over its own.
    const pairs = records.filter((r) => r.impl === 'fused').map((f) => [f, records.find((r) => r.impl === 'reference' && r.op === f.op && r.pass === f.pass && r.seq === f.seq)!] as const);
    for (const [f, r] of pairs) expect(f.speedup_vs_reference).toBeCloseTo(r.ms / f.ms, 9);
    const svg = await sweepChart(records);
    expect(svg).toMatch(/^<svg[\s\S]*aria-roledescription="line mark"[\s\S]*<\/svg>$/);
    expect(kernelTable(records)).toContain('softmax_attention');
    expect(kernelTable(records).split('\n')[0]).toContain(capabilities().cpu.label);
  }, 120_000);

  it('measures bf16 attention on the CPU and says the filters and Adam are float32 there', async (context) => {
    if (!capabilities().bf16) context.skip('this CPU has no bf16 matrix products (avx512_bf16 or AMX)');
    const records = await benchKernels({ quick: true, windows: [7], repeats: 1, threads: 2, dtype: 'bfloat16' });
    expect(new Set(records.map((r) => r.op))).toEqual(new Set(['softmax_attention', 'linear_attention', 'layer_norm', 'bias_gelu', 'bias_residual']));
    expect(records.every((r) => r.dtype === 'bfloat16' && r.ms > 0)).toBe(true);
    expect(kernelTable(records).split('\n')[1]).toMatch(/bfloat16; .* filters and Adam: float32 only on the CPU/);
  }, 120_000);

  it('finds the crossover where linear attention starts to win', async () => {
    const record = (op: 'softmax_attention' | 'linear_attention', seq: number, ms: number, device: 'cpu' | 'cuda' = 'cpu') => ({
      op, impl: 'fused' as const, device, dtype: 'float32' as const, pass: 'forward+backward' as const, seq, window: Math.sqrt(seq), shape: [10, 8, seq, 64, 64], ms,
      peak_bytes: 0, speedup_vs_reference: 1, ceiling_gflops_per_s: 1, threads: 1,
    });
    const records = [record('softmax_attention', 49, 1), record('linear_attention', 49, 2), record('softmax_attention', 121, 3), record('linear_attention', 121, 2.5)];
    expect(crossover(records)).toEqual({ seq: 121, window: 11 });
    expect(crossover(records.slice(0, 2))).toBeNull();
    expect(await sweepChart(records)).toContain('linear wins from S = 121 (L = 11)');
    // GPU rows beside the CPU's: their own crossover, their own (dashed, labelled) lines.
    const gpu = [record('softmax_attention', 49, 0.1, 'cuda'), record('linear_attention', 49, 0.05, 'cuda')];
    expect(crossover([...records, ...gpu], 'forward+backward', 'cuda')).toEqual({ seq: 49, window: 7 });
    const chart = await sweepChart([...records, ...gpu]);
    expect(chart).toContain('softmax, fused (cuda)');
    expect(chart).toContain('softmax, fused (cpu)');
    expect(chart).toMatch(/stroke-dasharray="6,3"/);  // the GPU lines dashed
  });

  it('refuses --device cuda on a machine or build without it, saying why', async () => {
    const caps = capabilities();
    if (caps.cuda.available && caps.fusedKernels.cuda) return;  // a GPU machine runs it for real
    await expect(benchKernels({ device: 'cuda', quick: true })).rejects.toThrow(/intra bench kernels --device cuda: /);
  });
});

describe('the machine behind a figure', () => {
  it('names the CPU and its instruction sets as /proc/cpuinfo does', () => {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
    const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '').split(/\s+/));
    const { cpu, bf16 } = capabilities();
    expect(cpu.model).toBe(model);
    // The CPUID signature: a bare "AMD EPYC" is a Zen 4 or a Zen 5, their bf16 ceilings twofold apart.
    const field = (name: string) => Number(new RegExp(`^${name}\\s*:\\s*(\\d+)$`, 'm').exec(cpuinfo)?.[1] ?? -1);
    expect(cpu.signature).toEqual({ family: field('cpu family'), model: field('model'), stepping: field('stepping') });
    const vendor = /^vendor_id\s*:\s*(\S+)$/m.exec(cpuinfo)?.[1];
    const { family, model: number } = cpu.signature;
    const expectedCore =
      vendor === 'AuthenticAMD' && family === 26 ? 'Zen 5'
      : vendor === 'AuthenticAMD' && family === 25 ? ((number >= 0x10 && number <= 0x1f) || (number >= 0x60 && number <= 0x7f) || (number >= 0xa0 && number <= 0xaf) ? 'Zen 4' : 'Zen 3')
      : vendor === 'GenuineIntel' && family === 6 && number === 0x8f ? 'Sapphire Rapids'
      : vendor === 'GenuineIntel' && family === 6 && number === 0xcf ? 'Emerald Rapids'
      : undefined;
    if (expectedCore) expect(cpu.core).toBe(expectedCore);
    expect(cpu.label).toBe(family < 0 ? model : `${model} (${cpu.core ? `${cpu.core}; ` : ''}family ${family}, model ${number}, stepping ${cpu.signature.stepping})`);
    expect(machineLabel().cpu).toBe(cpu.label);
    const relevant = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_bf16', 'amx_int8'];
    expect(cpu.features).toEqual(relevant.filter((f) => flags.has(f)));
    expect(bf16).toBe(cpu.features.includes('avx512_bf16') || cpu.features.includes('amx_bf16'));
    expect(machineLabel().blas_coretype).toBe(process.env.OPENBLAS_CORETYPE ?? 'auto');
  });

  it('makes OpenMP wait passively (libgomp says so when libtorch loads) unless the caller chose, and labels records with it', () => {
    const native = join(packageRoot(), 'dist', 'lib', 'native.js');
    const load = `import(${JSON.stringify(native)}).then((n) => n.configFields())`;
    const policyOf = (env: NodeJS.ProcessEnv) => {
      const run = spawnSync(process.execPath, ['-e', load], { env: { ...env, OMP_DISPLAY_ENV: 'true' }, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      return /OMP_WAIT_POLICY = '(\w+)'/.exec(run.stderr + run.stdout)?.[1];
    };
    const { OMP_WAIT_POLICY: _, ...unset } = process.env;
    expect(policyOf(unset)).toBe('PASSIVE');
    expect(policyOf({ ...unset, OMP_WAIT_POLICY: 'active' })).toBe('ACTIVE');
    expect(machineLabel().omp_wait_policy).toBe(process.env.OMP_WAIT_POLICY);
    expect(machineText(machineLabel())).toContain(`OMP_WAIT_POLICY ${process.env.OMP_WAIT_POLICY}`);
  });

  it('makes OpenBLAS threads sleep soon after a product, not spin for 0.1 s, unless the caller chose', (context) => {
    if (!(availableParallelism() >= 2)) context.skip('one core: OpenBLAS has no second thread to spin');
    const native = join(packageRoot(), 'dist', 'lib', 'native.js');
    // A product through OpenBLAS on two threads, then the CPU the whole process uses over
    // 600 ms of nothing: OpenBLAS's worker spins for 2^N cycles after the product (2^30: ~0.4 s).
    const idleCpuMs = (env: NodeJS.ProcessEnv) => {
      const script = `import(${JSON.stringify(native)}).then(async (n) => {
        await n.matmulCeiling(1024, 'float32', 2, 2);
        const before = process.cpuUsage();
        await new Promise((r) => setTimeout(r, 600));
        const used = process.cpuUsage(before);
        console.log(JSON.stringify({ ms: (used.user + used.system) / 1000, label: n.machineLabel().blas_thread_timeout }));
      })`;
      const run = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as { ms: number; label: string };
    };
    const { OPENBLAS_THREAD_TIMEOUT: _, ...unset } = process.env;
    // The control first: a spinning thread yields to every other runnable one, so on a machine
    // kept busy by other work (two more busy threads on two cores) the spin does not show, and
    // then nothing here can tell spinning from sleeping.
    let theirs = idleCpuMs({ ...unset, OPENBLAS_THREAD_TIMEOUT: '30' });
    for (let attempt = 1; attempt < 3 && theirs.ms <= 60; attempt++) theirs = idleCpuMs({ ...unset, OPENBLAS_THREAD_TIMEOUT: '30' });
    expect(theirs.label).toBe('30');  // the caller's setting stays
    if (theirs.ms <= 60) context.skip(`the machine is too busy to show OpenBLAS spinning (${theirs.ms} ms of CPU in 600 ms idle with 2^30 cycles)`);
    const ours = idleCpuMs(unset);
    expect(ours.label).toBe('16');
    expect(ours.ms).toBeLessThan(Math.min(30, theirs.ms / 2));
    expect(machineText(machineLabel())).toContain(`OPENBLAS_THREAD_TIMEOUT ${process.env.OPENBLAS_THREAD_TIMEOUT}`);
  });

  it('names what runs the matrix products: the BLAS and its core for fp32, oneDNN and its ISA for bf16', () => {
    const { blas, bf16, cpu, matrixProducts } = capabilities();
    // OpenBLAS names the kernels it picked (OPENBLAS_CORETYPE pins them): Haswell, Zen, Cooperlake, SapphireRapids...
    if (blas.startsWith('openblas')) expect(matrixProducts.fp32).toMatch(/^openblas [A-Za-z0-9]+$/);
    if (!bf16) expect(matrixProducts.bf16).toBe('none (no bf16 instructions)');
    // oneDNN's ISA follows the CPU's flags: AMX tiles where the CPU has them, else AVX-512 bf16.
    else if (matrixProducts.bf16.startsWith('onednn ')) expect(matrixProducts.bf16).toMatch(cpu.features.includes('amx_bf16') ? /^onednn avx512_core_amx/ : /^onednn avx512_core_bf16$/);
    expect(machineLabel().matrix_products).toEqual(matrixProducts);
    expect(machineText(machineLabel())).toContain(`fp32 products ${matrixProducts.fp32}, bf16 ${matrixProducts.bf16}`);
  });
});
