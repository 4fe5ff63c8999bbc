// Ctrl-C during `intra train`: the checkpoint is saved, the process exits cleanly, --resume finishes.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { synthesize } from '../lib/data/synth.js';
import { Engine } from '../lib/engine.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
const root = mkdtempSync(join(tmpdir(), 'intra-sigint-'));

function run(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('intra train and Ctrl-C', () => {
  beforeAll(async () => {
    await synthesize(join(root, 'data'), { seed: 3, categories: ['grain'], size: 64, train: 8, testGood: 2, testPerDefect: 1 });
  });

  it('saves, exits with 130, and resumes to the end', async () => {
    const model = join(root, 'grain.intra');
    const args = ['train', join(root, 'data', 'grain'), '--out', model, '--preset', 'tiny', '--patience', '40', '--windows-per-image', '64', '--batch', '32', '--threads', '1'];
    let sent = false;
    const first = await run([...args, '--epochs', '40'], (text, child) => {
      if (!sent && text.includes('epoch 2:')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(first.stderr).toContain('interrupted; saving the checkpoint');
    expect(first.code).toBe(130);
    expect(first.stdout).toContain('continue with --resume');
    const engine = await Engine.load(model);
    const state = engine.metadata<{ state: string; epoch: number }>();
    engine.dispose();
    expect(state.state).toBe('interrupted');
    expect(state.epoch).toBeGreaterThanOrEqual(2);
    const second = await run([...args, '--epochs', '4', '--resume']);
    expect(second.stderr).not.toContain('intra:');
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/best epoch \d+ of/);
  }, 120_000);
});
