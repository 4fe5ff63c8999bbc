// A long scoring run killed with SIGKILL, then resumed: every image exactly once, with the
// scores of an uninterrupted run; a line cut by the kill is detected and redone.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { listImages } from '../lib/data/dataset.js';
import { tinyModelAndImages } from './fixtures.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
const root = mkdtempSync(join(tmpdir(), 'intra-resume-'));
const model = join(root, 'm.intra'), images = join(root, 'images');
let files: string[] = [];

const lines = (path: string) =>
  readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { file: string; score?: number; code?: string });
const score = (...extra: string[]) =>
  spawnSync(process.execPath, [cli, 'score', model, images, '--threads', '1', '--batch', '1', ...extra], { encoding: 'utf8' });

beforeAll(async () => {
  await tinyModelAndImages(model, images, 240);
  files = await listImages([images]);
});

describe('intra score --resume', () => {
  it('after kill -9 and a cut last line, scores every image exactly once, as an uninterrupted run does', async () => {
    const clean = join(root, 'clean.jsonl');
    expect(score('--out', clean).status).toBe(1);  // broken.png gets an error line
    const expected = new Map(lines(clean).map((l) => [l.file, l]));
    expect(expected.size).toBe(files.length);
    expect([...expected.values()].filter((l) => l.score !== undefined)).toHaveLength(files.length - 1);  // all but broken.png

    const out = join(root, 'killed.jsonl');
    const child = spawn(process.execPath, [cli, 'score', model, images, '--threads', '1', '--batch', '1', '--out', out], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        const size = (() => { try { return statSync(out).size; } catch { return 0; } })();
        if (size > 40 * 60) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(poll);
        reject(new Error('the run finished before it could be killed'));
      });
    });
    await new Promise((resolve) => child.on('close', resolve));
    const before = lines(out).length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(files.length);
    appendFileSync(out, '{"file":"' + files[before]!.slice(0, 10));  // a line the kill cut short

    const resumed = score('--out', out, '--resume');
    expect(resumed.stderr).toContain(`resuming ${out}: ${before} of ${files.length} images already scored`);
    // Exit 1 only if the broken file's error line falls to this run.
    const brokenBefore = lines(out).slice(0, before).some((l) => l.file.endsWith('broken.png'));
    expect(resumed.status).toBe(brokenBefore ? 0 : 1);
    const all = lines(out);
    expect(all.map((l) => l.file).sort()).toEqual([...files].sort());
    for (const line of all) {
      const reference = expected.get(line.file)!;
      if (reference.code) expect(line.code).toBe(reference.code);
      else expect(line.score).toBeCloseTo(reference.score!, 6);
    }
    // Nothing left to do: a second resume appends nothing.
    const again = score('--out', out, '--resume');
    expect(again.stderr).toContain(`${files.length} of ${files.length} images already scored`);
    expect(lines(out)).toHaveLength(files.length);
  }, 120_000);

  it('refuses --resume without --out, and a results file that is not one', () => {
    const usage = score('--resume');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('Expected --out <file> with --resume');
    const bad = join(root, 'bad.jsonl');
    appendFileSync(bad, 'hello\n{"file":"a.png","score":1}\n');
    const refused = score('--out', bad, '--resume');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`Cannot resume from ${bad}: line 1 is not a result line`);
    expect(readFileSync(bad, 'utf8')).toBe('hello\n{"file":"a.png","score":1}\n');  // left as it was
  });

  it("writes map pictures whole, and a picture that cannot be written is that image's error line, not the end of the run", () => {
    const maps = join(root, 'maps');
    mkdirSync(join(maps, 'img-001.overlay.png'), { recursive: true });  // a folder where a picture should go
    const few = join(root, 'few');
    mkdirSync(few);
    for (const i of [0, 1, 2]) copyFileSync(join(images, `img-00${i}.png`), join(few, `img-00${i}.png`));
    const run = spawnSync(process.execPath, [cli, 'score', model, few, '--threads', '1', '--maps', maps, '--out', join(root, 'maps.jsonl')], { encoding: 'utf8', cwd: few });
    expect(run.status).toBe(1);
    const result = lines(join(root, 'maps.jsonl'));
    expect(result.map((l) => [l.file.slice(few.length + 1), l.code ?? 'ok'])).toEqual([['img-000.png', 'ok'], ['img-001.png', 'INTRA_IO'], ['img-002.png', 'ok']]);
    // its score stands: the one a run without pictures gives it
    const plain = spawnSync(process.execPath, [cli, 'score', model, join(few, 'img-001.png'), '--threads', '1', '--out', join(root, 'plain.jsonl')], { encoding: 'utf8' });
    expect(plain.status, plain.stderr).toBe(0);
    expect(result[1]!.score).toBe(lines(join(root, 'plain.jsonl'))[0]!.score);
    expect(readdirSync(maps).sort()).toEqual(['img-000.map.png', 'img-000.overlay.png', 'img-001.map.png', 'img-001.overlay.png', 'img-002.map.png', 'img-002.overlay.png']);
  });

  it('shows progress on a terminal when results go to a file, and nothing extra when piped', () => {
    const few = join(root, 'few');  // made by the test before
    const ttyRun = spawnSync('script', ['-qc', `${process.execPath} ${cli} score ${model} ${few} --threads 1 --out ${join(root, 'tty.jsonl')}`, '/dev/null'], { encoding: 'utf8' });
    expect(ttyRun.stdout).toMatch(/3\/3 images, [\d.]+ images\/s, ETA 0s/);
    const piped = score('--out', join(root, 'piped.jsonl'));
    expect(piped.stderr).not.toMatch(/images\/s/);
  });
});
