/**
 * The kernel benchmark: every family, fused against its reference in the same run, and
 * the attention sweep over window sides, with the machine's matrix-product ceiling.
 *
 * @example const records = await benchKernels({ quick: true }); console.log(kernelTable(records));
 */
import type { TopLevelSpec } from 'vega-lite';

import { renderChart } from '../eval/charts.js';
import { IntraError } from '../errors.js';
import { machineText } from '../format.js';
import { benchKernel, capabilities, machineLabel, matmulCeiling, type KernelDevice, type KernelDtype, type KernelOp, type MachineLabel } from '../native.js';

export interface KernelRecord {
  op: KernelOp;
  /** sdpa: libtorch 2.x's at::scaled_dot_product_attention, softmax attention on a GPU only */
  impl: 'reference' | 'fused' | 'sdpa';
  device: KernelDevice;
  dtype: KernelDtype;
  pass: 'forward' | 'forward+backward';
  /** sequence length (attention only) */
  seq?: number;
  /** window side L (attention only), seq = L * L */
  window?: number;
  shape: number[];
  /** median milliseconds */
  ms: number;
  gflops_per_s?: number;
  gb_per_s?: number;
  /** tensor bytes at the peak of a run (on a GPU: the CUDA caching allocator's peak); -1 if not measured */
  peak_bytes: number;
  /** reference ms / this ms, measured in the same run */
  speedup_vs_reference: number;
  ceiling_gflops_per_s: number;
  threads: number;
  /** the machine the figure was measured on */
  machine?: MachineLabel;
}

export interface KernelBenchOptions {
  /** cpu (default) or cuda; the CUDA rows are the GPU half of the same records */
  device?: KernelDevice;
  /** default float32 on the CPU, bfloat16 on a GPU */
  dtype?: KernelDtype;
  threads?: number;
  repeats?: number;
  /** fewer window sides and repeats: a smoke run */
  quick?: boolean;
  windows?: number[];
  onRecord?: (record: KernelRecord) => void;
}

export const SWEEP_WINDOWS = [3, 5, 7, 9, 11, 15, 21, 32];
const D = 512, HEADS = 8;

/**
 * Windows per batch. CPU: about 4096 tokens to spread over the threads. GPU: 4096 windows
 * at S <= 49 (the CUDA kernels issue's shape), fewer beyond so that the reference's
 * (B, heads, S, S) scores still fit.
 */
export function sweepBatch(seq: number, threads: number, device: KernelDevice = 'cpu'): number {
  if (device === 'cuda') return seq <= 49 ? 4096 : Math.max(64, Math.round((4096 * 49) / seq));
  return Math.max(2 * threads, Math.round(4096 / seq));
}

