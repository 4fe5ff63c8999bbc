/**
 * Measurement records kept in the repository, and the documents generated from them.
 *
 * A benchmark run with `--record DIR` writes one file: its records with the machine, the
 * libtorch, the date and the command that measured them. The file's path is derived from the
 * machine and the command, so running the same command on the same kind of machine replaces
 * its record (git keeps the old one). `docs/performance.md` and the README's table are generated
 * from the folder (`intra bench docs`), so every figure in them has its record and an outdated
 * figure is replaced, never appended to.
 *
 * @example await writeRecordFile('records', 'bench score', ['bench', 'score', '--record', 'records'], records);
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

import { IntraError } from '../errors.js';
import { percent } from '../format.js';
import { capabilities, machineLabel, type MachineLabel } from '../native.js';
import type { CurveRecord } from './curve.js';
import { mapsTable, type MapsRecord } from './maps.js';
import type { KernelRecord } from './kernels.js';
import type { FleetRecord } from './fleet.js';
import type { DataParallelRecord } from './data-parallel.js';
import type { LoadRecord, MemoryRecord } from './memory.js';
import type { ProfileReport } from './profile.js';
import type { ThroughputRecord } from './throughput.js';

/** The commands that write records. */
export const RECORD_BENCHES = ['bench score', 'bench train', 'bench kernels', 'bench memory', 'bench load', 'bench fleet', 'bench data-parallel', 'bench curve', 'bench maps', 'profile train', 'demo'] as const;
export type RecordBench = (typeof RECORD_BENCHES)[number];

/** What `intra demo` records per category. */
export interface DemoRecord {
  category: string;
  image_auroc: number | null;
  pixel_auroc: number | null;
  aupro: number | null;
  image_f1_max: number | null;
  epochs_trained: number | null;
  train_seconds: number;
}

/** A profile report as recorded: its events (the trace) left out. */
export type ProfileRecord = Omit<ProfileReport, 'events'>;

interface RecordsOf {
  'bench score': ThroughputRecord;
  'bench train': ThroughputRecord;
  'bench kernels': KernelRecord;
  'bench memory': MemoryRecord;
  'bench load': LoadRecord;
  'bench fleet': FleetRecord;
  'bench data-parallel': DataParallelRecord;
  'bench curve': CurveRecord;
  'bench maps': MapsRecord;
  'profile train': ProfileRecord;
  demo: DemoRecord;
}

/** One record file. */
export interface RecordFile<B extends RecordBench = RecordBench> {
  schema: 1;
  bench: B;
  /** the command line that measured it, as typed after `intra` (without --record and --json) */
  command: string;
  /** when the run ended, ISO 8601 */
  date: string;
  libtorch: string;
  /** the host: its CPU, flags and what runs its matrix products */
  machine: MachineLabel;
  /** the GPU that ran it (its name, as nvidia-smi gives it), when the command ran on CUDA */
  gpu?: string;
  threads: number;
  records: RecordsOf[B][];
}

/** A record file and where it lies. */
export interface LoadedRecordFile {
  path: string;
  file: RecordFile;
}

/** The command as recorded: the arguments after `intra`, without the record and output switches. */
export function recordedCommand(argv: readonly string[]): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--record') {
      i++;
      continue;
    }
    if (a.startsWith('--record=') || a === '--json' || a === '--no-json') continue;
    kept.push(/^[\w./,=:+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  }
  return `intra ${kept.join(' ')}`;
}

const slug = (text: string): string => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');

/**
 * Where a run's record goes inside the records folder: one folder per machine (GPU, else CPU),
 * one file per command. Paths of data are reduced to their last part, so the same command from
 * two checkouts lands on the same file.
 */
export function recordFileName(file: Pick<RecordFile, 'command' | 'machine' | 'gpu'>): string {
  const machine = slug(file.gpu ?? file.machine.cpu);
  const words = file.command.replace(/^intra\s+/, '').split(/\s+/).map((w) => (w.includes('/') ? w.replace(/\/+$/, '').split('/').pop()! : w));
  return join(machine, `${slug(words.join(' ')).slice(0, 120)}.json`);
}

/** The GPU's name through nvidia-smi, or null where there is none. */
async function gpuName(): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' });
    return stdout.split('\n')[0]!.trim() || null;
  } catch {
    return null;
  }
}

