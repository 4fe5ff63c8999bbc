// The scoring fleet against a real redis-server: two workers, a worker killed mid-job, a
// bad image, a model that cannot load or changed, Redis killed and restarted mid-run. In
// each, every image has exactly one result, equal to what `intra score` gives.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { benchFleet } from '../lib/bench/fleet.js';
import { startRedis, type RedisServer } from '../lib/fleet/local-redis.js';
import { tinyModelAndImages } from './fixtures.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
const root = mkdtempSync(join(tmpdir(), 'intra-fleet-'));
const model = join(root, 'm.intra'), images = join(root, 'images');
const count = 240;  // good images, plus broken.png
let redis: RedisServer;
let client: Redis;
let expected: Map<string, { score?: number; code?: string }>;

interface Line { file: string; score?: number; error?: string; code?: string }

const intra = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

function worker(url: string, ...extra: string[]): ChildProcess & { log: () => string } {
  const child = spawn(process.execPath, [cli, 'worker', '--redis', url, '--threads', '1', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  return Object.assign(child, { log: () => log });
}

const exit = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

async function until(what: string, test: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await test())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const recorded = (c: Redis, run: string) => c.llen(`intra:run:${run}:results`);

/**
 * SIGKILL for `child` as soon as the run holds `count` results: on Redis's own notice of each
 * push (keyspace events), not on a poll, so that the kill lands within a push or two of it
 * whatever the machine's speed.
 */
async function killAtResults(url: string, child: ChildProcess, run: string, count: number): Promise<void> {
  const key = `intra:run:${run}:results`;
  const subscriber = new Redis(url);
  await client.config('SET', 'notify-keyspace-events', 'Kl');
  await subscriber.subscribe(`__keyspace@0__:${key}`);
  try {
    await new Promise<void>((resolve, reject) => {
      const check = () => recorded(client, run).then((n) => {
        if (n >= count && child.kill('SIGKILL')) resolve();
      }, reject);
      subscriber.on('message', check);
      child.once('exit', () => reject(new Error(`the worker exited before ${count} results`)));
      void check();
    });
  } finally {
    subscriber.disconnect();
  }
}

/** `intra queue results --follow`, run without blocking this process (the workers' logs keep flowing). */
async function results(url: string, run: string): Promise<Line[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'queue', 'results', run, '--redis', url, '--follow'], { maxBuffer: 1 << 26 }).catch(
    (failed: { stdout: string; code: number }) => (failed.code === 1 ? failed : Promise.reject(failed)),  // exit 1: some images have error lines
  );
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

/** Exactly one line per image, each as `intra score` gave it. */
function expectExactlyOnce(lines: Line[]): void {
  expect(lines.map((l) => l.file).sort()).toEqual([...expected.keys()].sort());
  for (const line of lines) {
    const want = expected.get(line.file)!;
    if (want.score === undefined) expect(line.code).toBe(want.code);
    else expect(line.score).toBeCloseTo(want.score, 6);
  }
}

beforeAll(async () => {
  await tinyModelAndImages(model, images, count);
  const baseline = intra('score', model, images, '--threads', '1');
  expect(baseline.status).toBe(1);  // broken.png
  expected = new Map(baseline.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line).map((l) => [l.file, l]));
  expect(expected.size).toBe(count + 1);
  redis = await startRedis(mkdtempSync(join(root, 'redis-')));
  client = new Redis(redis.url);
  client.on('error', () => undefined);  // Redis is killed on purpose below
});

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

