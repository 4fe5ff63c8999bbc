/**
 * `intra refit <model>`: the statistics and thresholds of a finished model fitted again over
 * its own training split, its weights untouched; with map flags, the settings it keeps.
 *
 * @example intra refit tile.intra --normalise z --map gms+intensity
 */
import type { Argv } from 'yargs';

import { refitStatistics } from '../train/train.js';
import { engineOptions, engineOptionsOf, mapConfigOf, mapOptions } from './options.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'refit <model>',
    "fit a finished model's per-pixel statistics and thresholds again over its training images (for every map setting; files fitted before the spreads existed need it for all but the paper's map)",
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true })
        .options(engineOptions)
        .options(mapOptions),
    async (args) => {
      const state = await refitStatistics({ model: args.model, map: mapConfigOf(args), ...engineOptionsOf(args) });
      const thresholds = Object.entries(state.thresholds ?? {}).map(([name, t]) => `  ${name}: ${t.toExponential(3)}`);
      console.log(`model ${args.model}: statistics of ${state.trainFiles.length} training images, thresholds over ${state.validationFiles.length} validation images\n${thresholds.join('\n')}`);
    },
  );
}