/**
 * Writes a run's records into `dir` (atomically: a file beside it, then a rename) and returns
 * the file's path. `onGpu`: the command ran on CUDA, so the GPU's name is part of the record.
 */
export async function writeRecordFile<B extends RecordBench>(dir: string, bench: B, argv: readonly string[], records: readonly RecordsOf[B][], options: { threads: number; onGpu?: boolean; date?: Date }): Promise<string> {
  if (records.length === 0) throw new IntraError('INTRA_INVALID_STATE', `--record ${dir}: the run measured nothing, so no record was written`);
  const gpu = options.onGpu ? await gpuName() : null;
  const file: RecordFile<B> = {
    schema: 1,
    bench,
    command: recordedCommand(argv),
    date: (options.date ?? new Date()).toISOString(),
    libtorch: capabilities().libtorch,
    machine: machineLabel(),
    ...(gpu ? { gpu } : {}),
    threads: options.threads || capabilities().threads,
    records: [...records],
  };
  const path = join(dir, recordFileName(file));
  try {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  } catch (cause) {
    throw new IntraError('INTRA_IO', `--record ${dir}: cannot write ${path}: ${(cause as Error).message}`);
  }
  return path;
}

function invalid(path: string, problem: string): IntraError {
  return new IntraError('INTRA_INVALID_ARGUMENT', `${path}: not a record file: ${problem}`);
}

/** Checks a parsed record file enough for the documents to be drawn from it. */
export function checkRecordFile(path: string, parsed: unknown): RecordFile {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid(path, 'expected a JSON object');
  const f = parsed as Partial<RecordFile>;
  if (f.schema !== 1) throw invalid(path, `expected schema 1 but found ${JSON.stringify(f.schema)}`);
  if (!(RECORD_BENCHES as readonly unknown[]).includes(f.bench)) throw invalid(path, `expected bench one of ${RECORD_BENCHES.join(', ')} but found ${JSON.stringify(f.bench)}`);
  for (const key of ['command', 'date', 'libtorch'] as const) {
    if (typeof f[key] !== 'string' || f[key] === '') throw invalid(path, `missing ${key}`);
  }
  if (Number.isNaN(Date.parse(f.date!))) throw invalid(path, `date '${f.date}' is not a date`);
  if (typeof f.machine?.cpu !== 'string') throw invalid(path, 'missing machine.cpu');
  if (!Array.isArray(f.records) || f.records.length === 0) throw invalid(path, 'no records');
  return f as RecordFile;
}

/** Every record file under `dir`, sorted by path. */
export async function readRecordFiles(dir: string): Promise<LoadedRecordFile[]> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { recursive: true })) as string[];
  } catch (cause) {
    throw new IntraError('INTRA_IO', `${dir}: cannot read the records folder: ${(cause as Error).message}`);
  }
  const files: LoadedRecordFile[] = [];
  for (const entry of entries.filter((e) => e.endsWith('.json')).sort()) {
    const path = join(dir, entry);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'));
    } catch (cause) {
      throw invalid(path, (cause as Error).message);
    }
    files.push({ path, file: checkRecordFile(path, parsed) });
  }
  return files;
}

// ---- the documents ----

const fixed = (v: number | undefined | null, digits = 1): string => (v === undefined || v === null ? '' : v.toFixed(digits));
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : percent(v));
const day = (date: string): string => date.slice(0, 10);
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const table = (header: string[], rows: string[][], align?: string[]): string[] => [row(header), row(align ?? header.map(() => '---')), ...rows.map(row)];

function machineName(file: RecordFile): string {
  return file.gpu ? `${file.gpu} (host: ${file.machine.cpu})` : file.machine.cpu;
}

/** The line under each table: where its figures come from. */
function provenance(loaded: LoadedRecordFile, relativeTo: string): string {
  const { file } = loaded;
  const products = file.machine.matrix_products ? `; products fp32 ${file.machine.matrix_products.fp32}, bf16 ${file.machine.matrix_products.bf16}` : '';
  return `\`${file.command}\` · ${day(file.date)} · libtorch ${file.libtorch} · ${file.threads} thread${file.threads === 1 ? '' : 's'}${products} · record [${relative(relativeTo, loaded.path)}](${relative(relativeTo, loaded.path)})`;
}

