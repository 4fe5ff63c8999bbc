/**
 * `intra queue submit|status|results`: a scoring run on a fleet of `intra worker`s fed
 * through Redis (BullMQ).
 *
 * @example intra queue submit bottle.intra /mnt/line3/incoming --redis redis://queue:6379 --run line3-nightly
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Argv } from 'yargs';

import { runResults, runStatus, type RunStatus } from '../fleet/progress.js';
import { submitRun } from '../fleet/submit.js';
import { submitTraining, trainingStatus, type TrainJobStatus } from '../fleet/training.js';
import { IntraError } from '../errors.js';
import { duration, mapOptions, modelOptions } from './options.js';
import { trainingFlags, trainingOptionsOf } from './train.js';

const redisOption = { type: 'string', demandOption: true, describe: 'the Redis every worker uses, e.g. redis://host:6379' } as const;

function statusLine(s: RunStatus, width = 30): string {
  const finished = s.scored + s.failed;
  const filled = s.images > 0 ? Math.round((width * finished) / s.images) : width;
  const rate = s.images_per_s === null ? '? images/s' : `${s.images_per_s.toFixed(1)} images/s`;
  const eta = s.complete ? 'done' : `ETA ${s.eta_s === null ? '?' : duration(s.eta_s)}`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${s.images} images: ${s.scored} scored, ${s.failed} failed, ${s.active} active, ${s.waiting} waiting; ${rate}, ${eta}`;
}

function trainingLine(s: TrainJobStatus): string {
  const p = s.progress;
  const figures = p ? `epoch ${p.epoch}/${p.epochs}, best validation loss ${p.bestLoss?.toFixed(5) ?? '–'} (epoch ${p.bestEpoch}), ${s.state === 'completed' ? 'done' : `ETA ${p.etaSeconds === null ? '?' : duration(p.etaSeconds)}`}` : 'no epoch yet';
  return `${s.category}: ${s.state}; ${figures}${s.error ? `; ${s.error}` : ''} -> ${s.out}`;
}

export function register(cli: Argv): Argv {
  return cli.command('queue', 'scoring runs and training jobs on a fleet of workers through Redis (see `intra worker`)', (y) =>
    y
      .command(
        'submit <model> <inputs..>',
        'enqueue the images of a run in jobs of N images; prints the run name (repeating a submit adds nothing twice)',
        (s) =>
          s
            .positional('model', { type: 'string', demandOption: true })
            .positional('inputs', { type: 'string', array: true, demandOption: true })
            .option('redis', redisOption)
            .option('run', { type: 'string', describe: 'the run name (default: <model>-<UTC time>)' })
            .option('batch', { type: 'number', default: 32, describe: 'images per job' })
            .option('threshold', { type: 'string', describe: 'a number, or "model" for the one fitted at training (default)' }),
        async (args) => {
          const result = await submitRun({ redis: args.redis, model: args.model, inputs: args.inputs, run: args.run, batch: args.batch, threshold: args.threshold });
          process.stderr.write(`intra: run ${result.run}: ${result.added} new images in ${result.jobs} jobs (${result.images - result.added} of ${result.images} already submitted)\n`);
          process.stdout.write(`${result.run}\n`);
        },
      )
      .command(
        'train <inputs..>',
        'enqueue one training job per category (category folders, or folders of categories), each training <models>/<category>.intra on whichever worker takes it (repeating a submit adds nothing twice)',
        (s) =>
          s
            .positional('inputs', { type: 'string', array: true, demandOption: true })
            .option('redis', redisOption)
            .option('models', { type: 'string', demandOption: true, describe: 'the folder of the models and their checkpoints, at the same path on every worker' })
            .options(modelOptions)
            .options(trainingFlags)
            .options(mapOptions),
        async (args) => {
          const submitted = await submitTraining({ redis: args.redis, inputs: args.inputs, models: args.models, options: trainingOptionsOf(args) });
          for (const s of submitted) process.stderr.write(`intra: ${s.category} -> ${s.out}: ${s.added ? 'queued' : 'already queued'} (job ${s.jobId})\n`);
          process.stdout.write(`${submitted.filter((s) => s.added).length} training jobs queued, ${submitted.filter((s) => !s.added).length} already queued\n`);
        },
      )
      .command(
        'status [run]',
        'counts (waiting, active, scored, failed), images/s and ETA of a run; without a run, each training job\'s epoch, best validation loss and ETA',
        (s) =>
          s
            .positional('run', { type: 'string' })
            .option('redis', redisOption)
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object' })
            .option('watch', { type: 'boolean', default: false, describe: 'refresh every second until the run is complete' }),
        async (args) => {
          if (args.run === undefined) {
            if (args.watch) throw new IntraError('INTRA_USAGE', 'Expected a run with --watch');
            const jobs = await trainingStatus(args.redis);
            if (args.json) process.stdout.write(`${JSON.stringify(jobs)}\n`);
            else process.stdout.write(jobs.length === 0 ? 'no training jobs\n' : `${jobs.map(trainingLine).join('\n')}\n`);
            return;
          }
          for (;;) {
            const status = await runStatus(args.redis, args.run);
            if (args.json) process.stdout.write(`${JSON.stringify(status)}\n`);
            else if (process.stdout.isTTY) process.stdout.write(`\r${statusLine(status)}   ${args.watch && !status.complete ? '' : '\n'}`);
            else process.stdout.write(`${statusLine(status)}\n`);
            if (!args.watch || status.complete) break;
            await sleep(1000);
          }
        },
      )
      .command(
        'results <run>',
        'every image\'s JSON line exactly once (exit 1 if some could not be scored)',
        (s) =>
          s
            .positional('run', { type: 'string', demandOption: true })
            .option('redis', redisOption)
            .option('out', { type: 'string', describe: 'write the lines here instead of stdout' })
            .option('follow', { type: 'boolean', default: false, describe: 'print results as they arrive, until every image has one' }),
        async (args) => {
          const out = args.out ? await open(args.out, 'w') : undefined;
          let failed = 0, total = 0;
          try {
            for await (const line of runResults(args.redis, args.run, {
              follow: args.follow,
              onQuiet: (left, seconds) => process.stderr.write(`intra: no new result for ${seconds} s, ${left} images outstanding (are workers running? see intra queue status)\n`),
            })) {
              total++;
              if (line.includes('"error"')) failed++;
              if (out) await out.write(`${line}\n`);
              else if (!process.stdout.write(`${line}\n`)) await once(process.stdout, 'drain');
            }
          } finally {
            await out?.close();
          }
          if (failed > 0) {
            process.stderr.write(`intra: ${failed} of ${total} images could not be scored (see their error lines)\n`);
            process.exitCode = 1;
          }
        },
      )
      .demandCommand(1, 'Name a queue command: submit, train, status or results.'),
  );
}
