// Data-parallel training on libtorch's c10d (TCP store, Gloo) with real processes on loopback:
// two ranks with half the batch each follow one process with the whole batch; a lost rank
// stops the other within the group's timeout, the last checkpoint intact; a rendezvous that
// cannot happen is a clear error before any training, never a hang.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { freePort } from '../lib/fleet/local-redis.js';
import { rankEnvironment } from '../lib/train/launch.js';
import { parse, type Tensor } from './checkpoint-format.js';
import type { DataParallelRecord } from '../lib/bench/data-parallel.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
const root = mkdtempSync(join(tmpdir(), 'intra-ddp-'));
const category = join(root, 'data', 'grain');
const defaults: Record<string, string> = { preset: 'tiny', epochs: '3', patience: '3', 'windows-per-image': '32', batch: '32', lr: '1e-3', seed: '4' };
/** The recipe's flags, `changed` replacing some. */
const recipe = (changed: Record<string, string> = {}) => Object.entries({ ...defaults, ...changed }).flatMap(([k, v]) => [`--${k}`, v]);

const train = (out: string, changed: Record<string, string>, ...extra: string[]) => spawnSync(process.execPath, [cli, 'train', category, '--out', out, ...recipe(changed), ...extra], { encoding: 'utf8' });

function rank(out: string, env: Record<string, string>, changed: Record<string, string> = {}, ...extra: string[]): ChildProcess & { log: () => string } {
  const child = spawn(process.execPath, [cli, 'train', category, '--out', out, ...recipe(changed), '--threads', '1', ...extra], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  return Object.assign(child, { log: () => log });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

function weights(path: string): Map<string, Float32Array> {
  return new Map(parse(readFileSync(path)).records.filter((r): r is Tensor => r.kind === 'tensor' && r.name.startsWith('param:'))
    .map((r) => [r.name, new Float32Array(r.data.buffer.slice(r.data.byteOffset, r.data.byteOffset + r.data.byteLength))]));
}

const epochs = (out: string) => readFileSync(`${out}.log.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { train: { loss: number }; validation: { loss: number } });

beforeAll(async () => {
  await synthesize(join(root, 'data'), { seed: 6, categories: ['grain'], size: 64, train: 10, testGood: 1, testPerDefect: 1 });
});

describe('intra train on several ranks', () => {
  it('two ranks with half the batch each follow one process with the whole batch; rank 0 alone writes', () => {
    const alone = join(root, 'alone.intra'), pair = join(root, 'pair.intra');
    const one = train(alone, {}, '--threads', '1');
    expect(one.status, one.stderr).toBe(0);
    const two = train(pair, {}, '--procs', '2', '--threads', '2');
    expect(two.status, two.stderr).toBe(0);
    expect(two.stderr).toMatch(/rank 0 of 2, rendezvous at 127\.0\.0\.1:\d+/);
    // Losses: the group's mean over two halves of the same batches; equal up to the order of float sums.
    const [a, b] = [epochs(alone), epochs(pair)];
    expect(b).toHaveLength(a.length);
    for (let e = 0; e < a.length; e++) {
      expect(Math.abs(b[e]!.train.loss - a[e]!.train.loss) / a[e]!.train.loss, `epoch ${e + 1} training loss`).toBeLessThan(1e-4);
      expect(Math.abs(b[e]!.validation.loss - a[e]!.validation.loss) / a[e]!.validation.loss, `epoch ${e + 1} validation loss`).toBeLessThan(1e-4);
    }
    const [wa, wb] = [weights(alone), weights(pair)];
    let worst = 0;
    for (const [name, values] of wa) {
      const other = wb.get(name)!;
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i]! - other[i]!));
    }
    expect(worst).toBeLessThan(1e-4);
    expect(existsSync(`${pair}.log.jsonl`)).toBe(true);
  }, 300_000);

  it('the gradient sums overlap the backward: every bucket is launched from its hooks, the weights equal those of sums after it byte for byte, bf16 working copies included', () => {
    const bf16 = { 'train-precision': 'bf16' };
    const alone = join(root, 'bf16-alone.intra'), overlapped = join(root, 'bf16-overlap.intra'), after = join(root, 'bf16-after.intra');
    expect(train(alone, bf16, '--threads', '1').status).toBe(0);
    // 10 KiB buckets: the tiny model's gradients make dozens, so the order and the hooks matter.
    const on = train(overlapped, bf16, '--procs', '2', '--threads', '2', '--bucket-mb', '0.01');
    expect(on.status, on.stderr).toBe(0);
    const off = train(after, bf16, '--procs', '2', '--threads', '2', '--bucket-mb', '0.01', '--no-overlap');
    expect(off.status, off.stderr).toBe(0);
    const parameters = [...weights(alone).values()].reduce((n, w) => n + w.length, 0);
    const reduced = (out: string) => epochs(out).map((e) => (e as unknown as { allReduce: { procs: number; overlap: boolean; buckets: number; bytesPerStep: number; launchedInBackward: number; steps: number; waitMsPerStep: number } }).allReduce);
    for (const [out, overlap] of [[overlapped, true], [after, false]] as const) {
      const records = reduced(out);
      for (const r of records) {
        expect(r.procs).toBe(2);
        expect(r.overlap).toBe(overlap);
        expect(r.buckets).toBeGreaterThan(10);
        expect(r.bytesPerStep).toBe(4 * parameters);  // every gradient once, bf16 ones summed in fp32
        expect(r.waitMsPerStep).toBeGreaterThanOrEqual(0);
      }
      // The first step lays the buckets out in the order its backward produced the gradients
      // and sums them after it; every later bucket goes out from the backward's hooks.
      const steps = records.reduce((n, r) => n + r.steps, 0), launched = records.reduce((n, r) => n + r.launchedInBackward, 0);
      expect(launched).toBe(overlap ? records[0]!.buckets * (steps - 1) : 0);
    }
    const [a, b, c] = [weights(alone), weights(overlapped), weights(after)];
    for (const [name, values] of b) expect(Buffer.from(c.get(name)!.buffer).equals(Buffer.from(values.buffer)), name).toBe(true);
    // Against one process: each half-batch gradient is rounded to bf16 before the sum, so the
    // weights agree to a few of Adam's steps (lr 1e-3), the losses closely.
    let worst = 0;
    for (const [name, values] of a) {
      const other = b.get(name)!;
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i]! - other[i]!));
    }
    expect(worst).toBeLessThan(5e-3);
    const [ea, eb] = [epochs(alone), epochs(overlapped)];
    for (let e = 0; e < ea.length; e++) expect(Math.abs(eb[e]!.train.loss - ea[e]!.train.loss) / ea[e]!.train.loss).toBeLessThan(1e-3);
  }, 300_000);

  it('a two-rank run stopped with Ctrl-C and resumed with both ranks ends on the uninterrupted two-rank run\'s weights, byte for byte', async () => {
    const whole = join(root, 'whole.intra'), halves = join(root, 'halves.intra');
    expect(train(whole, { epochs: '4', patience: '4' }, '--procs', '2', '--threads', '2').status).toBe(0);
    const launcher = spawn(process.execPath, [cli, 'train', category, '--out', halves, ...recipe({ epochs: '4', patience: '4' }), '--procs', '2', '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    launcher.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const started = Date.now();
    while (!existsSync(`${halves}.log.jsonl`) || readFileSync(`${halves}.log.jsonl`, 'utf8').trim() === '') {
      if (Date.now() - started > 120_000 || launcher.exitCode !== null) throw new Error(`no epoch logged: ${log}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    launcher.kill('SIGINT');  // forwarded to both ranks, which stop at the same step
    expect(await exited(launcher)).toBe(130);
    expect(epochs(halves).length).toBeLessThan(4);
    const resumed = train(halves, { epochs: '4', patience: '4' }, '--procs', '2', '--threads', '2', '--resume');
    expect(resumed.status, resumed.stderr).toBe(0);
    const [a, b] = [weights(whole), weights(halves)];
    for (const [name, values] of a) expect(Buffer.from(b.get(name)!.buffer).equals(Buffer.from(values.buffer)), name).toBe(true);
  }, 300_000);

  it('a rank killed with -9 stops the other within the timeout, naming the loss; the last checkpoint stays and a resume with both ranks finishes', async () => {
    const out = join(root, 'killed.intra'), port = await freePort();
    const ranks = [0, 1].map((r) => rank(out, rankEnvironment(r, 2, port), { epochs: '40', patience: '40', 'group-timeout': '5' }));
    const logged = () => (existsSync(`${out}.log.jsonl`) ? readFileSync(`${out}.log.jsonl`, 'utf8').split('\n').filter(Boolean).length : 0);
    const started = Date.now();
    while (logged() < 2) {
      if (Date.now() - started > 120_000 || ranks.some((r) => r.exitCode !== null)) throw new Error(`no epoch logged: ${ranks.map((r) => r.log()).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    ranks[1]!.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await exited(ranks[0]!)).toBe(1);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect(ranks[0]!.log()).toMatch(/Rank 0 of 2 lost the group/);
    const resumed = [0, 1].map(async (r) => {
      const child = rank(out, rankEnvironment(r, 2, port), { epochs: '4', patience: '40' }, '--resume');
      return { code: await exited(child), log: child.log() };
    });
    for (const { code, log } of await Promise.all(resumed)) expect(code, log).toBe(0);
    expect(epochs(out).length).toBe(4);
  }, 300_000);

  it('ranks whose backward passes compute other gradients (other kernels) both stop at the first step with the reason, before any weight changes', async () => {
    const port = await freePort();
    const images = { data: Uint8Array.from({ length: 2 * 64 * 64 * 3 }, (_, i) => (i * 37) % 251), count: 2, height: 64, width: 64, channels: 3 };
    // bf16 with the fused Adam: rank 0's products collect their gradients on bf16 working
    // copies; rank 1 keeps the weights family on its reference, so they land on the masters.
    const ranks = [[], ['weights'] as const].map((referenceFor) =>
      Engine.create({ preset: 'tiny', channels: 3 }, { seed: 1, batchSize: 8, trainPrecision: 'bf16' }, { threads: 1, referenceFor: [...referenceFor] }));
    try {
      for (const engine of ranks) await engine.setTrainingImages(images);
      const before = await Promise.all(ranks.map((engine) => engine.reconstruct(images)));
      await Promise.all(ranks.map((engine, rank) => engine.joinGroup({ rank, worldSize: 2, masterAddr: '127.0.0.1', port, timeoutMs: 10_000 })));
      const steps = await Promise.allSettled(ranks.map((engine) => engine.trainSteps(1)));
      for (const step of steps) {
        expect(step.status).toBe('rejected');
        const error = (step as PromiseRejectedResult).reason as Error & { code: string };
        expect(error.code).toBe('INTRA_DISTRIBUTED');
        expect(error.message).toMatch(/The ranks' backward passes computed gradients for different parameters \(rank 0: \d+ of \d+ tensors, rank [01]: \d+ of \d+\)/);
      }
      const after = await Promise.all(ranks.map((engine) => engine.reconstruct(images)));
      for (let r = 0; r < 2; r++) expect(Buffer.from(after[r]!.buffer).equals(Buffer.from(before[r]!.buffer))).toBe(true);
    } finally {
      for (const engine of ranks) engine.dispose();
    }
  }, 120_000);

  it('intra bench train --procs 2 times the ranks against one process in the same run and records bytes and exposed all-reduce per step', () => {
    const records = join(root, 'records');
    const run = spawnSync(process.execPath, [cli, 'bench', 'train', '--procs', '2', '--preset', 'tiny', '--image-size', '64', '--steps', '2', '--repeats', '1', '--threads', '2', '--bucket-mb', '0.1', '--json', '--record', records], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as DataParallelRecord);
    expect(lines.map((r) => r.run)).toEqual(['one process', 'overlapped', 'after backward']);
    const [alone, overlapped, after] = lines as [DataParallelRecord, DataParallelRecord, DataParallelRecord];
    expect([alone.procs, alone.threads_per_process, alone.speedup, alone.bytes_per_step]).toEqual([1, 2, 1, 0]);
    for (const r of [overlapped, after]) {
      expect([r.procs, r.threads_per_process, r.precision, r.batch]).toEqual([2, 1, 'bf16', 32]);
      expect(r.bytes_per_step).toBe(4 * alone.parameters);  // every gradient once, summed in fp32
      expect(r.buckets).toBeGreaterThan(1);  // 0.1 MiB buckets over 0.6 MB of gradients
      expect(r.speedup).toBeCloseTo(r.windows_per_s / alone.windows_per_s, 6);
      expect(r.step_ms).toBeCloseTo((1000 * r.batch) / r.windows_per_s, 3);
      expect(r.wait_ms_per_step).toBeGreaterThan(0);
    }
    const file = JSON.parse(readFileSync(/record: (.+\.json)/.exec(run.stderr)![1]!, 'utf8')) as { bench: string; records: DataParallelRecord[] };
    expect(file.bench).toBe('bench data-parallel');
    expect(file.records).toEqual(lines);
    const refused = spawnSync(process.execPath, [cli, 'bench', 'score', '--procs', '2', '--preset', 'tiny'], { encoding: 'utf8' });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('--procs and --world-size are for `intra bench train`');
  }, 300_000);

  it('intra info says the build trains in groups over Gloo, as the runs above did', () => {
    const info = spawnSync(process.execPath, [cli, 'info'], { encoding: 'utf8' });
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout).toContain('groups    data-parallel training on CPU engines over gloo (intra train --procs)');
    expect(JSON.parse(spawnSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8' }).stdout).dataParallel).toBe('gloo');
  });

  it('a rendezvous that cannot happen is an error before any training, never a hang', async () => {
    // A port in use on the master.
    const busy = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => busy.once('listening', r));
    const port = (busy.address() as { port: number }).port;
    const inUse = rank(join(root, 'busy.intra'), rankEnvironment(0, 2, port), { 'group-timeout': '3' });
    expect(await exited(inUse)).toBe(1);
    expect(inUse.log()).toMatch(new RegExp(`Rank 0 cannot serve the rendezvous at 127\\.0\\.0\\.1:${port}`));
    busy.close();
    // No master at all.
    const nobody = rank(join(root, 'nobody.intra'), rankEnvironment(1, 2, await freePort()), { 'group-timeout': '2' });
    const started = Date.now();
    expect(await exited(nobody)).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(nobody.log()).toMatch(/Rank 1 cannot reach the master at 127\.0\.0\.1:\d+ within 2000 ms/);
    // Ranks started with different configurations.
    const mixedPort = await freePort();
    const [first, second] = [rank(join(root, 'mixed.intra'), rankEnvironment(0, 2, mixedPort), { 'group-timeout': '5' }), rank(join(root, 'mixed.intra'), rankEnvironment(1, 2, mixedPort), { 'group-timeout': '5', batch: '64' })];
    expect(await exited(second)).toBe(1);
    expect(second.log()).toMatch(/Rank 1 was started with another configuration than rank 0/);
    expect(await exited(first)).toBe(1);
    expect(existsSync(join(root, 'mixed.intra'))).toBe(false);
    // A batch the ranks cannot share equally, and a rank outside the world.
    const odd = rank(join(root, 'odd.intra'), rankEnvironment(0, 3, await freePort()), { 'group-timeout': '2' });
    expect(await exited(odd)).toBe(1);
    expect(odd.log()).toMatch(/Expected a batch size divisible by WORLD_SIZE 3 but received 32/);
    const outside = rank(join(root, 'outside.intra'), { ...rankEnvironment(0, 2, 1), RANK: '2' });
    expect(await exited(outside)).toBe(1);
    expect(outside.log()).toMatch(/Expected a rank in 0\.\.1 \(--rank or RANK\) for WORLD_SIZE 2 but received 2/);
  }, 120_000);
});