function throughputSection(records: readonly ThroughputRecord[]): string[] {
  const rows = records.map((r) => [
    r.bench, r.preset, r.attention, r.precision, r.reference_for ? `fused, ${r.reference_for} on its reference` : r.kernels, r.path, String(r.image_size),
    fixed(r.windows_per_s), fixed(r.images_per_s, 3), fixed(r.gflops_per_s), `${fixed(r.percent_of_ceiling)}% of ${fixed(r.ceiling_gflops_per_s)}`,
  ]);
  return table(['bench', 'preset', 'attention', 'precision', 'kernels', 'path', 'size', 'windows/s', 'images/s', 'GFLOP/s', 'share of the ceiling (GFLOP/s)'], rows,
    ['---', '---', '---', '---', '---', '---', '---:', '---:', '---:', '---:', '---:']);
}

function kernelSection(records: readonly KernelRecord[]): string[] {
  const key = (r: KernelRecord) => `${r.op}|${r.dtype}|${r.pass}|${r.shape.join('x')}`;
  const references = new Map(records.filter((r) => r.impl === 'reference').map((r) => [key(r), r]));
  const rows = records.filter((r) => r.impl !== 'reference').map((r) => {
    const ref = references.get(key(r));
    const peak = (b: number | undefined) => (b === undefined || b < 0 ? '?' : (b / 1e6).toFixed(1));
    return [
      r.impl === 'sdpa' ? `${r.op} (libtorch's fused)` : r.op, r.dtype, r.pass, r.shape.join('×'), fixed(r.ms, 3), ref ? fixed(ref.ms, 3) : '',
      `${fixed(r.speedup_vs_reference, 2)}×`, fixed(r.gflops_per_s), fixed(r.gb_per_s), `${peak(r.peak_bytes)} / ${peak(ref?.peak_bytes)}`,
    ];
  });
  return [
    `Ceiling: ${fixed(records[0]?.ceiling_gflops_per_s)} GFLOP/s (${records[0]?.dtype} matrix product, same run).`,
    '',
    ...table(['op', 'dtype', 'pass', 'shape', 'ms', 'reference ms', 'speed-up', 'GFLOP/s', 'GB/s', 'peak MB (ours / reference)'], rows,
      ['---', '---', '---', '---', '---:', '---:', '---:', '---:', '---:', '---:']),
  ];
}

function memorySection(records: readonly MemoryRecord[]): string[] {
  return table(['images scored', 'peak resident MB', 'seconds', 'images/s'], records.map((r) => [String(r.images), fixed(r.peak_rss_mb), fixed(r.seconds), fixed(r.images_per_s, 0)]),
    ['---:', '---:', '---:', '---:']);
}

function loadSection(records: readonly LoadRecord[]): string[] {
  const base = records.find((r) => r.purpose === 'baseline');
  const above = (v: number, b: number | undefined) => (b === undefined ? '' : ` (+${fixed(v - b, 0)})`);
  return [
    `Model file: ${fixed(records[0]?.file_mb, 0)} MB; each load in a fresh process, the median of the repeats; in brackets, above the baseline (the addon loaded, no model).`,
    '',
    ...table(['load', 'seconds', 'peak resident MB', 'resident MB once loaded'],
      records.map((r) => [r.purpose, fixed(r.seconds, 2), `${fixed(r.peak_rss_mb, 0)}${r === base ? '' : above(r.peak_rss_mb, base?.peak_rss_mb)}`,
        `${fixed(r.rss_after_mb, 0)}${r === base ? '' : above(r.rss_after_mb, base?.rss_after_mb)}`]), ['---', '---:', '---:', '---:']),
  ];
}

