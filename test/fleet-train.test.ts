// Training jobs on the fleet against a real redis-server: three categories trained by two
// workers, one worker killed with -9 mid-training and its category finished by the other from
// the checkpoint, the model the same as an uninterrupted run's; a category without training
// images fails its job with the dataset error while the others go on.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { startRedis, type RedisServer } from '../lib/fleet/local-redis.js';
import { submitTraining, trainingStatus, type TrainJobOptions } from '../lib/fleet/training.js';
import { trainCategory } from '../lib/train/train.js';
import { parse, type Tensor } from './checkpoint-format.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
const root = mkdtempSync(join(tmpdir(), 'intra-fleet-train-'));
const data = join(root, 'data'), models = join(root, 'models');
const options: TrainJobOptions = { preset: 'tiny', epochs: 12, patience: 12, windowsPerImage: 96, batchSize: 32, learningRate: 1e-3, seed: 3 };
let redis: RedisServer;
const spawned: ChildProcess[] = [];

function worker(...extra: string[]): ChildProcess & { log: () => string } {
  const child = spawn(process.execPath, [cli, 'worker', '--redis', redis.url, '--jobs', 'train', '--threads', '1', '--stall-ms', '1500', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  spawned.push(child);
  return Object.assign(child, { log: () => log });
}

const exit = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

async function until(what: string, test: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!(await test())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const epochsLogged = (name: string) => {
  const log = join(models, `${name}.intra.log.jsonl`);
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
};

/** The weights a model file holds, by name, as bytes. */
function weights(path: string): Map<string, Buffer> {
  return new Map(parse(readFileSync(path)).records.filter((r): r is Tensor => r.kind === 'tensor' && r.name.startsWith('param:')).map((r) => [r.name, r.data]));
}

beforeAll(async () => {
  await synthesize(data, { seed: 5, categories: ['weave', 'grain', 'chip'], size: 64, train: 10, testGood: 2, testPerDefect: 1 });
  mkdirSync(join(data, 'empty', 'train', 'good'), { recursive: true });
  redis = await startRedis(mkdtempSync(join(root, 'redis-')));
});

afterAll(async () => {
  // A test that failed half-way leaves its workers: none may outlive the file.
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(spawned.map(exit));
  await redis?.stop();
});

describe('intra queue train and intra worker --jobs train', () => {
  it('trains every category once; a killed worker\'s category is finished by another from its checkpoint, as an uninterrupted run ends', async () => {
    const first = await submitTraining({ redis: redis.url, inputs: [data], models, options });
    expect(first.map((s) => [s.category, s.added])).toEqual(['chip', 'empty', 'grain', 'weave'].map((c) => [join(data, c), true]));
    // Repeating the submit adds nothing, whatever its options.
    const again = spawnSync(process.execPath, [cli, 'queue', 'train', data, '--redis', redis.url, '--models', models, '--preset', 'tiny'], { encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('0 training jobs queued, 4 already queued');

    const doomed = worker(), survivor = worker();
    // The first category with training images the doomed worker starts, killed once it has two epochs behind it.
    let victim = '';
    await until('the first worker to start training', () => {
      victim = [...doomed.log().matchAll(/training (\w+) \(job/g)].map((m) => m[1]!).find((name) => name !== 'empty') ?? '';
      return victim !== '';
    });
    await until(`two epochs of ${victim}`, () => epochsLogged(victim) >= 2);
    doomed.kill('SIGKILL');
    await exit(doomed);
    expect(epochsLogged(victim)).toBeLessThan(12);

    await until('every job to end', async () => (await trainingStatus(redis.url)).every((j) => j.state === 'completed' || j.state === 'failed'), 240_000).catch((error: Error) => {
      throw new Error(`${error.message}\nthe killed worker's log:\n${doomed.log()}\nthe other's:\n${survivor.log()}`);
    });
    const status = await trainingStatus(redis.url);
    expect(status.map((j) => [j.category, j.state])).toEqual([['chip', 'completed'], ['empty', 'failed'], ['grain', 'completed'], ['weave', 'completed']].map(([c, s]) => [join(data, c!), s]));
    expect(status.find((j) => j.category.endsWith('empty'))!.error).toMatch(/train\/good holds no images \[INTRA_DATASET\]/);
    for (const job of status.filter((j) => j.state === 'completed')) expect(job.progress).toMatchObject({ epoch: 12, epochs: 12, etaSeconds: 0 });
    // The survivor took the victim up from its checkpoint, not from scratch.
    expect(survivor.log()).toMatch(new RegExp(`training ${victim} \\(job [\\w-]+\\), resuming from its checkpoint after epoch \\d+`));
    const printed = spawnSync(process.execPath, [cli, 'queue', 'status', '--redis', redis.url], { encoding: 'utf8' });
    expect(printed.stdout).toMatch(new RegExp(`${victim}: completed; epoch 12/12, best validation loss \\d\\.\\d+ \\(epoch \\d+\\), done`));

    // The same category trained in one go, in this process: the same weights, byte for byte.
    const reference = join(root, `${victim}-uninterrupted.intra`);
    await trainCategory({ ...options, category: join(data, victim), out: reference, threads: 1 });
    const fleet = weights(join(models, `${victim}.intra`)), alone = weights(reference);
    expect([...fleet.keys()]).toEqual([...alone.keys()]);
    for (const [name, bytes] of alone) expect(fleet.get(name)!.equals(bytes), name).toBe(true);

    survivor.kill('SIGTERM');
    await exit(survivor);
  }, 420_000);

  it('a worker refuses job kinds it does not know, before it connects', () => {
    const run = spawnSync(process.execPath, [cli, 'worker', '--redis', 'redis://127.0.0.1:1', '--jobs', 'score,paint'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("Expected score, train or score,train for --jobs but received 'score,paint'");
  });

  it('a worker stopped with SIGTERM saves the checkpoint mid-epoch and hands its job back; the next worker ends where one run would', async () => {
    const folder = join(root, 'models-stopped');
    const [job] = await submitTraining({ redis: redis.url, inputs: [join(data, 'grain')], models: folder, options });
    const stopped = worker();
    await until('an epoch of grain', () => existsSync(join(folder, 'grain.intra.log.jsonl')) && readFileSync(join(folder, 'grain.intra.log.jsonl'), 'utf8').split('\n').filter(Boolean).length >= 1);
    stopped.kill('SIGTERM');
    await exit(stopped);
    expect(stopped.exitCode).toBe(0);
    expect(stopped.log()).toMatch(/grain: stopped in epoch \d+, checkpoint saved; the job goes back to the queue/);
    const waiting = (await trainingStatus(redis.url)).find((j) => j.out === job!.out)!;
    expect(['delayed', 'waiting']).toContain(waiting.state);

    const next = worker();
    await until('the job to end', async () => (await trainingStatus(redis.url)).find((j) => j.out === job!.out)!.state === 'completed', 240_000);
    expect(next.log()).toMatch(/training grain \(job [\w-]+\), resuming from its checkpoint after epoch \d+/);
    const reference = join(root, 'grain-stopped-reference.intra');
    await trainCategory({ ...options, category: join(data, 'grain'), out: reference, threads: 1 });
    const fleet = weights(job!.out), alone = weights(reference);
    for (const [name, bytes] of alone) expect(fleet.get(name)!.equals(bytes), name).toBe(true);
    next.kill('SIGTERM');
    await exit(next);
  }, 420_000);
});
