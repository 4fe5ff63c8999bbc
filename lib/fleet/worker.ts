/**
 * `intra worker`: takes scoring jobs from BullMQ and scores them through the same path as
 * `intra score` (decode of the next batch overlapped with the engine's work on this one).
 *
 * What holds a run together when machines fail:
 * - every result is recorded by one atomic script that keeps the first result of a file and
 *   drops any later one, so a job taken up again after its worker died (BullMQ's stalled-job
 *   recovery) or after Redis came back never yields a second result; a job skips the files
 *   already recorded;
 * - a file that cannot be decoded is a result (error and code), never a retry;
 * - a model that cannot be loaded, or that changed since the run was submitted (its SHA-256
 *   is checked before every job), fails that job with the reason and records it for each
 *   image; the worker goes on with other jobs.
 *
 * @example const worker = await startWorker({ redis: 'redis://127.0.0.1:6379', threads: 2 }); ...; await worker.close();
 */
import { stat } from 'node:fs/promises';

import { UnrecoverableError, Worker, type Job } from 'bullmq';

import { IntraError } from '../errors.js';
import { scoreFiles, type ScoreLine } from '../infer/score.js';
import { thresholdFor } from '../infer/threshold.js';
import { type Device, type Precision } from '../native.js';
import { Engine } from '../engine.js';
import type { TrainState } from '../train/train.js';
import { openRedis, QUEUE_NAME, QUEUE_PREFIX, redisOptions, runKeys, type FleetRedis, type ScoreJobData } from './redis.js';
import { fileChecksum } from './submit.js';
import { startTrainingWorker } from './training.js';

export interface WorkerOptions {
  redis: string;
  /** jobs in hand at once (they share each model's engine, whose calls run one after another) */
  concurrency?: number;
  threads?: number;
  device?: Device;
  precision?: Precision;
  /** windows per forward pass (the engine's default when absent) */
  inferenceBatch?: number;
  /** images per engine call */
  batch?: number;
  mapsDir?: string;
  /** how long a job's lock lives without renewal: a dead worker's job is taken up again after about this long */
  stallMs?: number;
  /** progress and trouble, one line each */
  log?: (line: string) => void;
  /** the kinds of job taken: scoring (intra queue submit) and training (intra queue train); both by default */
  jobs?: readonly JobKind[];
}

