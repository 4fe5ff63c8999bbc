/**
 * `intra profile train|score`: a breakdown of wall-clock by phase and a Chrome trace.
 *
 * @example intra profile train data/weave --preset small --compare msa,linear --trace trace.json
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Argv } from 'yargs';

import { profilePage } from '../bench/pages.js';
import { chromeTrace, compareTable, opTable, profileCompare, profileScore, profileTable, profileTrain, type ProfileReport } from '../bench/profile.js';
import { synthesize } from '../data/synth.js';
import { IntraError } from '../errors.js';
import { recordOption, recordRun } from './options.js';
import { ATTENTION_KINDS, machineLabel, PRECISIONS, PRESETS, type AttentionKind } from '../native.js';

const OPS_HELP = 'also time every ATen op, autograd node and kernel of ours (training: the steps, validation apart) and list them by self time; each op then costs a little more, so the phases run slightly slower';

export function register(cli: Argv): Argv {
  return cli.command('profile', 'where the time goes (see `intra profile train --help`)', (y) =>
    y
      .command(
        'train [category]',
        'profile one epoch of training (synthetic weave data when no category is given)',
        (k) =>
          k
            .positional('category', { type: 'string' })
            .option('preset', { choices: PRESETS, default: 'small' as const })
            .option('attention', { choices: ATTENTION_KINDS })
            .option('compare', { type: 'string', describe: 'attention kinds to compare, e.g. msa,linear (each warmed up, run in mirrored rounds)' })
            .option('rounds', { type: 'number', default: 2, describe: 'with --compare: rounds of the kinds, mirrored (A B, B A, ...); each kind reports its median epoch' })
            .option('image-size', { type: 'number' })
            .option('batch', { type: 'number', default: 64 })
            .option('precision', { choices: PRECISIONS, default: 'fp32' as const, describe: 'bf16: bf16 matrix products, fp32 master weights (as intra train --train-precision bf16)' })
            .option('windows-per-image', { type: 'number', default: 600 })
            .option('threads', { type: 'number', default: 0 })
            .option('ops', { type: 'boolean', default: false, describe: OPS_HELP })
            .option('op-rows', { type: 'number', default: 30, describe: 'ops listed with --ops' })
            .option('trace', { type: 'string', default: 'profile-trace.json', describe: 'Chrome trace event file' })
            .option('html', { type: 'string', default: 'profile.html', describe: 'a page with the phase breakdown (side by side with --compare)' })
            .option('json', { type: 'boolean', default: false })
            .option('record', recordOption),
        async (args) => {
          let category = args.category;
          if (!category) {
            const root = await mkdtemp(join(tmpdir(), 'intra-profile-'));
            await synthesize(root, { seed: 0, categories: ['weave'], size: args.imageSize ?? 128, train: 20 });
            category = join(root, 'weave');
          }
          const kinds = args.compare ? args.compare.split(',').map((k) => k.trim()) : [args.attention];
          for (const k of kinds) {
            if (k !== undefined && !(ATTENTION_KINDS as readonly string[]).includes(k)) {
              throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected one of ${ATTENTION_KINDS.join(', ')} for compare but received '${k}'`);
            }
          }
          const common = { category, preset: args.preset, imageSize: args.imageSize, batchSize: args.batch, precision: args.precision, windowsPerImage: args.windowsPerImage, threads: args.threads, ops: args.ops };
          const reports: ProfileReport[] = args.compare
            ? (await profileCompare(common, kinds as AttentionKind[], args.rounds)).reports
            : [await profileTrain({ ...common, attention: args.attention as AttentionKind | undefined })];
          await writeFile(args.trace, JSON.stringify(chromeTrace(reports)));
          await writeFile(args.html, await profilePage(reports, machineLabel()));
          await recordRun(args.record, 'profile train', reports.map(({ events: _events, ...r }) => r), args.threads);
          if (args.json) {
            console.log(JSON.stringify(reports.map(({ events: _events, ...r }) => r)));
            return;
          }
          for (const r of reports) console.log(`${profileTable(r)}\n${r.ops ? `\n${opTable(r.ops, args.opRows)}\n` : ''}`);
          if (reports.length > 1) console.log(`${compareTable(reports)}\n`);
          console.log(`trace: ${args.trace} (open in https://ui.perfetto.dev or chrome://tracing); page: ${args.html}`);
        },
      )
      .command(
        'score <model> <inputs..>',
        'profile scoring images',
        (k) =>
          k
            .positional('model', { type: 'string', demandOption: true })
            .positional('inputs', { type: 'string', array: true, demandOption: true })
            .option('evaluate', { type: 'boolean', default: false, describe: 'the input is one MVTec AD category: also time the metrics' })
            .option('batch', { type: 'number', default: 8 })
            .option('precision', { choices: PRECISIONS, default: 'fp32' as const, describe: 'as intra score --precision' })
            .option('threads', { type: 'number', default: 0 })
            .option('ops', { type: 'boolean', default: false, describe: OPS_HELP })
            .option('op-rows', { type: 'number', default: 30, describe: 'ops listed with --ops' })
            .option('trace', { type: 'string', default: 'profile-trace.json' })
            .option('html', { type: 'string', default: 'profile.html', describe: 'a page with the phase breakdown' })
            .option('json', { type: 'boolean', default: false }),
        async (args) => {
          const report = await profileScore({ model: args.model, inputs: args.inputs, evaluate: args.evaluate, batch: args.batch, precision: args.precision, threads: args.threads, ops: args.ops });
          await writeFile(args.trace, JSON.stringify(chromeTrace([report])));
          await writeFile(args.html, await profilePage([report], machineLabel()));
          if (args.json) {
            const { events: _events, ...rest } = report;
            console.log(JSON.stringify(rest));
            return;
          }
          console.log(profileTable(report));
          if (report.ops) console.log(`\n${opTable(report.ops, args.opRows)}\n`);
          console.log(`trace: ${args.trace}; page: ${args.html}`);
        },
      )
      .demandCommand(1, 'Name what to profile: train or score'),
  );
}
