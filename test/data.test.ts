import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { listImages, readCategory } from '../lib/data/dataset.js';
import { channelsOf, loadImage, loadMask } from '../lib/data/images.js';

const dir = mkdtempSync(join(tmpdir(), 'intra-data-'));
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  const rgb = new Uint8Array(32 * 24 * 3).map((_, i) => (i % 3 === 0 ? 200 : 50));
  await sharp(rgb, { raw: { width: 32, height: 24, channels: 3 } }).png().toFile(file('rgb.png'));
  await sharp(rgb, { raw: { width: 32, height: 24, channels: 3 } }).jpeg({ quality: 95 }).toFile(file('rgb.jpg'));
  await sharp(rgb, { raw: { width: 32, height: 24, channels: 3 } }).webp({ lossless: true }).toFile(file('rgb.webp'));
  await sharp(rgb, { raw: { width: 32, height: 24, channels: 3 } }).tiff().toFile(file('rgb.tiff'));
  const rgba = new Uint8Array(32 * 24 * 4).map((_, i) => (i % 4 === 3 ? (i < 32 * 12 * 4 ? 0 : 255) : 160));
  await sharp(rgba, { raw: { width: 32, height: 24, channels: 4 } }).png().toFile(file('rgba.png'));
  const grey16 = new Uint16Array(32 * 24).fill(65535);
  await sharp(Buffer.from(grey16.buffer), { raw: { width: 32, height: 24, channels: 1 } }).toColourspace('grey16').png().toFile(file('grey16.png'));
  const grey = new Uint8Array(32 * 24).fill(77);
  await sharp(grey, { raw: { width: 32, height: 24, channels: 1 } }).toColourspace('b-w').png().toFile(file('grey.png'));
  const mask = new Uint8Array(32 * 24).map((_, i) => (i % 32 < 8 ? 200 : 100));
  await sharp(mask, { raw: { width: 32, height: 24, channels: 1 } }).toColourspace('b-w').png().toFile(file('mask.png'));
  writeFileSync(file('not-an-image.png'), 'hello');
  const bytes = await sharp(rgb, { raw: { width: 32, height: 24, channels: 3 } }).png().toBuffer();
  writeFileSync(file('truncated.png'), bytes.subarray(0, bytes.length >> 1));
});

describe('decoding', () => {
  it('reads PNG, JPEG, WebP and TIFF to the model size as uint8 HWC', async () => {
    for (const name of ['rgb.png', 'rgb.jpg', 'rgb.webp', 'rgb.tiff']) {
      const image = await loadImage(file(name), { size: 16, channels: 3 });
      expect(image.pixels.length).toBe(16 * 16 * 3);
      expect([image.originalWidth, image.originalHeight]).toEqual([32, 24]);
      expect(Math.abs(image.pixels[0]! - 200)).toBeLessThan(6);
      expect(Math.abs(image.pixels[1]! - 50)).toBeLessThan(6);
    }
  });

  it('scales 16-bit samples to 8 bits and flattens alpha onto black', async () => {
    expect(await channelsOf(file('grey16.png'))).toBe(1);
    const grey = await loadImage(file('grey16.png'), { size: 16, channels: 1 });
    expect(grey.pixels.every((v) => v === 255)).toBe(true);
    const rgba = await loadImage(file('rgba.png'), { size: 24, channels: 3 });
    expect(rgba.pixels[0]).toBe(0);  // transparent top half -> black
    expect(rgba.pixels[rgba.pixels.length - 1]).toBe(160);
  });

  it('refuses a grey image for a colour model and the reverse, naming the file', async () => {
    await expect(loadImage(file('grey.png'), { size: 16, channels: 3 })).rejects.toThrow(
      `Cannot use ${file('grey.png')}: it is grey but the model expects colour (3 channels) images`,
    );
    await expect(loadImage(file('rgb.png'), { size: 16, channels: 1 })).rejects.toMatchObject({ code: 'INTRA_CHANNELS' });
  });

  it('names unreadable, truncated and missing files', async () => {
    await expect(loadImage(file('not-an-image.png'), { size: 16, channels: 3 })).rejects.toThrow(`Cannot read ${file('not-an-image.png')}: not a readable image`);
    await expect(loadImage(file('truncated.png'), { size: 16, channels: 3 })).rejects.toThrow(`Cannot read ${file('truncated.png')}`);
    await expect(loadImage(file('missing.png'), { size: 16, channels: 3 })).rejects.toThrow(`Cannot read ${file('missing.png')}: no such file`);
  });

  it('binarises masks at their own resolution and checks their size', async () => {
    const { mask, width, height } = await loadMask(file('mask.png'));
    expect([width, height]).toEqual([32, 24]);
    expect(mask[0]).toBe(1);
    expect(mask[8]).toBe(0);
    await expect(loadMask(file('mask.png'), { width: 30, height: 24, image: 'a.png' })).rejects.toThrow(
      `Mask ${file('mask.png')} is 32x24 but its image a.png is 30x24`,
    );
  });
});

describe('dataset layout', () => {
  it('reports missing folders, an empty train set and missing masks', async () => {
    await expect(readCategory(join(dir, 'nope'))).rejects.toThrow(`Category folder ${join(dir, 'nope')} does not exist`);
    mkdirSync(join(dir, 'cat', 'train', 'good'), { recursive: true });
    await expect(readCategory(join(dir, 'cat'))).rejects.toThrow(`Category folder ${join(dir, 'cat')}: train/good holds no images`);
    mkdirSync(join(dir, 'flat'), { recursive: true });
    await expect(readCategory(join(dir, 'flat'))).rejects.toThrow('has no train/good folder');
    mkdirSync(join(dir, 'cat', 'test', 'scratch'), { recursive: true });
    await sharp(file('rgb.png')).toFile(join(dir, 'cat', 'test', 'scratch', '000.png'));
    await expect(readCategory(join(dir, 'cat'), { requireTest: true })).rejects.toThrow(
      `Mask missing for ${join(dir, 'cat', 'test', 'scratch', '000.png')}: expected ${join(dir, 'cat', 'ground_truth', 'scratch', '000_mask.png')}`,
    );
  });

  it('lists images in folders recursively and keeps named files', async () => {
    const files = await listImages([dir, file('missing.png')]);
    expect(files).toContain(file('rgb.webp'));
    expect(files).toContain(join(dir, 'cat', 'test', 'scratch', '000.png'));
    expect(files[files.length - 1]).toBe(file('missing.png'));
  });

  it('reads the real magnetic tile set: grey, non-square, masks at original size', async (context) => {
    const root = join(import.meta.dirname, '..', '..', 'shared', 'data', 'magnetic_tile');
    if (!existsSync(root)) context.skip(`the shared magnetic tile set is not beside this checkout (${root})`);
    const category = await readCategory(root, { requireTest: true });
    expect(category.train.length).toBe(762);
    const item = category.test.find((t) => t.defect === 'blowhole')!;
    const image = await loadImage(item.file, { size: 64, channels: await channelsOf(item.file) });
    const mask = await loadMask(item.mask!, { width: image.originalWidth, height: image.originalHeight, image: item.file });
    expect(image.originalWidth).not.toBe(image.originalHeight);
    expect(mask.mask.some((v) => v === 1)).toBe(true);
  });
});
