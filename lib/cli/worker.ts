/**
 * `intra worker`: scores jobs from Redis until stopped; Ctrl-C or SIGTERM finishes the job
 * in hand, then exits (a second signal exits at once; the job is then taken up again by
 * another worker).
 *
 * @example intra worker --redis redis://queue:6379 --threads 8 --maps /mnt/line3/heat
 */
import type { Argv } from 'yargs';

import { IntraError } from '../errors.js';
import { JOB_KINDS, startWorker, type JobKind } from '../fleet/worker.js';
import { engineOptions, engineOptionsOf } from './options.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'worker',
    'take scoring jobs (intra queue submit) and training jobs (intra queue train) from Redis until stopped',
    (y) =>
      y
        .option('redis', { type: 'string', demandOption: true, describe: 'the Redis the runs were submitted to, e.g. redis://host:6379' })
        .options(engineOptions)
        .option('concurrency', { type: 'number', default: 1, describe: 'jobs in hand at once (decode of one overlaps the engine on another)' })
        .option('batch', { type: 'number', default: 8, describe: 'images per engine call' })
        .option('maps', { type: 'string', describe: 'folder for heat-map overlays and anomaly maps (PNG)' })
        .option('jobs', { type: 'string', default: 'score,train', describe: 'the kinds of job taken: score, train, or both' })
        .option('stall-ms', { type: 'number', default: 30_000, describe: 'a dead worker\'s job is taken up again after about this long (give every worker the same value: the stalled-job check is shared)' }),
    async (args) => {
      const jobs = args.jobs.split(',').map((j) => j.trim()).filter(Boolean);
      const unknown = jobs.filter((j) => !(JOB_KINDS as readonly string[]).includes(j));
      if (unknown.length > 0 || jobs.length === 0) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected score, train or score,train for --jobs but received '${args.jobs}'`);
      const worker = await startWorker({
        jobs: jobs as JobKind[],
        redis: args.redis,
        concurrency: args.concurrency,
        ...engineOptionsOf(args),
        batch: args.batch,
        mapsDir: args.maps,
        stallMs: args.stallMs,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`intra worker: ${signal}: finishing the scoring job in hand (a training job saves its checkpoint and goes back to the queue), then exiting (again to exit now)\n`);
          process.once(signal, () => process.exit(130));
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await worker.close();
      process.stderr.write('intra worker: stopped\n');
    },
  );
}
