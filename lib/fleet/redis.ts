/**
 * The Redis side of the scoring fleet: connections, the keys of a run, and the one atomic
 * step that records an image's result exactly once.
 *
 * Jobs travel through BullMQ (queue `intra-score`); what BullMQ does not keep per run lives
 * under `intra:run:<run>:*`:
 * - `meta`    hash: model, checksum, threshold, created; counters scored/failed; firstAt/lastAt (ms)
 * - `files`   hash: file -> job id, every image submitted (makes submit idempotent per file)
 * - `done`    hash: file -> 1 once its result is recorded (makes results exactly-once)
 * - `results` list: the JSON lines of `intra score`, in the order they arrived
 *
 * @example const redis = openRedis('redis://127.0.0.1:6379', { failFast: true });
 */
import { Redis, type RedisOptions } from 'ioredis';

import { IntraError } from '../errors.js';

export const QUEUE_NAME = 'intra-score';
export const QUEUE_PREFIX = 'intra';

/** Redis with our result-recording script attached. */
export type FleetRedis = Redis & {
  recordResult(resultsKey: string, doneKey: string, metaKey: string, file: string, line: string, failed: '0' | '1', now: string): Promise<number>;
};

/** Options for ioredis from a `redis://[user:password@]host[:port][/db]` URL; checked, with a clear error. */
export function redisOptions(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a URL like redis://host:6379 for --redis but received '${url}'`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a redis:// or rediss:// URL for --redis but received '${url}'`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a database number after the host in --redis but received '${url}'`);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's workers need commands to wait out a reconnect rather than fail after N retries.
    maxRetriesPerRequest: null,
  };
}

const RECORD_RESULT = `
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3] == '1' and 'failed' or 'scored', 1)
redis.call('HSETNX', KEYS[3], 'firstAt', ARGV[4])
redis.call('HSET', KEYS[3], 'lastAt', ARGV[4])
return 1`;

/**
 * A connection. `failFast` (for the short-lived commands: submit, status, results) gives up
 * after a few seconds without Redis and says so; without it (workers) it reconnects forever.
 */
export function openRedis(url: string, options: { failFast: boolean; onReconnect?: (attempt: number) => void }): FleetRedis {
  const base = redisOptions(url);
  const redis = new Redis({
    ...base,
    lazyConnect: false,
    retryStrategy: (attempt) => {
      if (options.failFast && attempt > 8) return null;
      options.onReconnect?.(attempt);
      return Math.min(100 * attempt, 2000);
    },
    ...(options.failFast ? { maxRetriesPerRequest: 2 } : {}),
  }) as FleetRedis;
  // ioredis reports connection trouble as 'error' events; commands fail (or wait) on their own.
  redis.on('error', () => undefined);
  redis.defineCommand('recordResult', { numberOfKeys: 3, lua: RECORD_RESULT });
  return redis;
}

/** Runs a Redis call, turning a lost connection into an error that names the URL. */
export async function withRedis<T>(url: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    if (cause instanceof IntraError) throw cause;
    const message = (cause as Error).message ?? String(cause);
    if (/connect|Connection is closed|ECONNREFUSED|Reached the max retries|ETIMEDOUT|EHOSTUNREACH/i.test(message)) {
      throw new IntraError('INTRA_REDIS', `Cannot reach Redis at ${url}: ${message}`);
    }
    throw new IntraError('INTRA_REDIS', `Redis at ${url}: ${message}`);
  }
}

const RUN_NAME = /^[A-Za-z0-9._-]{1,100}$/;

export function checkRunName(run: string): string {
  if (!RUN_NAME.test(run)) {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected 1-100 letters, digits, '.', '_' or '-' for the run name but received '${run}'`);
  }
  return run;
}

export function runKeys(run: string): { meta: string; files: string; done: string; results: string } {
  const base = `${QUEUE_PREFIX}:run:${checkRunName(run)}`;
  return { meta: `${base}:meta`, files: `${base}:files`, done: `${base}:done`, results: `${base}:results` };
}

/** What `queue submit` records of a run. */
export interface RunMeta {
  model: string;
  checksum: string;
  /** a number, "model" (the model's own), or "" for none */
  threshold: string;
  created: number;
  scored: number;
  failed: number;
  firstAt?: number;
  lastAt?: number;
}

export async function readRunMeta(redis: FleetRedis, run: string): Promise<RunMeta | undefined> {
  const raw = await redis.hgetall(runKeys(run).meta);
  if (!raw.model) return undefined;
  const num = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  return {
    model: raw.model,
    checksum: raw.checksum ?? '',
    threshold: raw.threshold ?? '',
    created: Number(raw.created ?? 0),
    scored: Number(raw.scored ?? 0),
    failed: Number(raw.failed ?? 0),
    firstAt: num(raw.firstAt),
    lastAt: num(raw.lastAt),
  };
}

/** The data of one BullMQ job: a run's model and a slice of its images. */
export interface ScoreJobData {
  run: string;
  model: string;
  checksum: string;
  threshold: string;
  files: string[];
}
