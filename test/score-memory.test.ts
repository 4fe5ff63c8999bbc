// The shape of the memory bound of a long scoring run: peak RSS does not grow with the
// number of images (the figure at 20,000 images is `intra bench memory`'s, in docs/fleet.md).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { scoreMemory } from '../lib/bench/memory.js';

describe('intra score memory', () => {
  it('peaks at about the same RSS for 60 and 600 images', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'intra-memory-'));
    const few = await scoreMemory(60, dir), many = await scoreMemory(600, dir);
    expect(few.lines).toBe(60);
    expect(many.lines).toBe(600);
    // Ten times the images: well under one extra image's share of a batch per image
    // (a leak of even 100 KB per image would add 54 MB here).
    expect(many.peak_rss_mb - few.peak_rss_mb).toBeLessThan(25);
  }, 120_000);
});
