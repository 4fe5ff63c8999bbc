// Measurement records: what --record writes, how a rerun replaces its file, and that the
// performance documents are exactly what the repository's records make.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  checkRecordFile, performanceDoc, readmeSummary, readRecordFiles, recordedCommand, recordFileName, replaceBlock, writeRecordFile,
  type LoadedRecordFile, type RecordFile,
} from '../lib/bench/records.js';
import type { CurveRecord } from '../lib/bench/curve.js';
import type { DataParallelRecord } from '../lib/bench/data-parallel.js';
import type { FleetRecord } from '../lib/bench/fleet.js';
import { tinyModel, type MemoryRecord } from '../lib/bench/memory.js';
import type { ThroughputRecord } from '../lib/bench/throughput.js';
import { machineLabel } from '../lib/native.js';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'bin', 'intra.js');
const memory = (images: number, peak: number): MemoryRecord => ({ images, peak_rss_mb: peak, seconds: 2, images_per_s: images / 2, lines: images });

function scoreRecord(precision: 'fp32' | 'bf16', kernels: 'fused' | 'reference', imagesPerS: number): ThroughputRecord {
  return {
    bench: 'score', preset: 'paper', attention: 'mfsa', precision, kernels, path: 'model', image_size: 256, windows_per_s: imagesPerS * 900, images_per_s: imagesPerS,
    gflops_per_s: imagesPerS * 1000, ceiling_gflops_per_s: 400, percent_of_ceiling: imagesPerS * 250, seconds: 1 / imagesPerS, threads: 2, device: 'cpu', machine: machineLabel(),
  };
}

describe('record files', () => {
  it('name the command without the record and output switches, quoting what a shell would split', () => {
    expect(recordedCommand(['bench', 'score', '--record', 'records', '--json', '--threads', '2'])).toBe('intra bench score --threads 2');
    expect(recordedCommand(['bench', 'curve', 'my data/tile', '--record=records'])).toBe("intra bench curve 'my data/tile'");
  });

  it('are written atomically per machine and command; the same command again replaces its file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'intra-records-'));
    const argv = ['bench', 'memory', '--images', '100,1000', '--dir', '/scratch/run-1/bench-memory', '--record', dir];
    const first = await writeRecordFile(dir, 'bench memory', argv, [memory(100, 300), memory(1000, 310)], { threads: 1, date: new Date('2026-01-02T03:04:05Z') });
    const again = await writeRecordFile(dir, 'bench memory', argv.map((a) => a.replace('run-1', 'run-2')), [memory(100, 320)], { threads: 1, date: new Date('2026-02-03T04:05:06Z') });
    expect(again).toBe(first);
    const files = await readRecordFiles(dir);
    expect(files).toHaveLength(1);
    const file = files[0]!.file as RecordFile<'bench memory'>;
    expect(file.date).toBe('2026-02-03T04:05:06.000Z');
    expect(file.records.map((r) => r.peak_rss_mb)).toEqual([320]);
    expect(file.command).toBe('intra bench memory --images 100,1000 --dir /scratch/run-2/bench-memory');
    expect(file.machine.cpu).toBe(machineLabel().cpu);
    expect(file.libtorch).toMatch(/^\d+\.\d+/);
    expect(readdirSync(join(dir, recordFileName(file), '..')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // another command on the same machine is another file
    await writeRecordFile(dir, 'bench memory', ['bench', 'memory', '--images', '5'], [memory(5, 280)], { threads: 1 });
    expect(await readRecordFiles(dir)).toHaveLength(2);
  });

  it('refuse an empty run, and files that are not records, naming the file and the problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'intra-records-'));
    await expect(writeRecordFile(dir, 'bench memory', ['bench', 'memory'], [], { threads: 1 })).rejects.toThrow('the run measured nothing');
    const good = { schema: 1, bench: 'bench memory', command: 'intra bench memory', date: '2026-01-02T03:04:05Z', libtorch: '1.13.0', machine: machineLabel(), threads: 1, records: [memory(1, 1)] };
    expect(checkRecordFile('x.json', good).bench).toBe('bench memory');
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, schema: 2 }, 'x.json: not a record file: expected schema 1 but found 2'],
      [{ ...good, bench: 'bench validation' }, 'expected bench one of'],
      [{ ...good, date: 'yesterday' }, "date 'yesterday' is not a date"],
      [{ ...good, libtorch: undefined }, 'missing libtorch'],
      [{ ...good, machine: {} }, 'missing machine.cpu'],
      [{ ...good, records: [] }, 'no records'],
    ];
    for (const [bad, message] of cases) expect(() => checkRecordFile('x.json', bad)).toThrow(message);
    writeFileSync(join(dir, 'broken.json'), '{"schema": 1,');
    await expect(readRecordFiles(dir)).rejects.toThrow(`${join(dir, 'broken.json')}: not a record file`);
    await expect(readRecordFiles(join(dir, 'absent'))).rejects.toThrow('cannot read the records folder');
  });
});

