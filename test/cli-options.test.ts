// The command line's options as yargs parses them: every boolean flag of every command, in
// both spellings (--x and --no-x), and the ablation flag reaching the saved model.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { parseCli } from '../lib/cli/index.js';
import { engineOptionsOf } from '../lib/cli/options.js';
import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { recipeDefaults } from '../lib/train/recipes.js';
import { stopReason, trainCategory } from '../lib/train/train.js';

// A minimal valid command line for each command (positionals filled in).
const commands: string[][] = [
  ['info'],
  ['synth', 'dir'],
  ['train', 'category', '--out', 'm.intra'],
  ['score', 'm.intra', 'image.png'],
  ['eval', 'm.intra', 'category'],
  ['demo'],
  ['bench', 'kernels'],
  ['bench', 'score'],
  ['bench', 'train'],
  ['profile', 'train'],
  ['profile', 'score', 'm.intra', 'image.png'],
  ['bench', 'memory'],
  ['bench', 'fleet'],
  ['bench', 'validation', 'm.intra'],
  ['bench', 'curve', 'category'],
  ['queue', 'submit', 'm.intra', 'image.png', '--redis', 'redis://127.0.0.1:1'],
  ['queue', 'status', 'run', '--redis', 'redis://127.0.0.1:1'],
  ['queue', 'results', 'run', '--redis', 'redis://127.0.0.1:1'],
  ['worker', '--redis', 'redis://127.0.0.1:1'],
];

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

describe('--inference-batch', () => {
  it.each([
    ['score', 'm.intra', 'image.png'],
    ['eval', 'm.intra', 'category'],
    ['train', 'category', '--out', 'm.intra'],
    ['worker', '--redis', 'redis://127.0.0.1:1'],
  ])('intra %s takes it into its engine options, and names it when it is not a positive integer', async (...argv) => {
    type EngineArgs = Parameters<typeof engineOptionsOf>[0];
    const parsed = async (extra: string[]) => (await parseCli([...argv, ...extra])).args as unknown as EngineArgs;
    expect(engineOptionsOf(await parsed(['--inference-batch', '48']))).toMatchObject({ inferenceBatch: 48, threads: 0, device: 'cpu', precision: 'fp32' });
    expect(engineOptionsOf(await parsed([]))).not.toHaveProperty('inferenceBatch');
    for (const bad of ['0', '2.5', '-3']) {
      const args = await parsed(['--inference-batch', bad]);
      expect(() => engineOptionsOf(args)).toThrow(`Expected a positive integer for --inference-batch but received ${Number(bad)}`);
    }
  });
});

