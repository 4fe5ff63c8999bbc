/**
 * Memory of a long scoring run: `intra score` over N small images (a tiny model, 64x64 grey
 * files made once and hard-linked N times), its peak resident memory read from the kernel
 * (getrusage of the finished child, through python3), and its wall time. The peak must not
 * grow with N: images stream through two batches in flight and results go out line by line.
 * And what loading a model costs a process, for training and for scoring (`modelLoad`).
 *
 * @example const r = await scoreMemory(20000, '/tmp/mem'); // { images: 20000, peak_rss_mb: ..., ... }
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import sharp from 'sharp';

import { IntraError } from '../errors.js';
import { packageRoot, type LoadPurpose } from '../native.js';
import { Engine } from '../engine.js';

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

export interface MemoryRecord {
  images: number;
  peak_rss_mb: number;
  seconds: number;
  images_per_s: number;
  lines: number;
}

/** A tiny grey 64x64 model, trained one step: cheap to score, so the pipeline around it shows. */
export async function tinyModel(path: string): Promise<void> {
  const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 1, batchSize: 16 }, { threads: 1 });
  const size = 64, data = new Uint8Array(4 * size * size);
  for (let i = 0; i < data.length; i++) data[i] = (((i % size) + Math.floor(i / size)) * 7) & 255;
  await engine.setTrainingImages({ data, count: 4, height: size, width: size, channels: 1 });
  await engine.trainSteps(1);
  await engine.fitNormalStatistics();
  await engine.save(path);
  engine.dispose();
}

/** `count` grey 64x64 PNG files in a fresh folder `dir`: hard links of one file, so that many cost no disk. */
export async function linkedImages(dir: string, count: number): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const original = join(dir, '..', `${basename(dir)}.original.png`);
  const pixels = Buffer.alloc(64 * 64);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 13) & 255;
  await writeFile(original, await sharp(pixels, { raw: { width: 64, height: 64, channels: 1 } }).toColourspace('b-w').png().toBuffer());
  for (let i = 0; i < count; i++) await link(original, join(dir, `${String(i).padStart(6, '0')}.png`));
}

/** Scores `count` images in a child process and reports its peak RSS. */
export async function scoreMemory(count: number, workDir: string, options: { threads?: number; batch?: number } = {}): Promise<MemoryRecord> {
  if (!Number.isInteger(count) || count < 1) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a positive integer for images but received ${count}`);
  const model = join(workDir, 'tiny.intra'), images = join(workDir, `images-${count}`), out = join(workDir, `scores-${count}.jsonl`);
  await mkdir(workDir, { recursive: true });
  if (!existsSync(model)) await tinyModel(model);
  await linkedImages(images, count);
  const cli = join(packageRoot(), 'dist', 'bin', 'intra.js');
  const args = [cli, 'score', model, images, '--out', out, '--threads', String(options.threads ?? 1), '--batch', String(options.batch ?? 8)];
  const measure = 'import resource, subprocess, sys, time\nt = time.time()\nr = subprocess.run(sys.argv[1:])\n' +
    'print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time() - t)';
  const { stdout } = await promisify(execFile)('python3', ['-c', measure, process.execPath, ...args], { maxBuffer: 1 << 20 });
  const [code, maxRssKb, seconds] = stdout.trim().split(/\s+/).map(Number) as [number, number, number];
  if (code !== 0) throw new IntraError('INTRA_NATIVE', `intra score exited with ${code} in the memory benchmark`);
  const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean).length;
  await rm(images, { recursive: true, force: true });
  return { images: count, peak_rss_mb: mb(maxRssKb * 1024), seconds, images_per_s: count / seconds, lines };
}

export interface LoadRecord {
  /** `baseline`: the addon loaded, no model (what every process pays); else Engine.load's purpose */
  purpose: 'baseline' | LoadPurpose;
  /** median over the repeats, each in a fresh process */
  seconds: number;
  peak_rss_mb: number;
  /** resident memory once loaded (the file's blocks given back) */
  rss_after_mb: number;
  file_mb: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * What loading a model costs a process, per purpose: each load in a fresh `node` (so peak RSS
 * is that load's), timed from the call to the engine being ready.
 *
 * @example await modelLoad('paper.intra', { repeats: 3 }) // [{ purpose: 'baseline', ... }, { purpose: 'training', ... }, ...]
 */
export async function modelLoad(path: string, options: { repeats?: number; threads?: number } = {}): Promise<LoadRecord[]> {
  const repeats = options.repeats ?? 3;
  if (!Number.isInteger(repeats) || repeats < 1) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a positive integer for repeats but received ${repeats}`);
  const size = await stat(path).then((s) => s.size, (cause: Error) => {
    throw new IntraError('INTRA_IO', `Cannot read model ${path}: ${cause.message}`);
  });
  const engineModule = pathToFileURL(join(packageRoot(), 'dist', 'lib', 'engine.js')).href;
  const nativeModule = pathToFileURL(join(packageRoot(), 'dist', 'lib', 'native.js')).href;
  const script = `
    const { Engine } = await import(${JSON.stringify(engineModule)});
    (await import(${JSON.stringify(nativeModule)})).configFields();  // the addon and libtorch, loaded
    const [path, purpose, threads] = process.argv.slice(1);
    const start = performance.now();
    const engine = purpose === 'baseline' ? null : await Engine.load(path, { threads: Number(threads), purpose });
    const ms = performance.now() - start;
    console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss, peakKb: process.resourceUsage().maxRSS }));
    engine?.dispose();`;
  const records: LoadRecord[] = [];
  for (const purpose of ['baseline', 'training', 'scoring'] as const) {
    const runs: { ms: number; rss: number; peakKb: number }[] = [];
    for (let i = 0; i < repeats; i++) {
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, path, purpose, String(options.threads ?? 0)], { maxBuffer: 1 << 20 }).catch((cause: Error & { stderr?: string }) => {
        throw new IntraError('INTRA_NATIVE', `Loading ${path} for ${purpose} failed: ${(cause.stderr ?? cause.message).trim().split('\n').slice(-3).join(' ')}`);
      });
      runs.push(JSON.parse(stdout.trim().split('\n').pop()!) as { ms: number; rss: number; peakKb: number });
    }
    records.push({
      purpose,
      seconds: median(runs.map((r) => r.ms)) / 1000,
      peak_rss_mb: median(runs.map((r) => mb(r.peakKb * 1024))),
      rss_after_mb: median(runs.map((r) => mb(r.rss))),
      file_mb: mb(size),
    });
  }
  return records;
}

/** The records as a table: each purpose's time and memory, and its memory above the baseline. */
export function loadTable(records: LoadRecord[]): string {
  const base = records.find((r) => r.purpose === 'baseline');
  const rows = records.map((r) => {
    const above = base && r !== base ? ` (+${(r.peak_rss_mb - base.peak_rss_mb).toFixed(0)} / +${(r.rss_after_mb - base.rss_after_mb).toFixed(0)})` : '';
    return `| ${r.purpose} | ${r.seconds.toFixed(2)} s | ${r.peak_rss_mb.toFixed(0)} MB | ${r.rss_after_mb.toFixed(0)} MB${above} |`;
  });
  return [`model file: ${records[0]?.file_mb ?? 0} MB; memory above the baseline in brackets (peak / once loaded)`, '| load | time | peak RSS | RSS once loaded |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
