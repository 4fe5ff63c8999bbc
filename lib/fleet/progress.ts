/**
 * A run seen from outside: its counts, rate and ETA (`intra queue status`), and its results
 * (`intra queue results`), each image's line exactly once, in the order they arrived.
 *
 * @example for await (const line of runResults(url, 'line3-nightly', { follow: true })) out.write(line + '\n');
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Queue } from 'bullmq';

import { IntraError } from '../errors.js';
import { openRedis, QUEUE_NAME, QUEUE_PREFIX, readRunMeta, runKeys, withRedis, type FleetRedis, type ScoreJobData } from './redis.js';

export interface RunStatus {
  run: string;
  model: string;
  images: number;
  /** images in jobs no worker holds yet */
  waiting: number;
  /** images in jobs a worker holds, not yet recorded */
  active: number;
  scored: number;
  failed: number;
  complete: boolean;
  images_per_s: number | null;
  eta_s: number | null;
}

async function requireRun(redis: FleetRedis, url: string, run: string) {
  const meta = await readRunMeta(redis, run);
  if (!meta) throw new IntraError('INTRA_QUEUE', `No run named ${run} on ${url} (intra queue submit prints the run's name)`);
  return meta;
}

export async function runStatus(url: string, run: string): Promise<RunStatus> {
  const redis = openRedis(url, { failFast: true });
  const queue = new Queue<ScoreJobData>(QUEUE_NAME, { connection: redis, prefix: QUEUE_PREFIX });
  try {
    return await withRedis(url, async () => {
      const keys = runKeys(run);
      const meta = await requireRun(redis, url, run);
      const images = await redis.hlen(keys.files);
      let active = 0;
      // Active jobs are few (workers x concurrency): their images not yet recorded are "active".
      for (const job of await queue.getJobs(['active'], 0, 10_000)) {
        if (job?.data?.run !== run) continue;
        const done = await redis.hmget(keys.done, ...job.data.files);
        active += done.filter((d) => d === null).length;
      }
      const finished = meta.scored + meta.failed;
      const waiting = Math.max(0, images - finished - active);
      const seconds = meta.firstAt !== undefined && meta.lastAt !== undefined ? (meta.lastAt - meta.firstAt) / 1000 : 0;
      const rate = finished > 1 && seconds > 0 ? (finished - 1) / seconds : null;
      return {
        run,
        model: meta.model,
        images,
        waiting,
        active,
        scored: meta.scored,
        failed: meta.failed,
        complete: finished >= images,
        images_per_s: rate,
        eta_s: rate ? (images - finished) / rate : finished >= images ? 0 : null,
      };
    });
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

export interface ResultsOptions {
  /** wait for results until every image of the run has one */
  follow?: boolean;
  pollMs?: number;
  /** told when --follow has seen nothing new for a while */
  onQuiet?: (outstanding: number, quietSeconds: number) => void;
}

/** The run's JSON lines, each image's exactly once. */
export async function* runResults(url: string, run: string, options: ResultsOptions = {}): AsyncGenerator<string> {
  const redis = openRedis(url, { failFast: true });
  const pollMs = options.pollMs ?? 250;
  try {
    const keys = runKeys(run);
    await withRedis(url, () => requireRun(redis, url, run));
    let offset = 0, lastNew = Date.now(), lastQuietNote = 0;
    for (;;) {
      const chunk = await withRedis(url, () => redis.lrange(keys.results, offset, offset + 999));
      for (const line of chunk) yield line;
      offset += chunk.length;
      if (chunk.length === 1000) continue;
      if (!options.follow) return;
      const images = await withRedis(url, () => redis.hlen(keys.files));
      if (offset >= images) return;
      if (chunk.length > 0) lastNew = Date.now();
      const quiet = (Date.now() - lastNew) / 1000;
      if (quiet >= 30 && Date.now() - lastQuietNote > 30_000) {
        options.onQuiet?.(images - offset, Math.round(quiet));
        lastQuietNote = Date.now();
      }
      await sleep(pollMs);
    }
  } finally {
    redis.disconnect();
  }
}
