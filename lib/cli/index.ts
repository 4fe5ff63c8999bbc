/**
 * The `intra` command line: one file per command in this folder.
 *
 * @example await runCli(['info', '--json']);
 */
import { createRequire } from 'node:module';

import type { Arguments, Argv } from 'yargs';
import type yargsFactory from 'yargs';

import { IntraError } from '../errors.js';
import * as bench from './bench.js';
import { setCommandLine } from './options.js';
import * as demo from './demo.js';
import * as evaluate from './eval.js';
import * as info from './info.js';
import * as profile from './profile.js';
import * as queue from './queue.js';
import * as refit from './refit.js';
import * as score from './score.js';
import * as synth from './synth.js';
import * as train from './train.js';
import * as worker from './worker.js';

// yargs through its CommonJS build: under `import` it uses cliui's ESM build, whose wrap cuts
// lines every N characters, mid-word; the CommonJS cliui wraps at word boundaries.
const yargs = createRequire(import.meta.url)('yargs') as typeof yargsFactory;

const commands = [info, synth, train, refit, score, evaluate, demo, queue, worker, bench, profile];

function buildCli(argv: string[]): Argv {
  let cli = yargs(argv).scriptName('intra').strict().demandCommand(1, 'Name a command (see --help).').help();
  // Help wraps at word boundaries at the terminal's width (80 columns when not a terminal).
  cli = cli.wrap(process.stdout.isTTY ? cli.terminalWidth() : 80);
  for (const command of commands) cli = command.register(cli);
  return cli;
}

/** What the command line parses to, and the command's boolean options, without running it. */
export interface ParsedCommand {
  args: Arguments;
  booleans: string[];
}

class Parsed extends Error {
  constructor(readonly result: ParsedCommand) {
    super('parsed');
  }
}

/**
 * Parses a command line exactly as `intra` does (strict: unknown options are errors) and
 * stops before the command runs: for tests of the CLI's options.
 *
 * @example (await parseCli(['train', 'data/x', '--out', 'm.intra', '--no-augment'])).args.augment // false
 */
export async function parseCli(argv: string[]): Promise<ParsedCommand> {
  try {
    // yargs hands a middleware the instance too (its typings leave that out): its options
    // are then the chosen command's.
    const capture = (args: Arguments, instance: { getOptions(): { boolean: string[] } }): never => {
      throw new Parsed({ args, booleans: instance.getOptions().boolean });
    };
    await buildCli(argv)
      .middleware(capture as unknown as (args: Arguments) => void)
      .fail((message, error) => {
        throw error ?? new IntraError('INTRA_USAGE', message);
      })
      .parseAsync();
  } catch (error) {
    if (error instanceof Parsed) return error.result;
    throw error;
  }
  throw new IntraError('INTRA_USAGE', `intra ${argv.join(' ')}: no command was parsed`);
}

export async function runCli(argv: string[]): Promise<void> {
  setCommandLine(argv);
  const cli = buildCli(argv);
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
