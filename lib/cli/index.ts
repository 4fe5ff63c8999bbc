/**
 * The `intra` command line: one file per command in this folder.
 *
 * @example await runCli(['info', '--json']);
 */
import yargs from 'yargs';

import { IntraError } from '../errors.js';
import * as bench from './bench.js';
import * as demo from './demo.js';
import * as evaluate from './eval.js';
import * as info from './info.js';
import * as profile from './profile.js';
import * as score from './score.js';
import * as synth from './synth.js';
import * as train from './train.js';

const commands = [info, synth, train, score, evaluate, demo, bench, profile];

export async function runCli(argv: string[]): Promise<void> {
  let cli = yargs(argv).scriptName('intra').strict().demandCommand(1, 'Name a command (see --help).').help();
  for (const command of commands) cli = command.register(cli);
  try {
    await cli
      .fail((message, error) => {
        throw error ?? new IntraError('INTRA_USAGE', message);
      })
      .parseAsync();
  } catch (error) {
    const e = error as { code?: string; message?: string };
    console.error(`intra: ${e.message ?? String(error)}${e.code && e.code !== 'INTRA_USAGE' ? ` [${e.code}]` : ''}`);
    process.exitCode = e.code === 'INTRA_USAGE' ? 2 : 1;
  }
}