function fleetSection(records: readonly FleetRecord[]): string[] {
  return records.flatMap((r) => [
    `${r.preset} preset ${r.image_size}×${r.image_size}, ${r.precision}, ${r.images} images, ${r.threads} threads in all:`,
    '',
    ...table(['what', 'figure'], [
      [`\`intra score\`, ${r.threads} threads`, `${fixed(r.single_seconds)} s (${fixed(r.single_images_per_s, 3)} images/s)`],
      [`${r.workers} workers × ${r.threads_per_worker} threads through Redis, start to last result`, `${fixed(r.fleet_seconds)} s (${fixed(r.fleet_images_per_s, 3)} images/s): ${fixed(r.overhead_percent)}% over the single process`],
      [`Redis CPU per image (${r.queue_images.toLocaleString('en')} tiny images, ${fixed(r.queue_images_per_s, 0)} images/s)`, `${fixed(r.redis_cpu_ms_per_image, 3)} ms: one Redis core carries ~${fixed(r.redis_limit_images_per_s, 0)} images/s, ~${fixed(r.bottleneck_workers, 0)} workers like these`],
      ['worker resident memory, MB (after the first job / peak / end)', r.worker_rss_mb.map((w) => `${w.first} / ${w.peak} / ${w.last}`).join('; ')],
    ]),
  ]);
}

function dataParallelSection(records: readonly DataParallelRecord[]): string[] {
  const first = records[0];
  if (!first) return [];
  return [
    `${first.preset} preset ${first.image_size}×${first.image_size}, ${fixed(first.parameters / 1e6, 2)} M parameters, ${first.batch} windows per step (each rank computes its share), buckets of ${fixed(first.bucket_mb, 0)} MiB; "exposed" is the time per step spent after the backward waiting for the sums.`,
    '',
    ...table(['precision', 'run', 'processes × threads', 'windows/s', 'against one process', 'step ms', 'MB summed per step', 'buckets', 'exposed all-reduce ms/step'],
      records.map((r) => [r.precision, r.run, `${r.procs} × ${r.threads_per_process}`, fixed(r.windows_per_s), `${fixed(r.speedup, 2)}×`, fixed(r.step_ms, 0),
        r.bytes_per_step ? fixed(r.bytes_per_step / 1e6) : '', r.buckets ? String(r.buckets) : '', r.run === 'one process' ? '' : fixed(r.wait_ms_per_step)]),
      ['---', '---', '---', '---:', '---:', '---:', '---:', '---:', '---:']),
  ];
}

function curveSection(records: readonly CurveRecord[]): string[] {
  const lines = table(['category', 'preset', 'size', 'minutes (budget / spent)', 'epochs', 'windows seen', 'image AUROC', 'pixel AUROC', 'AUPRO@0.3'],
    records.map((r) => [r.category, r.preset, `${r.image_width}×${r.image_height}`, `${r.budget_minutes} / ${fixed(r.training_minutes)}`, String(r.epochs), r.windows.toLocaleString('en'), pct(r.image_auroc), pct(r.pixel_auroc), pct(r.aupro)]),
    ['---', '---', '---', '---:', '---:', '---:', '---:', '---:', '---:']);
  const last = records.at(-1);
  if (last?.by_defect && Object.keys(last.by_defect).length > 0) {
    lines.push('', `Per defect type after ${last.budget_minutes} minutes (each type's images with the defect-free ones):`, '',
      ...table(['defect type', 'image AUROC', 'pixel AUROC', 'AUPRO@0.3'],
        Object.entries(last.by_defect).map(([d, m]) => [d, pct(m.image_auroc), pct(m.pixel_auroc), pct(m.aupro)]), ['---', '---:', '---:', '---:']));
  }
  return lines;
}

function mapsSection(records: readonly MapsRecord[]): string[] {
  const first = records[0];
  if (!first) return [];
  return [
    `${first.category}: ${first.images} test images, the ${first.preset ?? 'custom'} preset's model (${first.image_width}×${first.image_height}, ${first.epochs ?? '?'} epochs), every setting from the same reconstructions; per defect type, that type's images with the defect-free ones.` +
      (records.some((r) => r.settings.includes('+texture')) ? " A `+texture` setting adds the texture term: each image's local texture, measured at its own size, scored against a Gaussian per pixel over the training images' (squared Mahalanobis distance)." : ''),
    '',
    ...mapsTable(records),
  ];
}

function profileSection(records: readonly ProfileRecord[]): string[] {
  const names = [...new Set(records.flatMap((r) => r.summary.slice(0, 10).map((p) => p.name)))];
  const header = ['phase', ...records.map((r) => `${r.kind} ${r.preset} ${r.attention} ${r.precision}`)];
  const rows = names.map((n) => [n, ...records.map((r) => {
    const p = r.summary.find((s) => s.name === n);
    return p ? `${percent(p.share, { unit: true })}` : '';
  })]);
  const epoch = ['one epoch (s)', ...records.map((r) => fixed(r.epochSeconds, 2))];
  return table(header, [epoch, ...rows], ['---', ...records.map(() => '---:')]);
}

