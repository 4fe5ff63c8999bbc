// Model files are input: files crafted with a valid checksum but absurd headers or a config
// that does not match their tensors must be refused with an error that names the file and
// the field, without allocating what the header claims.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine.js';
import { stripes } from './fixtures.js';
import { parse, write, xxh64, type Record_, type Tensor, type Text } from './checkpoint-format.js';

const root = mkdtempSync(join(tmpdir(), 'intra-crafted-'));
let original: { version: number; records: Record_[] };

beforeAll(async () => {
  const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 2, batchSize: 16 }, { threads: 1 });
  await engine.setTrainingImages(stripes(2, 64, 1));
  await engine.trainSteps(1);
  await engine.keepBest();
  await engine.trainSteps(1);  // the best weights differ from the weights: both are in the file
  await engine.fitNormalStatistics();
  const path = join(root, 'good.intra');
  await engine.save(path, { epoch: 1 });
  engine.dispose();
  original = parse(readFileSync(path));
});

const tensor = (name: string) => original.records.find((r): r is Tensor => r.kind === 'tensor' && r.name === name)!;
const withRecord = (name: string, change: (r: Record_) => Record_) => original.records.map((r) => (r.name === name ? change(r) : r));
const configWith = (key: string, value: string) =>
  withRecord('config', (r) => ({ ...(r as Text), text: (r as Text).text.replace(new RegExp(`^${key}=.*$`, 'm'), `${key}=${value}`) }));

async function refused(name: string, bytes: Buffer, message: RegExp): Promise<void> {
  const path = join(root, `${name}.intra`);
  writeFileSync(path, bytes);
  const error: unknown = await Engine.load(path, { threads: 1 }).catch((e: unknown) => e);
  expect(error, name).toMatchObject({ code: 'INTRA_CHECKPOINT' });
  expect((error as Error).message).toContain(`Checkpoint ${path} is not usable: `);
  expect((error as Error).message).toMatch(message);
}

describe('the hash', () => {
  it('is XXH64: the specification\'s published values', () => {
    expect(xxh64(Buffer.alloc(0))).toBe(0xef46db3751d8e999n);
    expect(xxh64(Buffer.from('a'))).toBe(0xd24ec4f1a98c6e5bn);
    expect(xxh64(Buffer.from('abc'))).toBe(0x44bc2cf5ad770999n);
    expect(xxh64(Buffer.alloc(100))).toBe(0x17bb1103c92c502fn);  // xxhsum -H1 of 100 zero bytes: every tail path
  });
});