export async function benchKernels(options: KernelBenchOptions = {}): Promise<KernelRecord[]> {
  const threads = options.threads ?? 0;
  const device = options.device ?? 'cpu';
  const gpu = device === 'cuda';
  const dtype = options.dtype ?? (gpu ? 'bfloat16' : 'float32');
  const caps = capabilities(threads);
  if (gpu && !(caps.cuda.available && caps.fusedKernels.cuda)) {
    const why = !caps.cuda.built ? "this build's libtorch has no CUDA" : !caps.cuda.available ? 'no CUDA device is visible' : 'the CUDA kernels are not in this build';
    throw new IntraError('INTRA_UNSUPPORTED', `intra bench kernels --device cuda: ${why}`);
  }
  const repeats = options.repeats ?? (options.quick ? 3 : gpu ? 20 : 7);
  const warmup = options.quick ? 1 : gpu ? 5 : 2;
  const ceiling = await matmulCeiling(options.quick ? 512 : gpu ? 8192 : 2048, dtype, options.quick ? 2 : 5, threads, device);
  const usedThreads = caps.threads;
  const machine = machineLabel();
  const records: KernelRecord[] = [];
  const measure = async (op: KernelOp, pass: KernelRecord['pass'], shape: number[], extra: Partial<KernelRecord>) => {
    const request = { op, pass, shape, warmup, repeats, threads, device, dtype };
    const reference = await benchKernel({ ...request, impl: 'reference' });
    const fused = await benchKernel({ ...request, impl: 'fused' });
    const rows: [KernelRecord['impl'], typeof fused][] = [['reference', reference], ['fused', fused]];
    // On a GPU with libtorch 2.x, softmax attention is also timed against at::scaled_dot_product_attention.
    if (gpu && op === 'softmax_attention') {
      try {
        rows.push(['sdpa', await benchKernel({ ...request, impl: 'sdpa' })]);
      } catch (cause) {
        if (!(cause instanceof IntraError && cause.code === 'INTRA_UNSUPPORTED')) throw cause;
      }
    }
    for (const [impl, r] of rows) {
      const record: KernelRecord = {
        op,
        impl,
        device,
        dtype,
        pass,
        ...extra,
        shape,
        ms: r.ms,
        ...(r.flops > 0 ? { gflops_per_s: r.flops / r.ms / 1e6 } : { gb_per_s: r.bytes / r.ms / 1e6 }),
        peak_bytes: r.peakBytes,
        speedup_vs_reference: reference.ms / r.ms,
        ceiling_gflops_per_s: ceiling,
        threads: usedThreads,
        machine,
      };
      records.push(record);
      options.onRecord?.(record);
    }
  };
  const windows = options.windows ?? (options.quick ? [3, 7] : SWEEP_WINDOWS);
  for (const op of ['softmax_attention', 'linear_attention'] as const) {
    for (const L of windows) {
      const seq = L * L;
      const shape = [sweepBatch(seq, usedThreads, device), HEADS, seq, D / HEADS, D / HEADS];
      for (const pass of ['forward', 'forward+backward'] as const) await measure(op, pass, shape, { seq, window: L });
    }
  }
  // Layer norm over the model's rows (about 4096 tokens of D 512), bias + GELU over the MLP's
  // hidden rows (4D wide), the bias and residual add after a block's last products (D wide).
  for (const pass of ['forward', 'forward+backward'] as const) await measure('layer_norm', pass, options.quick ? [64, 512] : [4096, 512], {});
  for (const pass of ['forward', 'forward+backward'] as const) await measure('bias_gelu', pass, options.quick ? [64, 2048] : [4096, 2048], {});
  for (const pass of ['forward', 'forward+backward'] as const) await measure('bias_residual', pass, options.quick ? [64, 512] : [4096, 512], {});
  // On the CPU the loss, the maps and Adam's master weights are fp32 whatever the products'
  // precision (and ATen 1.13 has no bf16 padding there for the references): those rows are float32's.
  if (!gpu && dtype !== 'float32') return records;
  // The loss's filters on a batch of 16x16 RGB patches; the map's smoothing on 128x128 maps.
  const patches = options.quick ? [32, 3, 16, 16] : gpu ? [4096, 3, 16, 16] : [256, 3, 16, 16];
  for (const op of ['gms', 'ssim'] as const) {
    for (const pass of ['forward', 'forward+backward'] as const) await measure(op, pass, patches, {});
  }
  const maps = options.quick ? [2, 1, 64, 64, 11] : gpu ? [256, 1, 256, 256, 11] : [16, 1, 128, 128, 11];
  for (const op of ['blur', 'mean_filter'] as const) await measure(op, 'forward', maps, {});
  // One Adam update over 64 parameters (8.4M elements, a third of the paper preset's): the
  // fused pass against libtorch's per-parameter ops, on fp32 master weights.
  if (dtype === 'float32') await measure('adam', 'forward', options.quick ? [4, 4096] : [64, 131072], {});
  return records;
}

/** A table for people. */
export function kernelTable(records: readonly KernelRecord[]): string {
  const lines = [
    machineText(records[0]?.machine),
    `device ${records[0]?.device}, ${records[0]?.dtype}; ceiling (${records[0]?.dtype} matrix product through libtorch): ${records[0]?.ceiling_gflops_per_s.toFixed(1)} GFLOP/s, ${records[0]?.threads} threads` +
      (records[0]?.device === 'cpu' && records[0]?.dtype !== 'float32' ? '; filters and Adam: float32 only on the CPU (the loss, maps and master weights are fp32 there)' : ''),
    'op                 pass              seq  shape                 impl        ms     GFLOP/s   GB/s   peak MB  speedup',
  ];
  for (const r of records) {
    lines.push(
      [
        r.op.padEnd(18),
        r.pass.padEnd(17),
        String(r.seq ?? '').padStart(4),
        ` ${r.shape.join('x')}`.padEnd(22),
        r.impl.padEnd(9),
        r.ms.toFixed(2).padStart(8),
        (r.gflops_per_s?.toFixed(1) ?? '').padStart(10),
        (r.gb_per_s?.toFixed(1) ?? '').padStart(7),
        (r.peak_bytes >= 0 ? (r.peak_bytes / 1e6).toFixed(1) : '?').padStart(9),
        `${r.speedup_vs_reference.toFixed(2)}x`.padStart(8),
      ].join(' '),
    );
  }
  return lines.join('\n');
}