describe('intra queue and intra worker', () => {
  it('two workers: every image exactly once, as intra score gives it; a repeated submit adds nothing; a bad image is a result, not a retry', async () => {
    const submit = intra('queue', 'submit', model, images, '--redis', redis.url, '--run', 'two', '--batch', '16');
    expect(submit.status, submit.stderr).toBe(0);
    expect(submit.stdout.trim()).toBe('two');
    expect(submit.stderr).toContain(`${count + 1} new images in 16 jobs`);
    const again = intra('queue', 'submit', model, images, '--redis', redis.url, '--run', 'two', '--batch', '5');
    expect(again.stderr).toContain(`0 new images in 0 jobs (${count + 1} of ${count + 1} already submitted)`);

    // --stall-ms as every worker of this file uses: BullMQ's stalled-job check is throttled queue-wide by the last interval set.
    const maps = join(root, 'maps');
    const workers = [worker(redis.url, '--stall-ms', '1000', '--maps', maps), worker(redis.url, '--stall-ms', '1000')];
    const lines = await results(redis.url, 'two');
    expectExactlyOnce(lines);
    for (const w of workers) w.kill('SIGTERM');
    expect(await Promise.all(workers.map(exit))).toEqual([0, 0]);
    // The first worker drew the maps of the images it scored.
    expect(readdirSync(maps).filter((f) => f.endsWith('.map.png')).length).toBeGreaterThan(0);
    // Both took jobs.
    for (const w of workers) expect(w.log()).toMatch(/job two-\w+ \(run two\): \d+ scored/);

    const queue = new Queue('intra-score', { connection: client, prefix: 'intra' });
    const brokenJob = await queue.getJob((await client.hget('intra:run:two:files', join(images, 'broken.png')))!);
    expect(await brokenJob!.getState()).toBe('completed');
    expect(brokenJob!.attemptsMade).toBeLessThanOrEqual(1);
    await queue.close();

    const status = JSON.parse(intra('queue', 'status', 'two', '--redis', redis.url, '--json').stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ images: count + 1, scored: count, failed: 1, active: 0, waiting: 0, complete: true });
  });

  it('SIGTERM finishes the job in hand; kill -9 mid-job: another worker takes the job up again, nothing twice', async () => {
    expect(intra('queue', 'submit', model, images, '--redis', redis.url, '--run', 'kill', '--batch', '80').status).toBe(0);
    const first = worker(redis.url, '--batch', '1', '--stall-ms', '1000');
    await until('the first results', async () => (await recorded(client, 'kill')) >= 3);
    first.kill('SIGTERM');
    expect(await exit(first)).toBe(0);
    expect(await recorded(client, 'kill')).toBe(80);  // its job finished, no other taken

    const second = worker(redis.url, '--batch', '1', '--stall-ms', '1000');
    await killAtResults(redis.url, second, 'kill', 85);
    await exit(second);
    const cut = await recorded(client, 'kill');
    expect(cut).toBeLessThan(160);  // killed inside its job (a push or two after the 85th)

    const third = worker(redis.url, '--batch', '1', '--stall-ms', '1000');
    expectExactlyOnce(await results(redis.url, 'kill'));
    third.kill('SIGTERM');
    expect(await exit(third)).toBe(0);
    // The stalled job skipped what was recorded (said as it starts: under load its lock may be
    // lost before it completes, and the job taken up once more).
    expect(third.log()).toContain(`${cut - 80} of 80 already done, scoring ${160 - cut}`);
  });

  it('a model that cannot load, or that changed since submit, or a job\'s threshold that is no number, fails its run with the reason; the worker goes on', async () => {
    const garbage = join(root, 'garbage.intra'), changed = join(root, 'changed.intra');
    writeFileSync(garbage, Buffer.alloc(4096, 7));
    copyFileSync(model, changed);
    expect(intra('queue', 'submit', garbage, images, '--redis', redis.url, '--run', 'garbage', '--batch', '100').status).toBe(0);
    expect(intra('queue', 'submit', changed, images, '--redis', redis.url, '--run', 'changed', '--batch', '100').status).toBe(0);
    writeFileSync(changed, Buffer.concat([readFileSync(model), Buffer.from('x')]));  // same model, other bytes
    // A job written by other means than intra queue submit (which refuses this threshold).
    expect(intra('queue', 'submit', model, images, '--redis', redis.url, '--run', 'threshold', '--batch', '100').status).toBe(0);
    expect(intra('queue', 'submit', model, images, '--redis', redis.url, '--run', 'refused', '--threshold', 'high').stderr).toContain(`Expected a number or "model" for --threshold but received 'high'`);
    const queue = new Queue('intra-score', { connection: client, prefix: 'intra' });
    for (const job of await queue.getJobs(['waiting', 'prioritized', 'delayed'])) {
      if (job.data.run === 'threshold') await job.updateData({ ...job.data, threshold: 'high' });
    }
    await queue.close();
    const w = worker(redis.url, '--stall-ms', '1000');
    for (const line of await results(redis.url, 'threshold')) {
      expect(line.score).toBeUndefined();
      expect(line).toMatchObject({ code: 'INTRA_INVALID_ARGUMENT', error: `Run threshold: Expected a number or "model" for --threshold but received 'high'` });
    }
    for (const run of ['garbage', 'changed']) {
      const lines = await results(redis.url, run);
      expect(lines).toHaveLength(count + 1);
      expect(new Set(lines.map((l) => l.file)).size).toBe(count + 1);
      for (const line of lines) {
        expect(line.score).toBeUndefined();
        if (run === 'garbage') expect(line.error).toContain(`Cannot load model ${garbage} for run garbage`);
        else expect(line.code).toBe('INTRA_MODEL_CHANGED');
      }
    }
    await until('the failure in the worker log', async () => /job garbage-\w+ failed: Cannot load model/.test(w.log()));
    // Still alive and scoring: a good run after the bad ones.
    expect(intra('queue', 'submit', model, images, '--redis', redis.url, '--run', 'after', '--batch', '64').status).toBe(0);
    expectExactlyOnce(await results(redis.url, 'after'));
    expect(w.exitCode).toBeNull();
    w.kill('SIGTERM');
    expect(await exit(w)).toBe(0);
  });

  it('Redis killed and restarted mid-run (append-only file): workers reconnect, nothing submitted is lost', async () => {
    expect(intra('queue', 'submit', model, images, '--redis', redis.url, '--run', 'restart', '--batch', '20').status).toBe(0);
    const w = worker(redis.url, '--batch', '2', '--stall-ms', '1000');
    await until('the first results', async () => (await recorded(client, 'restart')) >= 30);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 500));
    await redis.start();
    const lines = await results(redis.url, 'restart');
    expectExactlyOnce(lines);
    w.kill('SIGTERM');
    expect(await exit(w)).toBe(0);
  });

  it('intra bench fleet: both sides score every image, Redis\'s cost and the workers\' memory are measured', async () => {
    const r = await benchFleet({ workers: 2, preset: 'tiny', images: 12, queueImages: 60, jobImages: 4, threads: 2, redis: redis.url });
    expect(r).toMatchObject({ bench: 'fleet', workers: 2, threads: 2, threads_per_worker: 1, images: 12, queue_images: 60 });
    for (const x of [r.single_images_per_s, r.fleet_images_per_s, r.redis_cpu_ms_per_image, r.bottleneck_workers]) expect(x).toBeGreaterThan(0);
    expect(Number.isFinite(r.overhead_percent)).toBe(true);
    expect(r.worker_rss_mb).toHaveLength(2);
    for (const w of r.worker_rss_mb) expect(w.peak).toBeGreaterThanOrEqual(w.first);
    expect(r.machine.cpu.length).toBeGreaterThan(0);
  });

  it('says what is wrong: no such run, a malformed URL, Redis not there', () => {
    const none = intra('queue', 'status', 'nosuchrun', '--redis', redis.url);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('No run named nosuchrun');
    const url = intra('queue', 'submit', model, images, '--redis', 'http://x', '--run', 'x');
    expect(url.status).toBe(1);
    expect(url.stderr).toContain("Expected a redis:// or rediss:// URL for --redis but received 'http://x'");
    const down = intra('queue', 'results', 'two', '--redis', 'redis://127.0.0.1:1');
    expect(down.status).toBe(1);
    expect(down.stderr).toContain('Cannot reach Redis at redis://127.0.0.1:1');
  });
});