describe('crafted model files with a valid checksum', () => {
  it('the writer reproduces a real file byte for byte, and the engine loads it', async () => {
    const path = join(root, 'good.intra');
    expect(write(original.records, { version: original.version }).equals(readFileSync(path))).toBe(true);
    const engine = await Engine.load(path, { threads: 1 });
    expect(engine.metadata()).toEqual({ epoch: 1 });
    engine.dispose();
  });

  it('writes format version 2 and still loads version 1 files (one FNV-1a hash), for training and for scoring', async () => {
    expect(original.version).toBe(2);
    const path = join(root, 'version-1.intra');
    writeFileSync(path, write(original.records, { version: 1 }));
    for (const purpose of ['training', 'scoring'] as const) {
      const engine = await Engine.load(path, { threads: 1, purpose });
      expect(engine.metadata()).toEqual({ epoch: 1 });
      expect(engine.describe()).toMatchObject({ purpose, steps: 2, hasNormalStatistics: true });
      engine.dispose();
    }
    const damaged = write(original.records, { version: 1 });
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 100) ^ 1, damaged.length - 100);
    await refused('version-1-damaged', damaged, /its checksum does not match \(truncated or corrupted\)/);
  });

  it('loads a file from before non-square models (one imageSize for both sides)', async () => {
    const old = withRecord('config', (r) => ({ ...(r as Text), text: (r as Text).text.replace('imageHeight=64\nimageWidth=64\n', 'imageSize=64\n') }));
    expect((old.find((r) => r.name === 'config') as Text).text).toContain('imageSize=64\n');
    const path = join(root, 'square-era.intra');
    writeFileSync(path, write(old, { version: original.version }));
    const engine = await Engine.load(path, { threads: 1 });
    expect(engine.describe().model).toMatchObject({ imageHeight: 64, imageWidth: 64 });
    engine.dispose();
  });

  const head = 'param:head.weight';
  it.each([
    ['a tensor of 2^40 elements', () => withRecord(head, (r) => ({ ...(r as Tensor), sizes: [1n << 20n, 1n << 20n], bytes: 4n << 40n })), /tensor param:head.weight claims 4398046511104 bytes but the file has \d+ left/],
    ['sizes whose product overflows', () => withRecord(head, (r) => ({ ...(r as Tensor), sizes: [1n << 40n, 1n << 40n], bytes: 64n })), /claims 64 bytes for more elements than can exist/],
    ['a negative size', () => withRecord(head, (r) => ({ ...(r as Tensor), sizes: [-5n, 4n] })), /tensor param:head.weight has a negative size -5/],
    ['a byte count that does not match the sizes', () => withRecord(head, (r) => ({ ...(r as Tensor), bytes: (r as Tensor).bytes - 4n, data: (r as Tensor).data.subarray(4) })), /claims \d+ bytes for \d+ elements/],
    ['an unknown tensor type', () => withRecord(head, (r) => ({ ...(r as Tensor), dtype: 9 })), /unknown tensor type 9/],
    ['a config that does not match its weights (dim 1024)', () => configWith('dim', '1024'), /its config \(dim 1024, depth 2, image 64x64\) needs \d+ weights but the file holds \d+/],
    ['a config of absurd size (dim 2^20)', () => configWith('dim', String(1 << 20)), /Expected at most 65536 for dim but received 1048576/],
    ['a config field that is not a number', () => configWith('depth', 'many'), /config field 'depth' is not an integer/],
    ['best weights of another shape', () => withRecord(`best:${head.slice(6)}`, (r) => ({ ...(r as Tensor), sizes: [1n], bytes: 4n, data: Buffer.alloc(4) })), /best:head.weight has shape \[1\] \(Float\), expected \[\d+, \d+\]/],
    ['Adam moments of another shape', () => withRecord(`adam.exp_avg:${head.slice(6)}`, (r) => ({ ...(r as Tensor), sizes: [1n], bytes: 4n, data: Buffer.alloc(4) })), /adam.exp_avg:head.weight has shape \[1\]/],
    ['an empty tensor (no data at all)', () => withRecord('diff_mean', (r) => ({ ...(r as Tensor), sizes: [0n, 64n], bytes: 0n, data: Buffer.alloc(0) })), /diff_mean has shape \[0, 64\] \(Float\), expected \[64, 64\]/],
    ['a \'best\' record that names something else', () => [...original.records, { name: 'best', kind: 'text' as const, text: 'elsewhere' }], /its 'best' says 'elsewhere', expected 'weights'/],
    ['best weights and a \'best\' record saying they are the weights', () => [...original.records, { name: 'best', kind: 'text' as const, text: 'weights' }], /it has best weights for \S+ and says they are the weights/],
    ['a training mean map of another size', () => withRecord('diff_mean', (r) => ({ ...(r as Tensor), sizes: [2n, 2n], bytes: 16n, data: Buffer.alloc(16) })), /diff_mean has shape \[2, 2\] \(Float\), expected \[64, 64\]/],
    ['a step count that is not a number', () => withRecord('steps', (r) => ({ ...(r as Text), text: '1e999x' })), /'steps' is not a number \('1e999x'\)/],
    ['a learning rate that is not a number', () => withRecord('train', (r) => ({ ...(r as Text), text: (r as Text).text.replace(/^learningRate=.*$/m, 'learningRate=fast') })), /training config field 'learningRate' is not a number/],
    ['a sampler state that is not one', () => withRecord('generator', (r) => ({ ...(r as Tensor), sizes: [3n], bytes: 3n, data: Buffer.alloc(3) })), /its sampler state is not valid/],
  ])('refuses %s', async (name, records, message) => {
    expect(tensor(head)).toBeDefined();
    await refused(name.replace(/\W+/g, '-'), write(records(), { version: original.version }), message);
  });

  it.each([
    ['2^31 dimensions', { rank: 2 ** 31 }, /claims 2147483648 dimensions/],
    ['a name of 4 GiB', { nameLength: 2 ** 32 - 1 }, /it ends early \(truncated\?\)/],
    ['2^32 - 1 records', { count: 2 ** 32 - 1 }, /it ends early \(truncated\?\)/],
  ])('refuses a header claiming %s', async (name, options: { rank?: number; nameLength?: number; count?: number }, message) => {
    const records = options.rank ? original.records.filter((r) => r.kind === 'tensor').slice(0, 1) : original.records;
    await refused(name.replace(/\W+/g, '-'), write(records, { version: original.version, ...options }), message);
  });
});