/** Where fused linear attention first costs less than fused softmax attention (forward+backward), on one device. */
export function crossover(
  records: readonly KernelRecord[],
  pass: KernelRecord['pass'] = 'forward+backward',
  device: KernelDevice = records[0]?.device ?? 'cpu',
): { seq: number; window: number } | null {
  const perWindow = (op: KernelOp) =>
    new Map(
      records
        .filter((r) => r.op === op && r.impl === 'fused' && r.pass === pass && (r.device ?? 'cpu') === device)
        .map((r) => [r.seq!, { ms: r.ms / r.shape[0]!, window: r.window! }]),
    );
  const softmax = perWindow('softmax_attention'), linear = perWindow('linear_attention');
  for (const seq of [...softmax.keys()].sort((a, b) => a - b)) {
    const s = softmax.get(seq)!, l = linear.get(seq);
    if (l && l.ms < s.ms) return { seq, window: s.window };
  }
  return null;
}

/**
 * Milliseconds per window against sequence length (log-log) as an SVG chart (Vega-Lite): one
 * line per (op, implementation, device), GPU lines dashed, the crossover where linear attention
 * starts to win marked.
 */
export async function sweepChart(records: readonly KernelRecord[], pass: KernelRecord['pass'] = 'forward+backward'): Promise<string> {
  const devices = [...new Set(records.map((r) => r.device ?? 'cpu'))];
  const base = [
    { op: 'softmax_attention', impl: 'fused', colour: ['#d62728', '#8c1c13'], label: 'softmax, fused' },
    { op: 'softmax_attention', impl: 'reference', colour: ['#ff9896', '#c76b6b'], label: 'softmax, reference' },
    { op: 'softmax_attention', impl: 'sdpa', colour: ['#9467bd', '#5e3c99'], label: 'softmax, libtorch sdpa' },
    { op: 'linear_attention', impl: 'fused', colour: ['#1f77b4', '#0b3c5d'], label: 'linear, fused' },
    { op: 'linear_attention', impl: 'reference', colour: ['#aec7e8', '#6b8cae'], label: 'linear, reference' },
  ] as const;
  const series = devices
    .flatMap((device, d) => base.map((b) => ({ ...b, device, colour: b.colour[Math.min(d, 1)]!, label: devices.length > 1 ? `${b.label} (${device})` : b.label })))
    .filter((s) => records.some((r) => r.op === s.op && r.impl === s.impl && (r.device ?? 'cpu') === s.device && r.pass === pass));
  const values = series.flatMap((s) =>
    records
      .filter((r) => r.op === s.op && r.impl === s.impl && (r.device ?? 'cpu') === s.device && r.pass === pass && r.seq !== undefined)
      .map((r) => ({ seq: r.seq!, ms: r.ms / r.shape[0]!, series: s.label, device: s.device })),
  );
  const cross = crossover(records, pass, devices[0]);
  return renderChart({
    width: 560,
    height: 360,
    background: 'white',
    title: `Attention cost per window (${pass}, D 512, 8 heads), log-log`,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          x: { field: 'seq', type: 'quantitative', title: 'sequence length S = L × L', scale: { type: 'log' } },
          y: { field: 'ms', type: 'quantitative', title: 'ms per window', scale: { type: 'log' } },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: series.map((s) => s.label), range: series.map((s) => s.colour) } },
          strokeDash: { field: 'device', type: 'nominal', title: 'device', scale: { domain: devices, range: devices.map((d) => (d === 'cuda' ? [6, 3] : [1, 0])) } },
        },
      },
      ...(cross
        ? [
            { data: { values: [{ seq: cross.seq }] }, mark: { type: 'rule' as const, color: '#2ca02c', strokeDash: [4, 3] }, encoding: { x: { field: 'seq', type: 'quantitative' as const } } },
            {
              data: { values: [{ seq: cross.seq, text: `linear wins from S = ${cross.seq} (L = ${cross.window})` }] },
              mark: { type: 'text' as const, align: 'left' as const, dx: 4, y: 10, color: '#2ca02c' },
              encoding: { x: { field: 'seq', type: 'quantitative' as const }, text: { field: 'text', type: 'nominal' as const } },
            },
          ]
        : []),
    ],
  } as TopLevelSpec);
}
