/**
 * `intra demo`: synthesises a texture and an object category, trains the `cpu` preset (the
 * recipe measured best per CPU-minute on real data: docs/real-data.md) on each within a few
 * minutes, evaluates, and prints the table with where the reports are.
 *
 * @example intra demo --out demo-out
 */
import { join } from 'node:path';

import type { Argv } from 'yargs';

import { synthesize, type SynthCategory } from '../data/synth.js';
import { evaluateCategory, type Report } from '../eval/evaluate.js';
import { table1 } from '../eval/table1.js';
import { modelConfig } from '../native.js';
import { trainCategory } from '../train/train.js';
import { writeRecordFile, type DemoRecord } from '../bench/records.js';
import { commandLine, duration, recordOption } from './options.js';

/** The demo's preset, and its bound: epochs rather than the preset's 30 minutes, so that it ends in minutes. */
export const DEMO_PRESET = 'cpu' as const;
export const DEMO_RECIPE = { epochs: 28, patience: 28 } as const;

export function register(cli: Argv): Argv {
  return cli.command(
    'demo',
    'synthesise data, train the cpu preset on a texture and an object, evaluate, print the table',
    (y) =>
      y
        .option('out', { type: 'string', default: 'demo-out', describe: 'folder for data, models and reports' })
        .option('threads', { type: 'number', default: 0 })
        .option('seed', { type: 'number', default: 0 })
        .option('epochs', { type: 'number', default: DEMO_RECIPE.epochs })
        .option('record', recordOption),
    async (args) => {
      const categories: SynthCategory[] = ['weave', 'washer'];
      const started = Date.now();
      const size = modelConfig({ preset: DEMO_PRESET }).imageHeight;
      const dataRoot = join(args.out, 'data');
      console.log(`synthesising ${categories.join(' and ')} (${size}x${size}) in ${dataRoot}`);
      await synthesize(dataRoot, { seed: args.seed, categories, size, train: 30, testGood: 12, testPerDefect: 6 });
      const reports: Report[] = [];
      const records: DemoRecord[] = [];
      for (const category of categories) {
        const model = join(args.out, 'models', `${category}.intra`);
        const t0 = Date.now();
        const result = await trainCategory({
          category: join(dataRoot, category),
          out: model,
          preset: DEMO_PRESET,
          seed: args.seed,
          threads: args.threads,
          ...DEMO_RECIPE,
          epochs: args.epochs,
          overwrite: true,  // the demo's own folder: a second demo replaces the first
          onEpoch: (r) => process.stderr.write(`  ${category} epoch ${r.epoch}: validation ${r.validation.loss.toFixed(5)}${r.best ? ' best' : ''} (${r.windowsPerSecond.toFixed(0)} windows/s)\n`),
        });
        const trainSeconds = (Date.now() - t0) / 1000;
        console.log(`trained ${category}: best epoch ${result.state.bestEpoch}, ${duration(trainSeconds)} -> ${model}`);
        const report = await evaluateCategory({ model, category: join(dataRoot, category), outDir: join(args.out, 'eval', category), threads: args.threads });
        reports.push(report);
        records.push({
          category, image_auroc: report.image_auroc, pixel_auroc: report.pixel_auroc, aupro: report.aupro, image_f1_max: report.image_f1_max,
          epochs_trained: report.model_info.epochs_trained, train_seconds: trainSeconds,
        });
      }
      console.log(`\n${table1(reports)}\n`);
      for (const r of reports) console.log(`${r.category}: ${r.html} (open in a browser; report.json and report.md beside it)`);
      console.log(`demo took ${duration((Date.now() - started) / 1000)}`);
      if (args.record !== undefined) console.log(`record: ${await writeRecordFile(args.record, 'demo', commandLine(), records, { threads: args.threads })}`);
    },
  );
}
