/**
 * `intra bench fleet`: N workers fed through Redis against one `intra score` process, same
 * images, same machine, same run; then Redis's own cost per image at a high rate (a tiny
 * model over many files), from which follows the fleet size at which one Redis would be the
 * bottleneck; and each worker's resident memory over the whole run.
 *
 * @example const record = await benchFleet({ workers: 2, preset: 'paper', images: 16 });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { IntraError } from '../errors.js';
import { startRedis } from '../fleet/local-redis.js';
import { openRedis, runKeys } from '../fleet/redis.js';
import { submitRun } from '../fleet/submit.js';
import { capabilities, machineLabel, modelConfig, packageRoot, type MachineLabel, type Precision, type Preset } from '../native.js';
import { Engine } from '../engine.js';
import { linkedImages, tinyModel } from './memory.js';
import { sampleImages } from './throughput.js';

export interface FleetRecord {
  bench: 'fleet';
  preset: Preset;
  precision: Precision;
  image_size: number;
  images: number;
  workers: number;
  threads: number;
  threads_per_worker: number;
  /** `intra score` with all threads: wall seconds from start to exit */
  single_seconds: number;
  single_images_per_s: number;
  /** the workers: wall seconds from their start to the last result (submit included) */
  fleet_seconds: number;
  fleet_images_per_s: number;
  /** how much longer the fleet took than the single process (negative: faster) */
  overhead_percent: number;
  /** Redis CPU (user + system) per image, measured over `queue_images` tiny images */
  redis_cpu_ms_per_image: number;
  queue_images: number;
  queue_images_per_s: number;
  /** images/s one Redis core could carry at that cost */
  redis_limit_images_per_s: number;
  /** workers of this kind at which one Redis would be saturated */
  bottleneck_workers: number;
  /** resident memory of each worker: after its first result, its peak, and at the end (MB) */
  worker_rss_mb: { first: number; peak: number; last: number }[];
  machine: MachineLabel;
}

export interface FleetOptions {
  workers?: number;
  preset?: Preset;
  precision?: Precision;
  /** images scored by both sides (the model of `preset`) */
  images?: number;
  /** tiny images for Redis's cost per image */
  queueImages?: number;
  /** images per job */
  jobImages?: number;
  threads?: number;
  /** an existing Redis; default: a redis-server of our own in the work folder */
  redis?: string;
  onNote?: (line: string) => void;
}

const cli = () => join(packageRoot(), 'dist', 'bin', 'intra.js');

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

async function rssMb(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : undefined;
}

interface RunningWorker {
  child: ChildProcess;
  rss: { first?: number; peak: number; last: number };
  log: string;
}

async function startWorkers(count: number, url: string, threads: number, precision: Precision): Promise<RunningWorker[]> {
  const workers = Array.from({ length: count }, () => {
    const child = spawn(process.execPath, [cli(), 'worker', '--redis', url, '--threads', String(threads), '--precision', precision], { stdio: ['ignore', 'ignore', 'pipe'] });
    const worker: RunningWorker = { child, rss: { peak: 0, last: 0 }, log: '' };
    child.stderr!.on('data', (chunk: Buffer) => (worker.log += chunk.toString()));
    return worker;
  });
  for (const w of workers) {
    for (let waited = 0; !w.log.includes('taking jobs'); waited += 20) {
      if (w.child.exitCode !== null || waited > 60_000) throw new IntraError('INTRA_NATIVE', `a worker did not start: ${w.log.trim() || `exit ${w.child.exitCode}`}`);
      await sleep(20);
    }
  }
  return workers;
}

/** Waits until the run has `count` results, sampling the workers' memory meanwhile. */
async function awaitResults(url: string, run: string, count: number, workers: RunningWorker[]): Promise<void> {
  const redis = openRedis(url, { failFast: true });
  try {
    for (;;) {
      for (const w of workers) {
        const mb = await rssMb(w.child.pid);
        if (mb === undefined) continue;
        w.rss.peak = Math.max(w.rss.peak, mb);
        w.rss.last = mb;
        if (w.rss.first === undefined && /job .* scored/.test(w.log)) w.rss.first = mb;
      }
      if ((await redis.llen(runKeys(run).results)) >= count) return;
      const dead = workers.find((w) => w.child.exitCode !== null);
      if (dead) throw new IntraError('INTRA_NATIVE', `a worker exited during the benchmark: ${dead.log.trim()}`);
      await sleep(100);
    }
  } finally {
    redis.disconnect();
  }
}

async function redisCpuSeconds(url: string): Promise<number> {
  const redis = openRedis(url, { failFast: true });
  try {
    const info = await redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? NaN);
    return field('used_cpu_user') + field('used_cpu_sys');
  } finally {
    redis.disconnect();
  }
}

