/**
 * `intra train --procs N`: N local ranks of one data-parallel training, started the way
 * PyTorch's launcher starts them (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK in each one's
 * environment), each with its share of the threads. Rank 0's output is the run's; a rank that
 * fails stops the others, and the run exits non-zero naming it.
 *
 * @example await launchRanks({ procs: 2, argv: ['train', 'data/tile', '--out', 'tile.intra'], threads: 8 });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { IntraError } from '../errors.js';
import { freePort } from '../fleet/local-redis.js';
import { packageRoot } from '../native.js';

export interface LaunchOptions {
  procs: number;
  /** the command line after `intra`, without --procs (--threads is set per rank) */
  argv: readonly string[];
  /** threads in all (0: every core), split evenly between the ranks */
  threads: number;
  /** the group's timeout (ms) */
  timeoutMs?: number;
  log?: (line: string) => void;
  /** rank 0's standard output, as it comes (default: this process's) */
  onStdout?: (text: string) => void;
}

/** The environment of one rank, as PyTorch's launcher sets it. */
export function rankEnvironment(rank: number, worldSize: number, port: number): Record<string, string> {
  return { MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: String(worldSize), RANK: String(rank) };
}

/** Resolves with the exit code the run should have: 0, or that of the first rank to fail (and says which). */
export async function launchRanks(options: LaunchOptions): Promise<number> {
  const { procs } = options;
  if (!Number.isInteger(procs) || procs < 2) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected an integer of at least 2 for --procs but received ${procs}`);
  const threads = Math.max(1, Math.floor((options.threads || availableParallelism()) / procs));
  const port = await freePort();
  const cli = join(packageRoot(), 'dist', 'bin', 'intra.js');
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const children: ChildProcess[] = [];
  const tails: string[] = [];
  for (let rank = 0; rank < procs; rank++) {
    const child = spawn(process.execPath, [cli, ...options.argv, '--threads', String(threads), ...(options.timeoutMs ? ['--group-timeout', String(options.timeoutMs / 1000)] : [])], {
      env: { ...process.env, ...rankEnvironment(rank, procs, port) },
      stdio: rank === 0 ? ['ignore', options.onStdout ? 'pipe' : 'inherit', 'inherit'] : ['ignore', 'ignore', 'pipe'],
    });
    if (rank === 0 && options.onStdout) child.stdout!.on('data', (chunk: Buffer) => options.onStdout!(chunk.toString()));
    tails[rank] = '';
    child.stderr?.on('data', (chunk: Buffer) => (tails[rank] = (tails[rank]! + chunk.toString()).slice(-4000)));
    children.push(child);
  }
  const forward = (signal: NodeJS.Signals) => () => children.forEach((c) => c.exitCode === null && c.kill(signal));
  const onInt = forward('SIGINT'), onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const exits = children.map((child, rank) => new Promise<{ rank: number; code: number }>((resolve) => child.once('close', (code, signal) => resolve({ rank, code: code ?? (signal ? 128 : 1) }))));
    let failed: { rank: number; code: number } | undefined;
    const pending = new Set(exits.map((_, i) => i));
    while (pending.size > 0) {
      const done = await Promise.race([...pending].map((i) => exits[i]!));
      pending.delete(done.rank);
      if (done.code !== 0 && failed === undefined) {
        failed = done;
        // The others would wait for it until their timeout: stop them now.
        for (const i of pending) children[i]!.kill('SIGTERM');
      }
    }
    if (failed) {
      const last = tails[failed.rank]!.trim().split('\n').filter(Boolean).at(-1);
      log(`intra: rank ${failed.rank} of ${procs} exited with code ${failed.code}${last && failed.rank !== 0 ? `: ${last}` : ''}`);
      return failed.code;
    }
    return 0;
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
  }
}
