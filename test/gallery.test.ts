// The gallery's candidates chosen while images stream past: the same picks as sorting them all
// afterwards, pictures kept only for candidates.
import { describe, expect, it } from 'vitest';

import { GallerySelection, type Rendered } from '../lib/eval/gallery.js';
import { random } from './fixtures.js';

describe('gallery selection', () => {
  it('picks the good images scored highest and the anomalous ones scored lowest and highest, as a full sort would', () => {
    const rand = random(4);
    const items = Array.from({ length: 200 }, (_, i) => ({ item: { file: `${i}.png`, defect: rand() < 0.4 ? 'good' : 'crack' }, score: rand() }));
    const selection = new GallerySelection(3);
    let renders = 0;
    const rendered = (i: number): Rendered => (renders++, { pixels: Uint8Array.of(i), map: Float32Array.of(i), reconstruction: Float32Array.of(i) });
    items.forEach((s, i) => selection.offer(s, () => rendered(i)));
    const good = items.filter((s) => s.item.defect === 'good').sort((a, b) => b.score - a.score);
    const bad = items.filter((s) => s.item.defect !== 'good').sort((a, b) => a.score - b.score);
    const picks = selection.picks();
    expect(picks.map((p) => [p.group, p.s.item.file])).toEqual([
      ...good.slice(0, 3).map((s) => ['highest-scoring defect-free images', s.item.file]),
      ...bad.slice(0, 3).map((s) => ['lowest-scoring defective images', s.item.file]),
      ...bad.slice(-3).reverse().map((s) => ['highest-scoring defective images', s.item.file]),
    ]);
    // each pick carries its own pictures, rendered once when it entered
    for (const p of picks) expect(p.rendered.pixels[0]).toBe(Number.parseInt(p.s.item.file, 10));
    expect(renders).toBeLessThan(items.length);
  });
});

describe('the report\'s gallery page', () => {
  it('keeps each picture\'s aspect: a 112 x 208 part is drawn 180 wide and 334 tall, not squashed', async () => {
    const { galleryHtml } = await import('../lib/eval/report-html.js');
    const entry = { group: 'highest-scoring defect-free images' as const, file: 'part.png', defect: 'good', score: 0.1, verdict: 'normal (true negative)', panel: 'p.png', tiles: ['data:image/png;base64,AA=='] };
    const html = galleryHtml([entry], 'data:image/png;base64,AA==', 0.2, { width: 112, height: 208 });
    expect(html).toContain('<img src="data:image/png;base64,AA==" width="180" height="334"');
    expect(html).toContain('<h3>highest-scoring defect-free images</h3>');
    const { htmlPage } = await import('../lib/eval/html.js');
    expect(htmlPage('x', '')).toMatch(/\.tiles img\{width:180px;height:auto;/);
  });
});