export const JOB_KINDS = ['score', 'train'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export interface JobOutcome {
  scored: number;
  failed: number;
  skipped: number;
}

interface CachedModel {
  engine: Promise<Engine>;
  users: number;
  lastUsed: number;
}

/** Engines by model path and checksum, loaded once; idle ones beyond `capacity` are disposed. */
class ModelCache {
  readonly #models = new Map<string, CachedModel>();
  readonly #checksums = new Map<string, { identity: string; checksum: string }>();

  constructor(private readonly options: WorkerOptions, private readonly capacity = 4) {}

  /** The file's SHA-256, recomputed only when its size, mtime or inode changed. */
  async checksum(path: string): Promise<string> {
    const info = await stat(path).catch((cause: Error) => {
      throw new IntraError('INTRA_IO', `Cannot read model ${path}: ${cause.message}`);
    });
    const identity = `${info.size}:${info.mtimeMs}:${info.ino}`;
    const known = this.#checksums.get(path);
    if (known?.identity === identity) return known.checksum;
    const checksum = await fileChecksum(path);
    this.#checksums.set(path, { identity, checksum });
    return checksum;
  }

  async acquire(path: string, checksum: string): Promise<{ engine: Engine; release: () => void }> {
    const key = `${path}\n${checksum}`;
    let entry = this.#models.get(key);
    if (!entry) {
      const { threads, device, precision, inferenceBatch } = this.options;
      entry = { engine: Engine.load(path, { threads, device, precision, inferenceBatch, purpose: 'scoring' }), users: 0, lastUsed: 0 };
      this.#models.set(key, entry);
      // A failed load is not cached: the next job tries again (and fails with the reason).
      entry.engine.catch(() => this.#models.get(key) === entry && this.#models.delete(key));
    }
    entry.users++;
    let engine: Engine;
    try {
      engine = await entry.engine;
    } catch (cause) {
      entry.users--;
      throw cause;
    }
    const held = entry;
    return {
      engine,
      release: () => {
        held.users--;
        held.lastUsed = Date.now();
        this.#evict();
      },
    };
  }

  #evict(): void {
    const idle = [...this.#models.entries()].filter(([, e]) => e.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (let excess = this.#models.size - this.capacity; excess > 0 && idle.length > 0; excess--) {
      const [key, entry] = idle.shift()!;
      this.#models.delete(key);
      void entry.engine.then((e) => e.dispose(), () => undefined);
    }
  }

  async disposeAll(): Promise<void> {
    for (const entry of this.#models.values()) await entry.engine.then((e) => e.dispose(), () => undefined);
    this.#models.clear();
  }
}

function asIntraError(cause: unknown): IntraError {
  return cause instanceof IntraError ? cause : new IntraError('INTRA_NATIVE', (cause as Error)?.message ?? String(cause));
}

export interface FleetWorker {
  /** finishes the jobs in hand, then lets go of Redis and the engines */
  close(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<FleetWorker> {
  const log = options.log ?? (() => undefined);
  const stallMs = options.stallMs ?? 30_000;
  const concurrency = options.concurrency ?? 1;
  for (const [name, value, min] of [['--concurrency', concurrency, 1], ['--stall-ms', stallMs, 500]] as const) {
    if (!Number.isInteger(value) || value < min) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected an integer of at least ${min} for ${name} but received ${value}`);
  }
  let lastTrouble = 0;
  const trouble = (message: string) => {
    // Redis down means an error per command and retry: one line every 5 s is enough.
    if (Date.now() - lastTrouble > 5000) log(`intra worker: ${message}`);
    lastTrouble = Date.now();
  };
  const kinds = options.jobs ?? JOB_KINDS;
  if (kinds.length === 0 || kinds.some((k) => !JOB_KINDS.includes(k))) {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected some of ${JOB_KINDS.join(', ')} for --jobs but received '${kinds.join(',')}'`);
  }
  const training = kinds.includes('train') ? await startTrainingWorker(options, log, trouble) : undefined;
  if (!kinds.includes('score')) {
    log(`intra worker: taking jobs from ${options.redis} (training; threads ${options.threads ?? 0})`);
    return { close: () => training!.close() };
  }
  const redis: FleetRedis = openRedis(options.redis, { failFast: false, onReconnect: (n) => n > 1 && trouble(`reconnecting to Redis at ${options.redis} (attempt ${n})`) });
  const models = new ModelCache(options);

  const record = (keys: ReturnType<typeof runKeys>, line: ScoreLine) =>
    redis.recordResult(keys.results, keys.done, keys.meta, line.file, JSON.stringify(line), line.error ? '1' : '0', String(Date.now()));

  const processJob = async (job: Job<ScoreJobData>): Promise<JobOutcome> => {
    const { run, model, checksum, files } = job.data;
    const keys = runKeys(run);
    const done = await redis.hmget(keys.done, ...files);
    const todo = files.filter((_, k) => done[k] === null);
    if (todo.length === 0) return { scored: 0, failed: 0, skipped: files.length };
    // Said when the job starts, not only when it completes: a job taken up again may lose its
    // lock before it completes (and be taken up once more), and its skipping must still show.
    if (todo.length < files.length) log(`intra worker: job ${job.id} (run ${run}): ${files.length - todo.length} of ${files.length} already done, scoring ${todo.length}`);

    let lease: Awaited<ReturnType<ModelCache['acquire']>>;
    try {
      const current = await models.checksum(model);
      if (current !== checksum) {
        throw new IntraError(
          'INTRA_MODEL_CHANGED',
          `Model ${model} changed since run ${run} was submitted (sha256 ${checksum.slice(0, 12)} then, ${current.slice(0, 12)} now): its jobs fail rather than mix two models' scores`,
        );
      }
      lease = await models.acquire(model, checksum);
    } catch (cause) {
      const error = asIntraError(cause);
      const message = error.code === 'INTRA_MODEL_CHANGED' ? error.message : `Cannot load model ${model} for run ${run}: ${error.message}`;
      for (const file of todo) await record(keys, { file, error: message, code: error.code });
      throw new UnrecoverableError(`${message} [${error.code}]`);
    }
    const outcome: JobOutcome = { scored: 0, failed: 0, skipped: files.length - todo.length };
    let threshold: number | undefined;
    try {
      // 'model' is what submit stores when no number was given: the model's threshold, if any.
      const given = job.data.threshold === 'model' ? undefined : job.data.threshold;
      threshold = thresholdFor(given, lease.engine.metadata<Partial<TrainState>>().threshold, model);
    } catch (cause) {
      // A job submitted by other means than intra queue submit: every image gets the reason.
      lease.release();
      const error = asIntraError(cause);
      const message = `Run ${run}: ${error.message}`;
      for (const file of todo) await record(keys, { file, error: message, code: error.code });
      throw new UnrecoverableError(`${message} [${error.code}]`);
    }
    try {
      let k = 0;
      for await (const line of scoreFiles(lease.engine, todo, { threshold, mapsDir: options.mapsDir, batch: options.batch })) {
        if (await record(keys, line)) line.error ? outcome.failed++ : outcome.scored++;
        if (++k % 8 === 0) void job.updateProgress(Math.round((100 * k) / todo.length)).catch(() => undefined);
      }
    } finally {
      lease.release();
    }
    return outcome;
  };

  const worker = new Worker<ScoreJobData, JobOutcome>(QUEUE_NAME, processJob, {
    connection: { ...redisOptions(options.redis), retryStrategy: (n: number) => Math.min(100 * n, 2000) },
    prefix: QUEUE_PREFIX,
    concurrency,
    lockDuration: stallMs,
    stalledInterval: stallMs,
    // A job whose worker died is taken up again; three deaths in a row fail it.
    maxStalledCount: 3,
  });
  worker.on('completed', (job, outcome) =>
    log(`intra worker: job ${job.id} (run ${job.data.run}): ${outcome.scored} scored, ${outcome.failed} failed${outcome.skipped ? `, ${outcome.skipped} already done` : ''}`),
  );
  worker.on('failed', (job, error) => {
    log(`intra worker: job ${job?.id ?? '?'} failed: ${error.message}`);
    // A job that will not be tried again still owes each of its images a line: nothing is lost silently.
    if (job && !(error instanceof UnrecoverableError) && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      const keys = runKeys(job.data.run);
      void (async () => {
        for (const file of job.data.files) await record(keys, { file, error: `Job ${job.id} failed ${job.attemptsMade} times: ${error.message}`, code: 'INTRA_JOB_FAILED' });
      })().catch((cause: Error) => trouble(`cannot record the failure of job ${job.id}: ${cause.message}`));
    }
  });
  worker.on('error', (error) => trouble(`${error.message}`));
  await worker.waitUntilReady().catch((cause: Error) => trouble(`Redis at ${options.redis}: ${cause.message} (retrying)`));
  log(`intra worker: taking jobs from ${options.redis} (${training ? 'scoring and training' : 'scoring'}; concurrency ${concurrency}, threads ${options.threads ?? 0})`);

  return {
    close: async () => {
      await Promise.all([worker.close(), training?.close()]);
      await models.disposeAll();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