describe('boolean options', () => {
  it.each(commands.map((c) => [c.join(' '), c]))('intra %s: each parses as --x (true) and --no-x (false)', async (_, argv) => {
    const { booleans } = await parseCli(argv as string[]);
    const own = booleans.filter((b) => b !== 'help' && b !== 'version');
    for (const flag of own) {
      expect((await parseCli([...(argv as string[]), `--${flag}`])).args[camel(flag)], `--${flag}`).toBe(true);
      expect((await parseCli([...(argv as string[]), `--no-${flag}`])).args[camel(flag)], `--no-${flag}`).toBe(false);
    }
  });

  it('train has the paper\'s ablation as --no-long-residuals; without the flag the recipe decides (paper: on, thesis: off)', async () => {
    // The option has no parse-time default since recipes came: the thesis recipe's is off.
    const train = ['train', 'category', '--out', 'm.intra'];
    expect((await parseCli(train)).booleans).toEqual(expect.arrayContaining(['augment', 'long-residuals', 'resume']));
    expect((await parseCli(train)).args.longResiduals).toBeUndefined();
    expect((await parseCli(train)).args.recipe).toBe('paper');
    expect(recipeDefaults('paper').longResiduals).toBe(true);
    expect(recipeDefaults('thesis').longResiduals).toBe(false);
    expect((await parseCli([...train, '--no-long-residuals'])).args.longResiduals).toBe(false);
    await expect(parseCli([...train, '--recipe', 'book'])).rejects.toThrow(/Invalid values:[\s\S]*recipe/);
  });

  it('refuses unknown options by name', async () => {
    await expect(parseCli(['train', 'category', '--out', 'm.intra', '--long-residual'])).rejects.toThrow(/Unknown arguments?: long-residual/);
  });

  it('trains without long residuals when asked, and the model says so', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-ablation-'));
    await synthesize(join(root, 'data'), { seed: 4, categories: ['grain'], size: 64, train: 4, testGood: 1, testPerDefect: 1 });
    const { runCli } = await import('../lib/cli/index.js');
    const model = join(root, 'grain.intra');
    await runCli(['train', join(root, 'data', 'grain'), '--out', model, '--preset', 'tiny', '--epochs', '1', '--windows-per-image', '8', '--batch', '16', '--threads', '1', '--no-long-residuals']);
    expect(process.exitCode ?? 0).toBe(0);
    const engine = await Engine.load(model);
    expect(engine.describe().model.longResiduals).toBe(false);
    engine.dispose();
  });

  it('--recipe thesis trains the thesis set-up: msa, no long residuals, lr 1e-3, no augmentation, multi-scale GMS; its flags still override', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-thesis-'));
    await synthesize(join(root, 'data'), { seed: 4, categories: ['grain'], size: 64, train: 4, testGood: 1, testPerDefect: 1 });
    const { runCli } = await import('../lib/cli/index.js');
    const common = ['--preset', 'tiny', '--epochs', '1', '--windows-per-image', '8', '--batch', '16', '--threads', '1', '--recipe', 'thesis'];
    const thesis = join(root, 'thesis.intra'), linear = join(root, 'linear.intra');
    await runCli(['train', join(root, 'data', 'grain'), '--out', thesis, ...common]);
    await runCli(['train', join(root, 'data', 'grain'), '--out', linear, ...common, '--attention', 'linear', '--augment']);
    expect(process.exitCode ?? 0).toBe(0);
    for (const [path, attention, augment] of [[thesis, 'msa', false], [linear, 'linear', true]] as const) {
      const engine = await Engine.load(path);
      const { model, train } = engine.describe();
      expect(model).toMatchObject({ attention, longResiduals: false });
      expect(train).toMatchObject({ learningRate: 1e-3, gmsScales: 3, augment, batchSize: 16 });
      expect(engine.metadata<{ recipe: string; patience: number }>()).toMatchObject({ recipe: 'thesis', patience: 150 });
      engine.dispose();
    }
    await expect(trainCategory({ category: join(root, 'data', 'grain'), out: join(root, 'x.intra'), recipe: 'thesis', attention: 'mfsa' })).rejects.toThrow(
      "Expected msa or linear attention with the thesis recipe but received 'mfsa'",
    );
  });
});

