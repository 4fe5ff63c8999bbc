// The README's first command, `intra demo`, end to end at a reduced size (one epoch per
// category instead of 28): synthesis, training, evaluation, the table and the reports; run
// twice into the same folder, the second replaces the first's models.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { RecordFile } from '../lib/bench/records.js';
import type { Report } from '../lib/eval/evaluate.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');

describe('intra demo', () => {
  it('synthesises, trains, evaluates and prints the table with the reports, and runs again in place', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'intra-demo-')), 'demo-out');
    for (const round of [1, 2]) {
      // The second round also records itself (--record): one record per category.
      const record = round === 2 ? ['--record', join(out, 'records')] : [];
      const run = spawnSync(process.execPath, [cli, 'demo', '--out', out, '--epochs', '1', '--threads', '2', ...record], { encoding: 'utf8' });
      expect(run.status, `round ${round}: ${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/^weave +\d+\.\d \/ +\d+\.\d/m);
      expect(run.stdout).toMatch(/^washer +\d+\.\d \/ +\d+\.\d/m);
      expect(run.stdout).toMatch(/^avg\. all /m);
      for (const category of ['weave', 'washer']) {
        expect(run.stdout).toContain(`${category}: ${join(out, 'eval', category, 'report.html')}`);
        expect(existsSync(join(out, 'models', `${category}.intra`))).toBe(true);
        const report = JSON.parse(readFileSync(join(out, 'eval', category, 'report.json'), 'utf8')) as Report;
        expect(report.model_info.epochs_trained).toBe(1);
        expect(Object.keys(report.by_defect).length).toBeGreaterThan(1);
      }
      // The texture's defects are the easy ones: one epoch already finds them.
      const weave = JSON.parse(readFileSync(join(out, 'eval', 'weave', 'report.json'), 'utf8')) as Report;
      expect(weave.image_auroc).toBeGreaterThanOrEqual(0.9);
      if (round === 2) {
        const file = JSON.parse(readFileSync(/^record: (.+\.json)$/m.exec(run.stdout)![1]!, 'utf8')) as RecordFile<'demo'>;
        expect(file.command).toBe(`intra demo --out ${out} --epochs 1 --threads 2`);
        expect(file.records.map((r) => [r.category, r.epochs_trained, r.image_auroc])).toEqual([['weave', 1, weave.image_auroc], ['washer', 1, expect.any(Number)]]);
      }
    }
  }, 300_000);
});
