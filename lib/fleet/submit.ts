/**
 * `intra queue submit`: a run's images into BullMQ jobs of N images. Idempotent per file:
 * an image already in the run is never enqueued again, whatever the batch size, and a job's
 * id is derived from the run and its files, so a submit cut short and repeated adds the
 * same jobs (which BullMQ ignores) rather than new ones.
 *
 * @example const r = await submitRun({ redis: 'redis://127.0.0.1:6379', model: 'bottle.intra', inputs: ['line3/'], batch: 32 });
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';

import { Queue, type DefaultJobOptions } from 'bullmq';

import { listImages } from '../data/dataset.js';
import { IntraError } from '../errors.js';
import { parseThreshold } from '../infer/threshold.js';
import { checkRunName, openRedis, QUEUE_NAME, QUEUE_PREFIX, readRunMeta, redisOptions, runKeys, withRedis, type ScoreJobData } from './redis.js';

export interface SubmitOptions {
  redis: string;
  model: string;
  inputs: string[];
  run?: string;
  /** images per job */
  batch?: number;
  /** a number, or "model" */
  threshold?: string;
}

export interface SubmitResult {
  run: string;
  images: number;
  added: number;
  jobs: number;
}

/** The model file's SHA-256: what every job checks before it scores. */
export async function fileChecksum(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (cause) {
    throw new IntraError('INTRA_IO', `Cannot read model ${path}: ${(cause as Error).message}`);
  }
  return hash.digest('hex');
}

function defaultRunName(model: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${basename(model, extname(model)).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)}-${stamp}`;
}

/** Options of every job of a run. */
const JOB_OPTIONS: DefaultJobOptions = {
  // A thrown error (Redis lost mid-job, say) is retried twice; a file that cannot be decoded
  // is a result, not an error, so it is never retried.
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

export async function submitRun(options: SubmitOptions): Promise<SubmitResult> {
  const batch = options.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a positive integer for --batch but received ${batch}`);
  const threshold = String(parseThreshold(options.threshold));
  const model = resolve(options.model);
  const info = await stat(model).catch(() => undefined);
  if (!info?.isFile()) throw new IntraError('INTRA_IO', `Model ${options.model} is not a file`);
  const checksum = await fileChecksum(model);
  const run = checkRunName(options.run ?? defaultRunName(model));
  // Workers see files by path: absolute paths, sorted so that jobs are the same on a repeat.
  const files = (await listImages(options.inputs)).map((f) => resolve(f)).sort();
  if (files.length === 0) throw new IntraError('INTRA_DATASET', `No images in ${options.inputs.join(', ')}`);

  redisOptions(options.redis);  // a malformed URL is an argument error, before any connection
  const redis = openRedis(options.redis, { failFast: true });
  const queue = new Queue<ScoreJobData>(QUEUE_NAME, { connection: redis, prefix: QUEUE_PREFIX, defaultJobOptions: JOB_OPTIONS });
  try {
    return await withRedis(options.redis, async () => {
      const keys = runKeys(run);
      const existing = await readRunMeta(redis, run);
      if (existing && (existing.model !== model || existing.checksum !== checksum)) {
        throw new IntraError(
          'INTRA_QUEUE',
          `Run ${run} was submitted with model ${existing.model} (sha256 ${existing.checksum.slice(0, 12)}); ` +
            `this submit names ${model} (sha256 ${checksum.slice(0, 12)}): a run scores with one model, start another run`,
        );
      }
      if (!existing) await redis.hset(keys.meta, { model, checksum, threshold, created: Date.now() });

      const known = new Set<string>();
      for (let i = 0; i < files.length; i += 10_000) {
        const slice = files.slice(i, i + 10_000);
        const present = await redis.hmget(keys.files, ...slice);
        slice.forEach((f, k) => present[k] !== null && known.add(f));
      }
      const fresh = files.filter((f) => !known.has(f));
      let jobs = 0;
      for (let i = 0; i < fresh.length; i += batch * 256) {
        const chunk = fresh.slice(i, i + batch * 256);
        const bulk = [];
        const registry: string[] = [];
        for (let j = 0; j < chunk.length; j += batch) {
          const jobFiles = chunk.slice(j, j + batch);
          const jobId = `${run}-${createHash('sha256').update(jobFiles.join('\n')).digest('hex').slice(0, 20)}`;
          bulk.push({ name: 'score', data: { run, model, checksum, threshold, files: jobFiles }, opts: { jobId } });
          for (const f of jobFiles) registry.push(f, jobId);
        }
        // Jobs first, then the registry: a submit killed in between repeats the same job ids.
        await queue.addBulk(bulk);
        await redis.hset(keys.files, ...registry);
        jobs += bulk.length;
      }
      return { run, images: files.length, added: fresh.length, jobs };
    });
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}
