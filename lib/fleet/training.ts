/**
 * Training jobs on the fleet: one BullMQ job per category (queue `intra-train`), each training
 * `<models>/<category>.intra` on whichever worker takes it, with the checkpoints in that folder
 * (a filesystem every worker sees). A job whose worker died is taken up again by another
 * worker, which resumes from the last checkpoint (training resume is exact), never from
 * scratch; a worker stopped with a signal saves the checkpoint and hands the job back.
 *
 * @example await submitTraining({ redis: 'redis://queue:6379', inputs: ['mvtec/'], models: 'models', options: { preset: 'cpu' } });
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import { DelayedError, Queue, UnrecoverableError, Worker, type DefaultJobOptions, type Job } from 'bullmq';

import { IntraError } from '../errors.js';
import { Engine } from '../engine.js';
import type { Device, Precision } from '../native.js';
import { trainCategory, type TrainOptions, type TrainState } from '../train/train.js';
import { openRedis, QUEUE_PREFIX, redisOptions, withRedis } from './redis.js';

export const TRAIN_QUEUE_NAME = 'intra-train';

/** The `intra train` options a job carries (JSON-safe): every worker trains with the same. */
export type TrainJobOptions = Pick<
  TrainOptions,
  | 'recipe' | 'preset' | 'attention' | 'imageSize' | 'shape' | 'batchSize' | 'learningRate' | 'epochs' | 'patience' | 'minutes'
  | 'windowsPerImage' | 'validationWindowsPerImage' | 'augment' | 'gmsScales' | 'anomalyMap' | 'map' | 'seed' | 'trainPrecision' | 'longResiduals'
>;

export interface TrainJobData {
  /** the category's folder, absolute */
  category: string;
  name: string;
  /** the model file, absolute: also the job's checkpoint */
  out: string;
  options: TrainJobOptions;
}

/** What a training job reports while it runs (job progress) and when it ends (its return value). */
export interface TrainJobProgress {
  epoch: number;
  epochs: number;
  bestEpoch: number;
  bestLoss: number | null;
  /** seconds to the end of training at the last epoch's pace (bounded by a minutes budget) */
  etaSeconds: number | null;
  /** whether this worker took the job up from a checkpoint */
  resumed: boolean;
}

const isDirectory = (path: string) => stat(path).then((s) => s.isDirectory(), () => false);

/**
 * The categories named: a folder with `train/` is one; another folder stands for its
 * subfolders that have `train/` (an MVTec AD root). Sorted, each once.
 */
export async function categoriesIn(inputs: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const input of inputs) {
    if (!(await isDirectory(input))) throw new IntraError('INTRA_DATASET', `Category folder ${input} does not exist`);
    if (await isDirectory(join(input, 'train'))) {
      found.add(resolve(input));
      continue;
    }
    const children = (await readdir(input, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(input, e.name));
    const categories = [];
    for (const child of children) if (await isDirectory(join(child, 'train'))) categories.push(resolve(child));
    if (categories.length === 0) throw new IntraError('INTRA_DATASET', `${input} is neither a category (no train/ folder) nor a folder of categories`);
    for (const c of categories) found.add(c);
  }
  return [...found].sort();
}

/** A job's id: the same category into the same model file is the same job, however often submitted. */
export function trainJobId(category: string, out: string): string {
  const name = basename(category).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
  return `train-${name}-${createHash('sha256').update(`${category}\n${out}`).digest('hex').slice(0, 16)}`;
}

