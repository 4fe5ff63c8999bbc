// What loading a model costs a process: scoring reads the weights only, so it needs less
// memory than training's load of everything (the figures at paper size are `intra bench
// load`'s, in docs/checkpoints.md).
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadTable, modelLoad } from '../lib/bench/memory.js';
import { Engine } from '../lib/engine.js';
import { stripes } from './fixtures.js';

describe('intra bench load', () => {
  it('measures each purpose in a fresh process; scoring holds the weights only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'intra-load-'));
    const path = join(dir, 'wide.intra');
    // Wide enough (25 MB of weights) that the optimiser state (two moments) and the best weights
    // stand well above a process's noise.
    const engine = Engine.create({ preset: 'tiny', channels: 1, dim: 320, depth: 4 }, { seed: 3, batchSize: 4 }, { threads: 2 });
    await engine.setTrainingImages(stripes(2, 64, 1));
    await engine.trainSteps(1);
    await engine.keepBest();
    await engine.save(path);
    const weightsMb = (engine.describe().parameters * 4) / 2 ** 20;
    engine.dispose();

    const records = await modelLoad(path, { repeats: 1, threads: 2 });
    expect(records.map((r) => r.purpose)).toEqual(['baseline', 'training', 'scoring']);
    const [baseline, training, scoring] = records as [typeof records[0], typeof records[0], typeof records[0]];
    expect(scoring.file_mb).toBeCloseTo(statSync(path).size / 2 ** 20, 1);
    for (const r of [training, scoring]) expect(r.seconds).toBeGreaterThan(0);
    // Once loaded, training holds weights, best weights and two moments; scoring the weights.
    expect(training.rss_after_mb - scoring.rss_after_mb).toBeGreaterThan(2 * weightsMb);
    expect(scoring.rss_after_mb - baseline.rss_after_mb).toBeLessThan(2 * weightsMb);
    expect(training.peak_rss_mb).toBeGreaterThan(scoring.peak_rss_mb);
    expect(loadTable(records)).toMatch(/\| scoring \| [\d.]+ s \| \d+ MB \| \d+ MB \(\+\d+ \/ \+\d+\) \|/);
    await expect(modelLoad(join(dir, 'missing.intra'))).rejects.toThrow(`Cannot read model ${join(dir, 'missing.intra')}`);
  }, 120_000);
});
