// report.html and index.html opened in a real browser (Debian's chromium through
// playwright-core): no console error, no request leaving the file, the ROC curve drawn from
// report.json's points, every gallery picture loaded, the threshold rule at the model's
// threshold; a screenshot is kept under test-output/ for a person to look at.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { benchKernels } from '../lib/bench/kernels.js';
import { kernelsPage, profilePage } from '../lib/bench/pages.js';
import { profileTrain } from '../lib/bench/profile.js';
import { CHART_SIZE } from '../lib/eval/charts.js';
import type { Report } from '../lib/eval/evaluate.js';
import { synthesize } from '../lib/data/synth.js';
import { machineLabel } from '../lib/native.js';
import { Engine } from '../lib/engine.js';
import { trainCategory } from '../lib/train/train.js';

const cli = join(import.meta.dirname, '..', 'dist', 'bin', 'intra.js');
const root = mkdtempSync(join(tmpdir(), 'intra-report-'));
const screenshots = join(import.meta.dirname, '..', 'test-output');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let browser: Browser;
let report: Report;
let modelThreshold: number;

interface Visit { page: Page; errors: string[]; requests: string[] }

async function visit(file: string): Promise<Visit> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [], requests: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, errors, requests };
}

/** The vertices of an SVG path made of M and L commands. */
function vertices(d: string): [number, number][] {
  return [...d.matchAll(/[ML]\s*(-?[\d.e+-]+)[ ,](-?[\d.e+-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

beforeAll(async () => {
  const data = join(root, 'data');
  await synthesize(data, { seed: 3, categories: ['washer', 'grain'], size: 64, train: 10, testGood: 6, testPerDefect: 3 });
  for (const category of ['washer', 'grain']) {
    await trainCategory({ preset: 'tiny', epochs: 3, patience: 3, windowsPerImage: 32, batchSize: 64, learningRate: 1e-3, threads: 2, seed: 1, category: join(data, category), out: join(root, 'models', `${category}.intra`) });
  }
  const engine = await Engine.load(join(root, 'models', 'washer.intra'));
  modelThreshold = engine.metadata<{ threshold: number }>().threshold;
  engine.dispose();
  const all = spawnSync(process.execPath, [cli, 'eval', '--all', data, '--models', join(root, 'models'), '--out', join(root, 'eval'), '--threads', '2'], { encoding: 'utf8' });
  expect(all.status, all.stderr).toBe(0);
  report = JSON.parse(readFileSync(join(root, 'eval', 'washer', 'report.json'), 'utf8')) as Report;
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] }).catch((error: Error) => {
    throw new Error(`Cannot start ${chromiumPath} (setup.sh installs Debian's chromium): ${error.message}`);
  });
  mkdirSync(screenshots, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
});

describe('report.html in a real browser', () => {
  it('loads with no console error and no request leaving the file; a screenshot is kept', async () => {
    const { page, errors, requests } = await visit(report.html);
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('data:'))).toEqual([pathToFileURL(report.html).href]);
    await expect(page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')).resolves.toContain("default-src 'none'");
    expect(report.model_info.preset).toBe('tiny');
    await expect(page.locator('#model').textContent()).resolves.toContain('tiny');
    await page.screenshot({ path: join(screenshots, 'report-washer.png'), fullPage: true });
    console.log(`screenshot: ${join(screenshots, 'report-washer.png')}`);
    await page.close();
  });

  it('draws the image ROC curve through report.json\'s points', async () => {
    const { page } = await visit(report.html);
    const paths = await page.locator('#chart-image-roc path[aria-roledescription="line mark"]').evaluateAll((els) => els.map((e) => e.getAttribute('d') ?? ''));
    const drawn = vertices(paths[paths.length - 1]!);  // the last layer is the curve (the first the chance diagonal)
    const points = report.curves.image_roc!;
    expect(drawn).toHaveLength(points.length);
    drawn.forEach(([x, y], i) => {
      expect(x / CHART_SIZE.width).toBeCloseTo(points[i]!.fpr, 2);
      expect(1 - y / CHART_SIZE.height).toBeCloseTo(points[i]!.tpr, 2);
    });
    // and the AUROC in the title is report.json's
    await expect(page.locator('#chart-image-roc').textContent()).resolves.toContain(`AUROC ${(100 * report.image_auroc!).toFixed(1)}%`);
    await page.close();
  });

  it('puts the threshold rule at the model\'s threshold', async () => {
    expect(report.threshold).toBe(modelThreshold);
    const { page } = await visit(report.html);
    const transform = await page.locator('#chart-histogram line[aria-roledescription="rule mark"]').getAttribute('transform');
    const x = Number(/translate\(([-\d.e]+),/.exec(transform ?? '')?.[1]);
    const [lo, hi] = report.histogram.domain;
    expect(x).toBeCloseTo(((modelThreshold - lo) / (hi - lo)) * CHART_SIZE.width, 3);  // Vega does not round
    await expect(page.locator('#threshold').getAttribute('data-threshold')).resolves.toBe(String(modelThreshold));
    await page.close();
  });

  it('loads every gallery picture, labelled with file, score and verdict', async () => {
    const { page } = await visit(report.html);
    const images = await page.locator('#gallery img').evaluateAll((els) => els.map((e) => ({ ok: (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth > 0, alt: e.getAttribute('alt') })));
    expect(report.gallery.length).toBeGreaterThanOrEqual(3);
    // five tiles and two colour bars per entry
    expect(images).toHaveLength(report.gallery.length * 7);
    expect(images.filter((i) => !i.ok)).toEqual([]);
    const entries = await page.locator('#gallery .entry').evaluateAll((els) => els.map((e) => ({ file: e.getAttribute('data-file'), text: e.textContent ?? '' })));
    expect(entries.map((e) => e.file)).toEqual(report.gallery.map((g) => g.file));
    entries.forEach((e, i) => expect(e.text).toContain(report.gallery[i]!.verdict));
    const groups = await page.locator('#gallery h3').allTextContents();
    expect(groups).toEqual(['highest-scoring defect-free images', 'lowest-scoring defective images', 'highest-scoring defective images']);
    await page.close();
  });

  it('index.html lays out the categories as Table 1, each linking to its report', async () => {
    const { page, errors } = await visit(join(root, 'eval', 'index.html'));
    const links = await page.locator('#table1 a').allTextContents();
    expect(links.sort()).toEqual(['grain', 'washer']);
    await page.locator('#table1 a', { hasText: 'washer' }).click();
    await page.waitForURL(pathToFileURL(report.html).href);
    await expect(page.locator('h1').textContent()).resolves.toContain('washer');
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(screenshots, 'index.png') });
    await page.close();
  });
});

describe('the benchmark pages in a real browser', () => {
  it('intra bench kernels: the sweeps with the crossover, and every record', async () => {
    const records = await benchKernels({ quick: true, threads: 2 });
    const page = join(root, 'bench-kernels.html');
    writeFileSync(page, await kernelsPage(records));
    const { page: tab, errors, requests } = await visit(page);
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('data:'))).toEqual([pathToFileURL(page).href]);
    const series = new Set(records.filter((r) => r.pass === 'forward+backward' && r.seq !== undefined).map((r) => `${r.op} ${r.impl}`));
    await expect(tab.locator('#chart-sweep path[aria-roledescription="line mark"]').count()).resolves.toBe(series.size);
    await expect(tab.locator('#records tr').count()).resolves.toBe(records.length + 1);
    await expect(tab.locator('#crossover li').first().textContent()).resolves.toMatch(/^cpu: linear attention/);
    await tab.screenshot({ path: join(screenshots, 'bench-kernels.png'), fullPage: true });
    await tab.close();
  });

  it('intra profile --compare: the phases of both kinds side by side', async () => {
    const reports = [];
    for (const attention of ['msa', 'linear'] as const) {
      reports.push(await profileTrain({ category: join(root, 'data', 'grain'), preset: 'tiny', attention, windowsPerImage: 16, batchSize: 32, threads: 2 }));
    }
    const page = join(root, 'profile.html');
    writeFileSync(page, await profilePage(reports, machineLabel()));
    const { page: tab, errors } = await visit(page);
    expect(errors).toEqual([]);
    const phases = new Set(reports.flatMap((r) => r.summary.slice(0, 14).map((p) => p.name)));
    await expect(tab.locator('#chart-phases path[aria-roledescription="bar"]').count()).resolves.toBe(phases.size * 2);
    await expect(tab.locator('#runs tr').count()).resolves.toBe(3);
    await tab.screenshot({ path: join(screenshots, 'profile-compare.png'), fullPage: true });
    await tab.close();
  });
});
