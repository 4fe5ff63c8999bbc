/**
 * The kernel benchmark: every family, fused against its reference in the same run, and
 * the attention sweep over window sides, with the machine's matrix-product ceiling.
 *
 * @example const records = await benchKernels({ quick: true }); console.log(kernelTable(records));
 */
import { IntraError } from '../errors.js';
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
  // The loss's filters on a batch of 16x16 RGB patches; the map's smoothing on 128x128 maps.
  const patches = options.quick ? [32, 3, 16, 16] : gpu ? [4096, 3, 16, 16] : [256, 3, 16, 16];
  for (const op of ['gms', 'ssim'] as const) {
    for (const pass of ['forward', 'forward+backward'] as const) await measure(op, pass, patches, {});
  }
  const maps = options.quick ? [2, 1, 64, 64, 11] : gpu ? [256, 1, 256, 256, 11] : [16, 1, 128, 128, 11];
  for (const op of ['blur', 'mean_filter'] as const) await measure(op, 'forward', maps, {});
  return records;
}

/** A table for people. */
export function kernelTable(records: readonly KernelRecord[]): string {
  const lines = [
    `${records[0]?.machine?.cpu ?? 'unknown CPU'} (${records[0]?.machine?.cpu_features.join(' ') ?? ''}; kernels ${records[0]?.machine?.kernel_isa ?? '?'}; OpenBLAS core ${records[0]?.machine?.blas_coretype ?? '?'})`,
    `device ${records[0]?.device}, ${records[0]?.dtype}; ceiling (${records[0]?.dtype} matrix product through libtorch): ${records[0]?.ceiling_gflops_per_s.toFixed(1)} GFLOP/s, ${records[0]?.threads} threads`,
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

/** An SVG chart of milliseconds per window against sequence length (log-log). */
export function sweepChart(records: readonly KernelRecord[], pass: KernelRecord['pass'] = 'forward+backward'): string {
  const devices = [...new Set(records.map((r) => r.device ?? 'cpu'))];
  const base = [
    { op: 'softmax_attention', impl: 'fused', colour: ['#d62728', '#8c1c13'], label: 'softmax, fused' },
    { op: 'softmax_attention', impl: 'reference', colour: ['#ff9896', '#c76b6b'], label: 'softmax, reference' },
    { op: 'softmax_attention', impl: 'sdpa', colour: ['#9467bd', '#5e3c99'], label: 'softmax, libtorch sdpa' },
    { op: 'linear_attention', impl: 'fused', colour: ['#1f77b4', '#0b3c5d'], label: 'linear, fused' },
    { op: 'linear_attention', impl: 'reference', colour: ['#aec7e8', '#6b8cae'], label: 'linear, reference' },
  ] as const;
  // One line per (op, implementation, device): CPU and GPU rows side by side, GPU lines dashed.
  const series = devices
    .flatMap((device, d) =>
      base.map((b) => ({ ...b, device, colour: b.colour[Math.min(d, 1)]!, dash: device === 'cuda', label: devices.length > 1 ? `${b.label} (${device})` : b.label })),
    )
    .filter((s) => records.some((r) => r.op === s.op && r.impl === s.impl && (r.device ?? 'cpu') === s.device && r.pass === pass));
  const points = series.map((s) =>
    records
      .filter((r) => r.op === s.op && r.impl === s.impl && (r.device ?? 'cpu') === s.device && r.pass === pass && r.seq !== undefined)
      .map((r) => ({ x: r.seq!, y: r.ms / r.shape[0]! }))
      .sort((a, b) => a.x - b.x),
  );
  const all = points.flat();
  if (all.length === 0) return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>';
  const [w, h, left, right, top, bottom] = [devices.length > 1 ? 860 : 720, 440, 70, devices.length > 1 ? 320 : 180, 40, 50];
  const lx = all.map((p) => Math.log10(p.x)), ly = all.map((p) => Math.log10(p.y));
  const [x0, x1] = [Math.min(...lx), Math.max(...lx)], [y0, y1] = [Math.min(...ly), Math.max(...ly)];
  const sx = (x: number) => left + ((Math.log10(x) - x0) / Math.max(1e-9, x1 - x0)) * (w - left - right);
  const sy = (y: number) => h - bottom - ((Math.log10(y) - y0) / Math.max(1e-9, y1 - y0)) * (h - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14">Attention cost per window (${pass}, D 512, 8 heads), log-log</text>`,
    `<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${h - bottom}" stroke="black"/>`,
    `<text x="${(left + w - right) / 2}" y="${h - 12}" text-anchor="middle">sequence length S = L x L</text>`,
    `<text x="16" y="${(top + h - bottom) / 2}" transform="rotate(-90 16 ${(top + h - bottom) / 2})" text-anchor="middle">ms per window</text>`,
  ];
  for (const x of [...new Set(all.map((p) => p.x))]) {
    parts.push(`<text x="${sx(x)}" y="${h - bottom + 16}" text-anchor="middle">${x}</text>`);
  }
  for (let e = Math.floor(y0); e <= Math.ceil(y1); e++) {
    const y = 10 ** e;
    if (Math.log10(y) < y0 - 1e-9 || Math.log10(y) > y1 + 1e-9) continue;
    parts.push(`<text x="${left - 6}" y="${sy(y) + 4}" text-anchor="end">${y}</text>`);
    parts.push(`<line x1="${left}" y1="${sy(y)}" x2="${w - right}" y2="${sy(y)}" stroke="#ddd"/>`);
  }
  series.forEach((s, i) => {
    const p = points[i]!;
    if (p.length) parts.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="2"${s.dash ? ' stroke-dasharray="6 3"' : ''} points="${p.map((q) => `${sx(q.x).toFixed(1)},${sy(q.y).toFixed(1)}`).join(' ')}"/>`);
    for (const q of p) parts.push(`<circle cx="${sx(q.x).toFixed(1)}" cy="${sy(q.y).toFixed(1)}" r="3" fill="${s.colour}"/>`);
    parts.push(`<rect x="${w - right + 12}" y="${top + 20 * i}" width="14" height="4" fill="${s.colour}"/>`);
    parts.push(`<text x="${w - right + 32}" y="${top + 20 * i + 6}">${s.label}</text>`);
  });
  const cross = crossover(records, pass, devices[0]);
  if (cross) {
    parts.push(`<line x1="${sx(cross.seq)}" y1="${top}" x2="${sx(cross.seq)}" y2="${h - bottom}" stroke="#2ca02c" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${sx(cross.seq) + 4}" y="${top + 12}" fill="#2ca02c">linear wins from S = ${cross.seq} (L = ${cross.window})</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
