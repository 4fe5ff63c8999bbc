/**
 * Memory of a long scoring run: `intra score` over N small images (a tiny model, 64x64 grey
 * files made once and hard-linked N times), its peak resident memory read from the kernel
 * (getrusage of the finished child, through python3), and its wall time. The peak must not
 * grow with N: images stream through two batches in flight and results go out line by line.
 *
 * @example const r = await scoreMemory(20000, '/tmp/mem'); // { images: 20000, peak_rss_mb: ..., ... }
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

import sharp from 'sharp';

import { IntraError } from '../errors.js';
import { packageRoot } from '../native.js';
import { Engine } from '../engine.js';

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
  return { images: count, peak_rss_mb: Math.round((maxRssKb / 1024) * 10) / 10, seconds, images_per_s: count / seconds, lines };
}