describe('the generated documents', () => {
  const loaded = (path: string, file: Partial<RecordFile> & Pick<RecordFile, 'bench' | 'records'>): LoadedRecordFile => ({
    path, file: { schema: 1, command: `intra ${file.bench}`, date: '2026-03-04T05:06:07Z', libtorch: '1.13.0', machine: machineLabel(), threads: 2, ...file } as RecordFile,
  });

  it('give each table its command, date, libtorch and record, CPUs before GPUs', () => {
    const cpu = loaded('records/cpu/bench-score.json', { bench: 'bench score', command: 'intra bench score --threads 2', records: [scoreRecord('fp32', 'fused', 0.5), scoreRecord('fp32', 'reference', 0.4)] });
    const gpu = loaded('records/h100/bench-score.json', { bench: 'bench score', gpu: 'NVIDIA H100 80GB HBM3', records: [scoreRecord('bf16', 'fused', 90)] });
    const doc = performanceDoc([gpu, cpu], 'docs/performance.md');
    expect(doc.indexOf(`## ${machineLabel().cpu}`)).toBeGreaterThan(0);
    expect(doc.indexOf(`## ${machineLabel().cpu}`)).toBeLessThan(doc.indexOf('## NVIDIA H100 80GB HBM3'));
    expect(doc).toContain('`intra bench score --threads 2` · 2026-03-04 · libtorch 1.13.0 · 2 threads');
    expect(doc).toContain('record [../records/cpu/bench-score.json](../records/cpu/bench-score.json)');
    expect(doc).toContain('| score | paper | mfsa | fp32 | fused | model | 256 | 450.0 | 0.500 | 500.0 | 125.0% of 400.0 |');
    const summary = readmeSummary([cpu, gpu]);
    expect(summary).toContain('fp32 0.50 images/s (125% of the ceiling)');
    expect(summary).not.toContain('0.40 images/s');  // the reference is in the document, not the headline
  });

  it('replace only the marked block of the README, and refuse a README without it', () => {
    const text = 'intro\n<!-- performance -->\nold table\n<!-- /performance -->\nrest\n';
    expect(replaceBlock(text, 'performance', 'new table')).toBe('intro\n<!-- performance -->\nnew table\n<!-- /performance -->\nrest\n');
    expect(() => replaceBlock('no markers', 'performance', 'x', 'README.md')).toThrow('README.md: expected the markers <!-- performance --> and <!-- /performance -->');
  });

  it('in the repository are exactly what its records make (`npm run docs:performance` regenerates them)', async () => {
    const files = await readRecordFiles(join(root, 'records'));
    expect(files.length).toBeGreaterThan(0);
    expect(readFileSync(join(root, 'docs', 'performance.md'), 'utf8')).toBe(performanceDoc(files, join(root, 'docs', 'performance.md')));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toBe(replaceBlock(readme, 'performance', readmeSummary(files)));
  });

  it('are checked and rewritten by `intra bench docs`', () => {
    const work = mkdtempSync(join(tmpdir(), 'intra-docs-'));
    cpSync(join(root, 'records'), join(work, 'records'), { recursive: true });
    cpSync(join(root, 'README.md'), join(work, 'README.md'));
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'bench', 'docs', ...args], { cwd: work, encoding: 'utf8' });
    const missing = run('--check');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('docs/performance.md: not what the');
    const written = run();
    expect(written.status, written.stderr).toBe(0);
    expect(readFileSync(join(work, 'docs', 'performance.md'), 'utf8')).toBe(readFileSync(join(root, 'docs', 'performance.md'), 'utf8'));
    expect(run('--check').status).toBe(0);
  });

  it('give loading, the fleet and the curve their tables, the per-defect one included, and the training headline its whole step', () => {
    const load = loaded('records/cpu/bench-load.json', { bench: 'bench load', records: [
      { purpose: 'baseline', seconds: 0, peak_rss_mb: 190, rss_after_mb: 190, file_mb: 636 },
      { purpose: 'scoring', seconds: 0.42, peak_rss_mb: 625, rss_after_mb: 413, file_mb: 636 },
    ] });
    const fleet = loaded('records/cpu/bench-fleet.json', { bench: 'bench fleet', records: [{
      workers: 2, threads: 2, threads_per_worker: 1, preset: 'paper', image_size: 256, precision: 'fp32', images: 16, single_seconds: 128.4, single_images_per_s: 0.125,
      fleet_seconds: 125.3, fleet_images_per_s: 0.128, overhead_percent: -2.3, redis_cpu_ms_per_image: 0.163, queue_images: 3000, queue_images_per_s: 141,
      redis_limit_images_per_s: 6133, bottleneck_workers: 96087, worker_rss_mb: [{ first: 1949.6, peak: 1951.7, last: 611.3 }], machine: machineLabel(),
    } as FleetRecord] });
    const curve = loaded('records/cpu/bench-curve.json', { bench: 'bench curve', records: [{
      bench: 'curve', category: 'tile', preset: 'cpu', budget_minutes: 30, training_minutes: 29.6, epochs: 44, best_epoch: 40, windows: 1_044_736, image_width: 112, image_height: 144,
      image_auroc: 0.609, pixel_auroc: 0.597, aupro: 0.53, by_defect: { uneven: { image_auroc: 0.586, pixel_auroc: 0.567, aupro: 0.288 } }, threads: 2, machine: machineLabel(),
    } as CurveRecord] });
    const train = loaded('records/cpu/bench-train.json', { bench: 'bench train', records: [{ ...scoreRecord('bf16', 'fused', 0.085), bench: 'train', path: 'whole', windows_per_s: 21.7 }] });
    const parallel = (run: DataParallelRecord['run'], windows: number, wait: number): DataParallelRecord => ({
      preset: 'paper', attention: 'mfsa', precision: 'bf16', image_size: 256, parameters: 55_550_000, batch: 32, run, procs: run === 'one process' ? 1 : 2, threads_per_process: run === 'one process' ? 2 : 1,
      windows_per_s: windows, speedup: windows / 20, step_ms: 32_000 / windows, bytes_per_step: run === 'one process' ? 0 : 222_200_000, buckets: run === 'one process' ? 0 : 11,
      wait_ms_per_step: wait, bucket_mb: 25, machine: machineLabel(),
    });
    const dataParallel = loaded('records/cpu/bench-train-procs.json', { bench: 'bench data-parallel', records: [parallel('one process', 20, 0), parallel('overlapped', 18, 66.9), parallel('after backward', 17.5, 206.8)] });
    const doc = performanceDoc([load, fleet, curve, train, dataParallel], 'docs/performance.md');
    expect(doc).toContain('### Data-parallel training against one process');
    expect(doc).toContain('| bf16 | overlapped | 2 × 1 | 18.0 | 0.90× | 1778 | 222.2 | 11 | 66.9 |');
    expect(doc).toContain('| bf16 | one process | 1 × 2 | 20.0 | 1.00× | 1600 |  |  |  |');
    expect(readmeSummary([dataParallel])).toContain('paper preset, bf16: 2 ranks 0.90× one process (222 MB summed per step, 67 ms exposed)');
    expect(doc).toContain('| scoring | 0.42 | 625 (+435) | 413 (+223) |');
    expect(doc).toContain('| `intra score`, 2 threads | 128.4 s (0.125 images/s) |');
    expect(doc).toContain('| tile | cpu | 112×144 | 30 / 29.6 | 44 | 1,044,736 | 60.9 | 59.7 | 53.0 |');
    expect(doc).toContain('| uneven | 58.6 | 56.7 | 28.8 |');
    expect(readmeSummary([train])).toContain('bf16 22 windows/s');
  });

  it('come from a real run: --record writes the file a bench run measured', () => {
    const work = mkdtempSync(join(tmpdir(), 'intra-record-run-'));
    const run = spawnSync(process.execPath, [cli, 'bench', 'memory', '--images', '6', '--dir', join(work, 'mem'), '--record', join(work, 'records')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const path = /record: (.+\.json)/.exec(run.stderr)![1]!;
    const file = JSON.parse(readFileSync(path, 'utf8')) as RecordFile<'bench memory'>;
    expect(file.bench).toBe('bench memory');
    expect(file.command).toBe(`intra bench memory --images 6 --dir ${join(work, 'mem')}`);
    expect(file.records).toHaveLength(1);
    expect(file.records[0]!.lines).toBe(6);
  });

  it('come from a real run of bench load too: every purpose of a model, in fresh processes', async () => {
    const work = mkdtempSync(join(tmpdir(), 'intra-record-load-'));
    await tinyModel(join(work, 'tiny.intra'));
    const run = spawnSync(process.execPath, [cli, 'bench', 'load', join(work, 'tiny.intra'), '--repeats', '1', '--threads', '1', '--record', join(work, 'records')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const file = JSON.parse(readFileSync(/record: (.+\.json)/.exec(run.stderr)![1]!, 'utf8')) as RecordFile<'bench load'>;
    expect(file.bench).toBe('bench load');
    expect(file.records.map((r) => r.purpose)).toEqual(['baseline', 'training', 'scoring']);
  }, 120_000);
});