describe('help', () => {
  // A 60-column terminal (util-linux `script` gives the process a pseudo-terminal).
  const helpOn60Columns = (command: string) => {
    const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
    const run = spawnSync('script', ['-qc', `stty cols 60; ${process.execPath} ${cli} ${command} --help`, '/dev/null'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    return run.stdout.replace(/\r/g, '');
  };

  it.each([
    ['train', ['model file (.intra), also the checkpoint', "attention kind (default: the preset's, mfsa)", 'cpu, cuda, or auto (says what it chose)']],
    ['bench kernels', ['records of another run (e.g. the other device) to draw in the same chart']],
  ])('intra %s --help wraps at word boundaries at the terminal width', (command, descriptions) => {
    const text = helpOn60Columns(command as string);
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(60);
    const flat = text.replace(/\s+/g, ' ');
    for (const description of descriptions as string[]) expect(flat).toContain(description);
  });
});

describe('intra bench kernels --with', () => {
  it('refuses records it cannot read or that are not kernel records, naming the file, before benchmarking', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
    const dir = mkdtempSync(join(tmpdir(), 'intra-with-'));
    const missing = join(dir, 'missing.json');
    const run = spawnSync(process.execPath, [cli, 'bench', 'kernels', '--with', missing], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`--with ${missing}: cannot read kernel records`);
    const other = join(dir, 'other.json');
    writeFileSync(other, '{"not": "records"}');
    const wrong = spawnSync(process.execPath, [cli, 'bench', 'kernels', '--with', other], { encoding: 'utf8' });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain(`--with ${other}: expected a JSON array of kernel records (as --out writes)`);
  });

  it('intra bench train --ablate prints each family on its reference beside our kernels, and its share', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
    const run = spawnSync(process.execPath, [cli, 'bench', 'train', '--preset', 'tiny', '--precision', 'fp32', '--ablate', '--steps', '1', '--repeats', '1', '--threads', '2'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    for (const family of ['attention', 'filters', 'norm', 'activation', 'bias', 'optimizer']) {
      expect(run.stdout).toMatch(new RegExp(`train +tiny +mfsa +fp32 +fused, ${family} ref +whole`));
      expect(run.stdout).toMatch(new RegExp(`train fp32 whole: with ${family} on its reference it takes \\d+\\.\\d\\dx as long as with our kernels`));
    }
  });

  it('intra profile train --ops lists the ops of the training steps by self time, and the page shows them', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
    const dir = mkdtempSync(join(tmpdir(), 'intra-profile-ops-'));
    const page = join(dir, 'profile.html');
    const run = spawnSync(process.execPath, [cli, 'profile', 'train', '--preset', 'tiny', '--windows-per-image', '8', '--batch', '16', '--threads', '2', '--ops', '--op-rows', '5', '--trace', join(dir, 'trace.json'), '--html', page], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/ops over \d+ training steps \(\d+\.\d\d s\): .*matrix product \d+\.\d%/);
    const table = run.stdout.slice(run.stdout.indexOf('op   '));
    expect(table.split('\n').filter((line) => /^\S.* (matrix product|ours|aten|autograd) +\d+ /.test(line))).toHaveLength(5);
    expect(readFileSync(page, 'utf8')).toMatch(/<h2>Ops<\/h2>[\s\S]*aten::mm/);
  });

  it('intra bench train --kernels refuses a name it does not know, before benchmarking', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
    const run = spawnSync(process.execPath, [cli, 'bench', 'train', '--preset', 'tiny', '--kernels', 'fused,fast'], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("Expected one of fused, reference for kernels but received 'fast'");
    expect(run.stdout).toBe('');
  });
});

describe('a training-time budget (--minutes)', () => {
  it('stops before an epoch that the last one says would end past the budget', () => {
    const base = { epoch: 3, epochs: 10, bestEpoch: 3, patience: 5, history: [{ seconds: 20 }] };
    expect(stopReason({ ...base, minutes: 1, trainingSeconds: 40 })).toBeUndefined();  // 40 + 20 = 60 s: fits
    expect(stopReason({ ...base, minutes: 1, trainingSeconds: 41 })).toBe('minutes');
    expect(stopReason({ ...base, trainingSeconds: 1e9 })).toBeUndefined();  // no budget
    expect(stopReason({ ...base, history: [], minutes: 1e-9 })).toBeUndefined();  // the first epoch always runs
    expect(stopReason({ ...base, epoch: 10, minutes: 1, trainingSeconds: 41 })).toBe('epochs');
    expect(stopReason({ ...base, bestEpoch: 0, patience: 3, minutes: 1, trainingSeconds: 41 })).toBe('patience');
  });

  it('ends a run by its budget, counts the time, and goes on from the finished model when given more', async () => {
    const root = mkdtempSync(join(tmpdir(), 'intra-minutes-'));
    await synthesize(join(root, 'data'), { seed: 4, categories: ['grain'], size: 64, train: 4, testGood: 1, testPerDefect: 1 });
    const common = { category: join(root, 'data', 'grain'), out: join(root, 'grain.intra'), preset: 'tiny' as const, epochs: 1000, patience: 1000, windowsPerImage: 8, batchSize: 16, threads: 1 };
    const first = await trainCategory({ ...common, minutes: 0.05 });
    expect(first.state).toMatchObject({ state: 'done', stopped: 'minutes', minutes: 0.05 });
    expect(first.state.epoch).toBeLessThan(1000);
    expect(first.state.trainingSeconds).toBeCloseTo(first.state.history.reduce((s, r) => s + r.seconds, 0), 6);
    expect(first.state.threshold).toBeGreaterThan(0);
    await expect(trainCategory({ ...common, resume: true })).rejects.toThrow(
      `Model ${common.out} has finished training (stopped by its minutes limit); to go on, give --minutes above 0.05`,
    );
    const more = await trainCategory({ ...common, resume: true, minutes: 0.1 });
    expect(more.state.epoch).toBeGreaterThan(first.state.epoch);
    expect(more.state).toMatchObject({ state: 'done', stopped: 'minutes', minutes: 0.1 });
    expect(more.state.history.slice(0, first.state.epoch)).toEqual(first.state.history);
    await expect(trainCategory({ ...common, minutes: 0 })).rejects.toThrow('Expected a positive number of minutes for minutes but received 0');
  });
});

describe('intra train --shape', () => {
  it('parses auto, square and WxH, and refuses anything else by name before any work', async () => {
    const { parseShape } = await import('../lib/cli/options.js');
    expect(parseShape('auto')).toBe('auto');
    expect(parseShape('square')).toBe('square');
    expect(parseShape('128x256')).toEqual({ width: 128, height: 256 });
    const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
    const run = spawnSync(process.execPath, [cli, 'train', 'no-such-category', '--out', join(tmpdir(), 'never.intra'), '--shape', 'wide'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("Expected auto, square or WxH (e.g. 128x256) for --shape but received 'wide'");
  });
});