const TRAIN_JOB_OPTIONS: DefaultJobOptions = {
  // A thrown error (Redis lost mid-epoch, say) is retried from the checkpoint; a dataset
  // error is not (UnrecoverableError).
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 30 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

export interface SubmitTrainingOptions {
  redis: string;
  /** category folders, or folders of categories */
  inputs: string[];
  /** the folder of the models (`<category>.intra`), seen by every worker at the same path */
  models: string;
  options?: TrainJobOptions;
}

export interface SubmittedTraining {
  category: string;
  out: string;
  jobId: string;
  /** false: a job for it was already in the queue, and nothing was added */
  added: boolean;
}

export async function submitTraining(options: SubmitTrainingOptions): Promise<SubmittedTraining[]> {
  const categories = await categoriesIn(options.inputs);
  const models = resolve(options.models);
  redisOptions(options.redis);  // a malformed URL is an argument error, before any connection
  const redis = openRedis(options.redis, { failFast: true });
  const queue = new Queue<TrainJobData>(TRAIN_QUEUE_NAME, { connection: redis, prefix: QUEUE_PREFIX, defaultJobOptions: TRAIN_JOB_OPTIONS });
  try {
    return await withRedis(options.redis, async () => {
      const submitted: SubmittedTraining[] = [];
      for (const category of categories) {
        const name = basename(category), out = join(models, `${name}.intra`), jobId = trainJobId(category, out);
        const added = (await queue.getJob(jobId)) === undefined;
        if (added) await queue.add('train', { category, name, out, options: options.options ?? {} }, { jobId });
        submitted.push({ category, out, jobId, added });
      }
      return submitted;
    });
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

/** A training job as `intra queue status` shows it. */
export interface TrainJobStatus {
  category: string;
  out: string;
  state: string;
  progress: TrainJobProgress | null;
  error?: string;
}

export async function trainingStatus(url: string): Promise<TrainJobStatus[]> {
  redisOptions(url);
  const redis = openRedis(url, { failFast: true });
  const queue = new Queue<TrainJobData>(TRAIN_QUEUE_NAME, { connection: redis, prefix: QUEUE_PREFIX });
  try {
    return await withRedis(url, async () => {
      const jobs = await queue.getJobs(['active', 'waiting', 'delayed', 'prioritized', 'completed', 'failed']);
      const statuses = await Promise.all(jobs.map(async (job) => ({
        category: job.data.category,
        out: job.data.out,
        state: await job.getState(),
        progress: typeof job.progress === 'object' ? (job.progress as unknown as TrainJobProgress) : null,
        ...(job.failedReason ? { error: job.failedReason } : {}),
      })));
      return statuses.sort((a, b) => a.category.localeCompare(b.category));
    });
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

async function modelState(out: string): Promise<TrainState | undefined> {
  if (!(await stat(out).then((s) => s.isFile(), () => false))) return undefined;
  const engine = await Engine.load(out, { threads: 1, purpose: 'scoring' });
  try {
    return engine.metadata<TrainState>();
  } finally {
    engine.dispose();
  }
}

function progressOf(state: TrainState, resumed: boolean): TrainJobProgress {
  const last = state.history.at(-1)?.seconds ?? null;
  let eta = last === null ? null : Math.max(0, state.epochs - state.epoch) * last;
  if (eta !== null && state.minutes !== undefined) eta = Math.min(eta, Math.max(0, state.minutes * 60 - (state.trainingSeconds ?? 0)));
  return { epoch: state.epoch, epochs: state.epochs, bestEpoch: state.bestEpoch, bestLoss: state.bestLoss, etaSeconds: state.state === 'done' ? 0 : eta, resumed };
}

/** What the training side of a worker takes of `intra worker`'s options. */
export interface TrainingWorkerOptions {
  redis: string;
  threads?: number;
  device?: Device;
  precision?: Precision;
  inferenceBatch?: number;
  /** how long a job's lock lives without renewal: a dead worker's job is taken up again after about this long */
  stallMs?: number;
}

/** The training side of `intra worker`: one job at a time (training takes all the threads it is given). */
export async function startTrainingWorker(options: TrainingWorkerOptions, log: (line: string) => void, trouble: (line: string) => void): Promise<{ close: () => Promise<void> }> {
  const stallMs = options.stallMs ?? 30_000;
  const stopping = new AbortController();
  const processJob = async (job: Job<TrainJobData>, token?: string): Promise<TrainJobProgress> => {
    const { category, name, out } = job.data;
    const before = await modelState(out).catch(() => undefined);
    if (before?.state === 'done') {
      log(`intra worker: ${name}: ${out} has finished training already`);
      return progressOf(before, false);
    }
    const resumed = before !== undefined;
    log(`intra worker: training ${name} (job ${job.id})${resumed ? `, resuming from its checkpoint after epoch ${before.epoch}` : ''}`);
    // Each epoch's figures go into the job's progress (what intra queue status shows).
    let epochs = before?.epochs ?? job.data.options.epochs ?? 0, spent = before?.trainingSeconds ?? 0;
    const report = (p: TrainJobProgress) => void job.updateProgress(p as unknown as object).catch(() => undefined);
    if (before) report(progressOf(before, true));
    try {
      const result = await trainCategory({
        ...job.data.options,
        category,
        out,
        resume: resumed,
        threads: options.threads,
        device: options.device,
        precision: options.precision,
        inferenceBatch: options.inferenceBatch,
        signal: stopping.signal,
        onProgress: (p) => (epochs = p.epochs),
        onEpoch: (r) => {
          spent += r.seconds;
          const budget = job.data.options.minutes === undefined ? Infinity : Math.max(0, job.data.options.minutes * 60 - spent);
          report({ epoch: r.epoch, epochs, bestEpoch: r.bestEpoch, bestLoss: r.bestLoss, etaSeconds: Math.min(budget, Math.max(0, epochs - r.epoch) * r.seconds), resumed });
        },
        onNote: (note) => log(`intra worker: ${name}: ${note}`),
      });
      if (result.interrupted) {
        // Stopped by a signal: the checkpoint is saved; the job goes back for any worker.
        log(`intra worker: ${name}: stopped in epoch ${result.state.epoch + 1}, checkpoint saved; the job goes back to the queue`);
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError();
      }
      log(`intra worker: ${name}: trained, best epoch ${result.state.bestEpoch} of ${result.state.epoch}`);
      return progressOf(result.state, resumed);
    } catch (cause) {
      if (cause instanceof DelayedError) throw cause;
      const error = cause instanceof IntraError ? cause : new IntraError('INTRA_NATIVE', (cause as Error)?.message ?? String(cause));
      // Bad data fails the job for good; anything else is tried again, from the checkpoint.
      if (['INTRA_DATASET', 'INTRA_CHANNELS', 'INTRA_IMAGE', 'INTRA_INVALID_ARGUMENT'].includes(error.code)) {
        throw new UnrecoverableError(`${error.message} [${error.code}]`);
      }
      throw error;
    }
  };

  const worker = new Worker<TrainJobData, TrainJobProgress>(TRAIN_QUEUE_NAME, processJob, {
    connection: { ...redisOptions(options.redis), retryStrategy: (n: number) => Math.min(100 * n, 2000) },
    prefix: QUEUE_PREFIX,
    concurrency: 1,
    lockDuration: stallMs,
    stalledInterval: stallMs,
    maxStalledCount: 3,
  });
  worker.on('completed', (job) => log(`intra worker: training job ${job.id} (${job.data.name}) done`));
  worker.on('failed', (job, error) => log(`intra worker: training job ${job?.id ?? '?'} (${job?.data.name ?? '?'}) failed: ${error.message}`));
  worker.on('error', (error) => trouble(error.message));
  await worker.waitUntilReady().catch((cause: Error) => trouble(`Redis at ${options.redis}: ${cause.message} (retrying)`));
  return {
    close: async () => {
      stopping.abort();
      await worker.close();
    },
  };
}