function demoSection(records: readonly DemoRecord[]): string[] {
  return table(['category', 'image AUROC', 'pixel AUROC', 'AUPRO@0.3', 'F1-max', 'epochs', 'training'],
    records.map((r) => [r.category, pct(r.image_auroc), pct(r.pixel_auroc), pct(r.aupro), pct(r.image_f1_max), String(r.epochs_trained ?? ''), `${fixed(r.train_seconds, 0)} s`]),
    ['---', '---:', '---:', '---:', '---:', '---:', '---:']);
}

const SECTION_TITLES: Record<RecordBench, string> = {
  'bench score': 'Scoring against the ceiling',
  'bench train': 'Training steps against the ceiling',
  'bench kernels': 'Kernels against their ATen references',
  'bench memory': 'Peak memory of a long scoring run',
  'bench load': 'Loading a model, per purpose',
  'bench fleet': 'Scoring through the Redis fleet against one process',
  'bench data-parallel': 'Data-parallel training against one process',
  'bench curve': 'Accuracy against training minutes',
  'bench maps': 'Anomaly map settings compared on one model',
  'profile train': 'Where a training epoch goes',
  demo: 'The demo (synthetic data, `cpu` preset)',
};

function section(loaded: LoadedRecordFile): string[] {
  const { file } = loaded;
  switch (file.bench) {
    case 'bench score':
    case 'bench train':
      return throughputSection(file.records as ThroughputRecord[]);
    case 'bench kernels':
      return kernelSection(file.records as KernelRecord[]);
    case 'bench memory':
      return memorySection(file.records as MemoryRecord[]);
    case 'bench load':
      return loadSection(file.records as LoadRecord[]);
    case 'bench fleet':
      return fleetSection(file.records as FleetRecord[]);
    case 'bench data-parallel':
      return dataParallelSection(file.records as DataParallelRecord[]);
    case 'bench curve':
      return curveSection(file.records as CurveRecord[]);
    case 'bench maps':
      return mapsSection(file.records as MapsRecord[]);
    case 'profile train':
      return profileSection(file.records as ProfileRecord[]);
    case 'demo':
      return demoSection(file.records as DemoRecord[]);
  }
}

/** Record files grouped by the machine that measured them (GPU machines after CPUs), in a stable order. */
function byMachine(files: readonly LoadedRecordFile[]): [string, LoadedRecordFile[]][] {
  const groups = new Map<string, LoadedRecordFile[]>();
  for (const f of files) groups.set(machineName(f.file), [...(groups.get(machineName(f.file)) ?? []), f]);
  const order = (f: LoadedRecordFile) => RECORD_BENCHES.indexOf(f.file.bench);
  return [...groups.entries()]
    .sort(([a, fa], [b, fb]) => Number(Boolean(fa[0]!.file.gpu)) - Number(Boolean(fb[0]!.file.gpu)) || a.localeCompare(b))
    .map(([name, group]) => [name, [...group].sort((x, y) => order(x) - order(y) || x.path.localeCompare(y.path))]);
}

/**
 * `docs/performance.md`: every record, per machine, each table with the command, date,
 * libtorch and record it came from. `docPath` is where the document will lie (links are relative to it).
 */
