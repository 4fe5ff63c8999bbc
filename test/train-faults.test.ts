// Training under faults: kill -9 at any point, a disk that fills up while a checkpoint is
// written (ENOSPC from /dev/full), then --resume: the last good checkpoint is intact, the
// error says what happened, and the final model equals an uninterrupted run's to the bit.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';
import { stripes } from './fixtures.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
const root = mkdtempSync(join(tmpdir(), 'intra-faults-'));
const category = join(root, 'data', 'grain');
const args = (out: string) => ['train', category, '--out', out, '--preset', 'tiny', '--epochs', '5', '--windows-per-image', '48', '--batch', '16', '--threads', '1', '--seed', '7'];

beforeAll(async () => {
  await synthesize(join(root, 'data'), { seed: 3, categories: ['grain'], size: 64, train: 6, testGood: 1, testPerDefect: 1 });
});

/** Scores of a saved model on fixed images, and its step count: equal models give equal bits. */
async function fingerprint(model: string): Promise<{ steps: number; scores: number[] }> {
  const engine = await Engine.load(model, { threads: 1 });
  const { scores } = await engine.anomalyMaps(stripes(3, 64, 9));
  const steps = engine.describe().steps;
  engine.dispose();
  return { steps, scores: Array.from(scores) };
}

describe('intra train under faults', () => {
  it('survives kill -9 and a full disk, and resumes to the uninterrupted run\'s model, bit for bit', async () => {
    const reference = join(root, 'reference.intra');
    expect(spawnSync(process.execPath, [cli, ...args(reference)], { encoding: 'utf8' }).status).toBe(0);

    // 1. SIGKILL once the first checkpoint is on disk, wherever the second epoch is.
    const out = join(root, 'm.intra');
    const killed = spawn(process.execPath, [cli, ...args(out)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      if (text.includes('epoch 1:')) killed.kill('SIGKILL');
    };
    killed.stdout.on('data', onData);
    killed.stderr.on('data', onData);
    const signal = await new Promise((resolve) => killed.on('close', (_, s) => resolve(s)));
    expect(signal).toBe('SIGKILL');
    expect(existsSync(out)).toBe(true);
    const lastGood = readFileSync(out);

    // 2. The disk fills up while the resumed run writes its next checkpoint.
    const full = spawn(process.execPath, [cli, ...args(out), '--resume'], { stdio: ['ignore', 'pipe', 'pipe'] });
    symlinkSync('/dev/full', `${out}.tmp-${full.pid}`);
    let fullErr = '';
    full.stderr.on('data', (d: Buffer) => (fullErr += d.toString()));
    const code = await new Promise((resolve) => full.on('close', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(fullErr).toContain(`Cannot write checkpoint ${out}: write failed: No space left on device`);
    expect(readFileSync(out).equals(lastGood)).toBe(true);
    expect(existsSync(`${out}.tmp-${full.pid}`)).toBe(false);

    // 3. Room again: --resume finishes, and the model is the uninterrupted run's.
    const resumed = spawnSync(process.execPath, [cli, ...args(out), '--resume'], { encoding: 'utf8' });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(await fingerprint(out)).toEqual(await fingerprint(reference));
  }, 180_000);
});
