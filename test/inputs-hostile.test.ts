// Image inputs at the edges sharp leaves to us: empty files, headers claiming huge sizes,
// folders named like images, symbolic links (to images, to folders, in loops, dangling).
// Each is an error naming the file, or a walk that ends; never a hang or a silent loss.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { listImages } from '../lib/data/dataset.js';
import { loadImage } from '../lib/data/images.js';
import { scoreFiles } from '../lib/infer/score.js';
import { Engine } from '../lib/engine.js';
import { stripes } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'intra-hostile-'));

function crc32(bytes: Buffer): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4), crc = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}
/** A well-formed PNG header claiming width x height grey pixels, with a token of data. */
function pngClaiming(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8);  // 8-bit grey
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(async () => {
  const png = await sharp(Buffer.alloc(256, 128), { raw: { width: 16, height: 16, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  mkdirSync(join(root, 'in', 'folder.png'), { recursive: true });
  writeFileSync(join(root, 'in', 'a.png'), png);
  writeFileSync(join(root, 'in', 'folder.png', 'b.png'), png);
  writeFileSync(join(root, 'in', 'empty.png'), Buffer.alloc(0));
  writeFileSync(join(root, 'in', 'huge.png'), pngClaiming(60000, 60000));
  symlinkSync(join(root, 'in', 'a.png'), join(root, 'in', 'link-to-a.png'));
  symlinkSync('.', join(root, 'in', 'self'));                       // a folder cycle
  symlinkSync('..', join(root, 'in', 'folder.png', 'up'));          // another one
  symlinkSync('loop-b.png', join(root, 'in', 'loop-a.png'));        // a loop of links
  symlinkSync('loop-a.png', join(root, 'in', 'loop-b.png'));
  symlinkSync('missing.png', join(root, 'in', 'dangling.png'));
});

describe('hostile image inputs', () => {
  it('walks a folder with link cycles to its end, following links to images, listing each real folder once', async () => {
    const files = (await listImages([join(root, 'in')])).map((f) => f.slice(root.length + 4));
    expect(files).toEqual(['a.png', 'dangling.png', 'empty.png', 'folder.png/b.png', 'huge.png', 'link-to-a.png', 'loop-a.png', 'loop-b.png']);
  });

  it.each([
    ['empty.png', /^Cannot read .*empty\.png: not a readable image/],
    ['huge.png', /^Cannot read .*huge\.png: its header claims more pixels than the limit/],
    ['loop-a.png', /^Cannot read .*loop-a\.png: a loop of symbolic links/],
    ['dangling.png', /^Cannot read .*dangling\.png: no such file/],
    ['folder.png', /^Cannot read .*folder\.png: it is a directory/],
  ])('refuses %s with an error naming it', async (name, message) => {
    const error: unknown = await loadImage(join(root, 'in', name), { size: 16, channels: 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INTRA_IMAGE' });
    expect((error as Error).message).toMatch(message);
  });

  it('reads an image through a link like the image itself', async () => {
    const [direct, linked] = await Promise.all(['a.png', 'link-to-a.png'].map((f) => loadImage(join(root, 'in', f), { size: 16, channels: 1 })));
    expect(Buffer.from(linked!.pixels).equals(Buffer.from(direct!.pixels))).toBe(true);
  });

  it('refuses an image smaller than one window (1x1, 8x8), naming the file; scoring goes on', async () => {
    const tiny = async (side: number, name: string) => {
      const path = join(root, 'small', name);
      mkdirSync(join(root, 'small'), { recursive: true });
      writeFileSync(path, await sharp(Buffer.alloc(side * side, 90), { raw: { width: side, height: side, channels: 1 } }).toColourspace('b-w').png().toBuffer());
      return path;
    };
    const one = await tiny(1, '1x1.png'), eight = await tiny(8, '8x8.png'), fine = await tiny(64, 'fine.png');
    // narrower than a window but more pixels than one: a real image, scored
    const narrow = join(root, 'small', 'narrow.png');
    writeFileSync(narrow, await sharp(Buffer.alloc(30 * 90, 90), { raw: { width: 30, height: 90, channels: 1 } }).toColourspace('b-w').png().toBuffer());
    await expect(loadImage(eight, { size: 64, channels: 1, window: 40 })).rejects.toThrow(
      `Cannot use ${eight}: 8x8 pixels is less than one window of the model (40x40 pixels): the model would see an upscaled guess`,
    );
    const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 1 }, { threads: 1 });  // window 5 x patch 8 = 40 pixels
    await engine.setTrainingImages(stripes(2, 64, 1));
    await engine.fitNormalStatistics();
    const lines = [];
    for await (const line of scoreFiles(engine, [one, eight, fine, narrow])) lines.push(line);
    engine.dispose();
    expect(lines.map((l) => l.code)).toEqual(['INTRA_IMAGE_SIZE', 'INTRA_IMAGE_SIZE', undefined, undefined]);
    expect(lines[0]!.error).toContain(`${one}: 1x1 pixels`);
    expect(lines[2]!.score).toBeGreaterThan(0);
  });
});
