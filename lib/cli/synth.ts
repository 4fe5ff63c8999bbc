/**
 * `intra synth <dir>`: writes synthetic categories in MVTec AD layout.
 *
 * @example intra synth data --seed 3 --categories weave,washer --size 128
 */
import type { Argv } from 'yargs';

import { SYNTH_CATEGORIES, synthesize, type SynthCategory } from '../data/synth.js';
import { IntraError } from '../errors.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'synth <dir>',
    'write synthetic categories (textures weave, grain; objects washer, chip) in MVTec AD layout',
    (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true })
        .option('seed', { type: 'number', default: 0 })
        .option('categories', { type: 'string', default: Object.keys(SYNTH_CATEGORIES).join(','), describe: 'comma-separated' })
        .option('size', { type: 'number', default: 128, describe: 'pixels per side' })
        .option('train', { type: 'number', default: 40, describe: 'training images per category' })
        .option('test-good', { type: 'number', default: 12 })
        .option('test-per-defect', { type: 'number', default: 6 }),
    async (args) => {
      const categories = args.categories.split(',').map((c) => c.trim());
      for (const c of categories) {
        if (!(c in SYNTH_CATEGORIES)) {
          throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected one of ${Object.keys(SYNTH_CATEGORIES).join(', ')} for categories but received '${c}'`);
        }
      }
      const dirs = await synthesize(args.dir, {
        seed: args.seed,
        categories: categories as SynthCategory[],
        size: args.size,
        train: args.train,
        testGood: args.testGood,
        testPerDefect: args.testPerDefect,
      });
      for (const d of dirs) console.log(d);
    },
  );
}
