import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { channelsOf } from '../lib/data/images.js';
import { renderSample, SYNTH_CATEGORIES, synthesize, type SynthCategory } from '../lib/data/synth.js';

describe('synthetic categories', () => {
  it('render deterministically by seed', () => {
    for (const category of Object.keys(SYNTH_CATEGORIES) as SynthCategory[]) {
      const a = renderSample(category, 64, 42, SYNTH_CATEGORIES[category].defects[0]);
      const b = renderSample(category, 64, 42, SYNTH_CATEGORIES[category].defects[0]);
      const c = renderSample(category, 64, 43, SYNTH_CATEGORIES[category].defects[0]);
      expect(Buffer.from(a.image).equals(Buffer.from(b.image))).toBe(true);
      expect(Buffer.from(a.mask).equals(Buffer.from(b.mask))).toBe(true);
      expect(Buffer.from(a.image).equals(Buffer.from(c.image))).toBe(false);
    }
  });

  it('mark exactly the pixels each defect changed', () => {
    for (const [category, spec] of Object.entries(SYNTH_CATEGORIES) as [SynthCategory, (typeof SYNTH_CATEGORIES)[SynthCategory]][]) {
      for (const defect of spec.defects) {
        for (const seed of [1, 2, 3]) {
          const clean = renderSample(category, 96, seed);
          const broken = renderSample(category, 96, seed, defect);
          let marked = 0;
          for (let p = 0; p < 96 * 96; p++) {
            let differs = false;
            for (let c = 0; c < spec.channels; c++) differs ||= clean.image[p * spec.channels + c] !== broken.image[p * spec.channels + c];
            expect(differs, `${category}/${defect} pixel ${p}`).toBe(broken.mask[p] === 1);
            marked += broken.mask[p]!;
          }
          expect(marked, `${category}/${defect} has a visible defect`).toBeGreaterThan(10);
          expect(clean.mask.every((v) => v === 0)).toBe(true);
        }
      }
    }
  });

  it('write the MVTec layout, the same bytes for the same seed', async () => {
    const a = mkdtempSync(join(tmpdir(), 'synth-a-')), b = mkdtempSync(join(tmpdir(), 'synth-b-'));
    const options = { seed: 5, categories: ['chip', 'grain'] as SynthCategory[], size: 48, train: 3, testGood: 2, testPerDefect: 2 };
    await synthesize(a, options);
    await synthesize(b, options);
    expect(readdirSync(join(a, 'chip', 'test')).sort()).toEqual(['good', 'misplaced', 'missing', 'stain']);
    expect(readdirSync(join(a, 'chip', 'ground_truth', 'missing'))).toEqual(['000_mask.png', '001_mask.png']);
    expect(readdirSync(join(a, 'grain', 'train', 'good'))).toHaveLength(3);
    expect(await channelsOf(join(a, 'grain/train/good/000.png'))).toBe(1);
    expect(await channelsOf(join(a, 'chip/train/good/000.png'))).toBe(3);
    expect(await channelsOf(join(a, 'chip/ground_truth/stain/000_mask.png'))).toBe(1);
    for (const file of ['chip/train/good/002.png', 'grain/test/crack/001.png', 'grain/ground_truth/spot/000_mask.png']) {
      expect(readFileSync(join(a, file)).equals(readFileSync(join(b, file)))).toBe(true);
    }
  });
});
