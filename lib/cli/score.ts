/**
 * `intra score <model> <images or dirs...>`: one JSON line per image.
 *
 * @example intra score bottle.intra incoming/ --out scores.jsonl --maps heat/
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

import type { Argv } from 'yargs';

import { listImages } from '../data/dataset.js';
import { IntraError } from '../errors.js';
import { scoreFiles } from '../infer/score.js';
import { Engine } from '../native.js';
import type { TrainState } from '../train/train.js';
import { engineOptions } from './options.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'score <model> <inputs..>',
    'score images (files or folders): one JSON line per image',
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true })
        .positional('inputs', { type: 'string', array: true, demandOption: true })
        .options(engineOptions)
        .option('out', { type: 'string', describe: 'write JSON lines here instead of stdout' })
        .option('threshold', { type: 'string', describe: 'a number, or "model" for the one fitted at training (default when present)' })
        .option('maps', { type: 'string', describe: 'folder for heat-map overlays and anomaly maps (PNG)' })
        .option('batch', { type: 'number', default: 8, describe: 'images per engine call' }),
    async (args) => {
      const engine = await Engine.load(args.model, { threads: args.threads, device: args.device, precision: args.precision });
      const state = engine.metadata<Partial<TrainState>>();
      let threshold: number | undefined = state.threshold;
      if (args.threshold !== undefined && args.threshold !== 'model') {
        threshold = Number(args.threshold);
        if (!Number.isFinite(threshold)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a number or "model" for --threshold but received '${args.threshold}'`);
      } else if (args.threshold === 'model' && threshold === undefined) {
        throw new IntraError('INTRA_INVALID_ARGUMENT', `Model ${args.model} holds no threshold; give one with --threshold`);
      }
      const out = args.out ? createWriteStream(args.out, { flags: 'w' }) : process.stdout;
      let failed = 0, total = 0;
      try {
        const files = await listImages(args.inputs);
        for await (const line of scoreFiles(engine, files, { threshold, mapsDir: args.maps, batch: args.batch })) {
          total++;
          if (line.error) failed++;
          if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain');
        }
      } finally {
        engine.dispose();
        if (out !== process.stdout) {
          out.end();
          await once(out, 'finish');
        }
      }
      if (failed > 0) {
        process.stderr.write(`intra: ${failed} of ${total} files could not be scored (see their error lines)\n`);
        process.exitCode = 1;
      }
    },
  );
}