export async function benchFleet(options: FleetOptions = {}): Promise<FleetRecord> {
  const workerCount = options.workers ?? 2, preset = options.preset ?? 'paper', precision = options.precision ?? 'fp32';
  const imageCount = options.images ?? 16, queueImages = options.queueImages ?? 3000, jobImages = options.jobImages ?? 4;
  const threads = capabilities(options.threads ?? 0).threads;
  const perWorker = Math.max(1, Math.floor(threads / workerCount));
  const note = options.onNote ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'intra-bench-fleet-'));
  const server = options.redis ? undefined : await startRedis(await mkdtemp(join(dir, 'redis-')), { fsync: 'everysec' });
  const url = options.redis ?? server!.url;
  let workers: RunningWorker[] = [];
  try {
    const config = modelConfig({ preset, channels: 3 });
    const imagesDir = join(dir, 'images'), model = join(dir, `${preset}.intra`);
    await mkdir(imagesDir);
    const { set } = await sampleImages(config.imageHeight, imageCount, imagesDir);
    // A file like a finished model's (Adam's moments, the best weights being the weights): one
    // step of training is enough, untrained weights cost the same to score as trained ones.
    const engine = Engine.create({ ...config }, { seed: 1, batchSize: 2 }, { threads });
    await engine.setTrainingImages(set);
    await engine.trainSteps(1);
    await engine.keepBest();
    await engine.fitNormalStatistics();
    await engine.save(model);
    engine.dispose();

    note(`intra score: ${imageCount} images, ${threads} threads`);
    let started = performance.now();
    const single = spawn(process.execPath, [cli(), 'score', model, imagesDir, '--threads', String(threads), '--precision', precision, '--out', join(dir, 'single.jsonl')], { stdio: 'ignore' });
    if ((await exitOf(single)) !== 0) throw new IntraError('INTRA_NATIVE', 'intra score failed in the fleet benchmark');
    const singleSeconds = (performance.now() - started) / 1000;

    note(`${workerCount} workers x ${perWorker} threads: the same images through Redis`);
    started = performance.now();
    workers = await startWorkers(workerCount, url, perWorker, precision);
    const { run } = await submitRun({ redis: url, model, inputs: [imagesDir], run: 'bench-fleet-score', batch: jobImages });
    await awaitResults(url, run, imageCount, workers);
    const fleetSeconds = (performance.now() - started) / 1000;

    note(`Redis's cost: ${queueImages} tiny images in jobs of ${jobImages}`);
    const tiny = join(dir, 'tiny.intra'), tinyDir = join(dir, 'tiny');
    await tinyModel(tiny);
    await linkedImages(tinyDir, queueImages);
    const cpuBefore = await redisCpuSeconds(url);
    started = performance.now();
    const queued = await submitRun({ redis: url, model: tiny, inputs: [tinyDir], run: 'bench-fleet-queue', batch: jobImages });
    await awaitResults(url, queued.run, queueImages, workers);
    const queueSeconds = (performance.now() - started) / 1000;
    const redisMsPerImage = ((await redisCpuSeconds(url)) - cpuBefore) * 1000 / queueImages;

    const fleetRate = imageCount / fleetSeconds;
    const limit = 1000 / redisMsPerImage;
    return {
      bench: 'fleet',
      preset,
      precision,
      image_size: config.imageHeight,
      images: imageCount,
      workers: workerCount,
      threads,
      threads_per_worker: perWorker,
      single_seconds: singleSeconds,
      single_images_per_s: imageCount / singleSeconds,
      fleet_seconds: fleetSeconds,
      fleet_images_per_s: fleetRate,
      overhead_percent: (100 * (fleetSeconds - singleSeconds)) / singleSeconds,
      redis_cpu_ms_per_image: redisMsPerImage,
      queue_images: queueImages,
      queue_images_per_s: queueImages / queueSeconds,
      redis_limit_images_per_s: limit,
      bottleneck_workers: limit / (fleetRate / workerCount),
      worker_rss_mb: workers.map((w) => ({ first: round1(w.rss.first ?? w.rss.last), peak: round1(w.rss.peak), last: round1(w.rss.last) })),
      machine: machineLabel(),
    };
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => exitOf(w.child)));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export function fleetSummary(r: FleetRecord): string {
  const m = r.machine;
  return [
    `${m.cpu} (${m.cpu_features.join(' ')}), ${r.threads} threads; ${r.preset} preset ${r.image_size}x${r.image_size}, ${r.precision}, ${r.images} images`,
    `intra score, ${r.threads} threads:       ${r.single_seconds.toFixed(1)} s  (${r.single_images_per_s.toFixed(3)} images/s)`,
    `${r.workers} workers x ${r.threads_per_worker} threads via Redis: ${r.fleet_seconds.toFixed(1)} s  (${r.fleet_images_per_s.toFixed(3)} images/s): overhead ${r.overhead_percent.toFixed(1)}%`,
    `Redis CPU per image: ${r.redis_cpu_ms_per_image.toFixed(3)} ms (${r.queue_images} tiny images at ${r.queue_images_per_s.toFixed(0)} images/s): one Redis carries ~${r.redis_limit_images_per_s.toFixed(0)} images/s, ~${r.bottleneck_workers.toFixed(0)} workers like these`,
    `worker RSS (MB, after first job / peak / end): ${r.worker_rss_mb.map((w) => `${w.first} / ${w.peak} / ${w.last}`).join('; ')}`,
  ].join('\n');
}