export function performanceDoc(files: readonly LoadedRecordFile[], docPath: string): string {
  const base = join(docPath, '..');
  const lines = [
    '# Performance',
    '',
    '<!-- Generated by `npm run docs:performance` from the records in records/: edit those (rerun the command a table names with `--record records`), not this file. -->',
    '',
    'Every table is one run of the command under it, on the machine its section names; ratios and',
    'shares are within that run (these machines are noisy: another run of the same command moves',
    'by ±10–20%). Figures from two machines are never comparable. [tuning.md](tuning.md) explains',
    'the settings the package makes for speed (threads, OpenMP and OpenBLAS waiting).',
  ];
  if (files.length === 0) lines.push('', 'No record is kept yet.');
  for (const [machine, group] of byMachine(files)) {
    lines.push('', `## ${machine}`);
    for (const loaded of group) {
      const first = loaded.file.records[0] as KernelRecord | MapsRecord | undefined;
      const detail = first && 'dtype' in first ? ` (${first.dtype})` : first && 'settings' in first ? `: ${first.category}` : '';
      lines.push('', `### ${SECTION_TITLES[loaded.file.bench]}${detail}`, '', ...section(loaded), '', provenance(loaded, base));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The README's summary: the headline of each record, one table per machine kind. */
export function readmeSummary(files: readonly LoadedRecordFile[]): string {
  const lines: string[] = [];
  const headline = (f: RecordFile): string | null => {
    if (f.bench === 'bench score' || f.bench === 'bench train') {
      // Scoring: the model alone; training has one path (a whole step).
      const best = (f.records as ThroughputRecord[]).filter((r) => r.kernels === 'fused' && !r.reference_for && (r.bench === 'train' || r.path === 'model'));
      if (best.length === 0) return null;
      return best.map((r) => `${r.precision} ${r.bench === 'score' ? `${fixed(r.images_per_s, 2)} images/s` : `${fixed(r.windows_per_s, 0)} windows/s`} (${fixed(r.percent_of_ceiling, 0)}% of the ceiling)`).join(', ');
    }
    if (f.bench === 'bench kernels') {
      const fused = (f.records as KernelRecord[]).filter((r) => r.impl === 'fused' && r.pass === 'forward+backward');
      if (fused.length === 0) return null;
      const speedups = fused.map((r) => r.speedup_vs_reference);
      return `${fused[0]!.dtype}: our kernels ${fixed(Math.min(...speedups), 2)}–${fixed(Math.max(...speedups), 2)}× their ATen references, forward+backward`;
    }
    if (f.bench === 'bench data-parallel') {
      const runs = f.records as DataParallelRecord[];
      const overlapped = runs.filter((r) => r.run === 'overlapped');
      if (overlapped.length === 0) return null;
      return overlapped.map((r) => `${r.preset} preset, ${r.precision}: ${r.procs} ranks ${fixed(r.speedup, 2)}× one process (${fixed(r.bytes_per_step / 1e6, 0)} MB summed per step, ${fixed(r.wait_ms_per_step, 0)} ms exposed)`).join(', ');
    }
    if (f.bench === 'demo' || f.bench === 'bench curve') {
      return (f.records as (DemoRecord | CurveRecord)[]).map((r) => `${r.category}${'budget_minutes' in r ? ` ${r.image_width}×${r.image_height} after ${r.budget_minutes} min` : ''} ${pct(r.image_auroc)} / ${pct(r.pixel_auroc)}`).join(', ');
    }
    return null;
  };
  const what: Record<RecordBench, string> = {
    'bench score': 'scoring, paper preset, model alone', 'bench train': 'training steps, paper preset', 'bench kernels': 'fused kernels',
    'bench memory': 'memory', 'bench load': 'loading a model', 'bench fleet': 'the fleet', 'bench data-parallel': 'data-parallel training', 'bench curve': 'accuracy (image / pixel AUROC)', 'bench maps': 'map settings', 'profile train': 'profile', demo: 'demo accuracy (image / pixel AUROC)',
  };
  const rows: string[][] = [];
  for (const [machine, group] of byMachine(files)) {
    for (const loaded of group) {
      const h = headline(loaded.file);
      if (h) rows.push([machine, what[loaded.file.bench], h, day(loaded.file.date)]);
    }
  }
  if (rows.length === 0) return 'No measurement is recorded yet.';
  lines.push(...table(['machine', 'what', 'figures', 'measured'], rows));
  return lines.join('\n');
}

/** Replaces the text between `<!-- name -->` and `<!-- /name -->` (markers kept). */
export function replaceBlock(text: string, name: string, content: string, where = 'the document'): string {
  const open = `<!-- ${name} -->`, close = `<!-- /${name} -->`;
  const start = text.indexOf(open), end = text.indexOf(close);
  if (start < 0 || end < start) throw new IntraError('INTRA_INVALID_ARGUMENT', `${where}: expected the markers ${open} and ${close}`);
  return `${text.slice(0, start + open.length)}\n${content}\n${text.slice(end)}`;
}
