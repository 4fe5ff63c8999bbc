// Model files are input: files crafted with a valid checksum but absurd headers or a config
// that does not match their tensors must be refused with an error that names the file and
// the field, without allocating what the header claims.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { Engine } from '../lib/engine.js';
import { stripes } from './fixtures.js';

type Text = { name: string; kind: 'text'; text: string };
type Tensor = { name: string; kind: 'tensor'; dtype: number; sizes: bigint[]; bytes: bigint; data: Buffer };
type Record_ = Text | Tensor;

const MAGIC = Buffer.from('INTRACKP');

function fnv1a(bytes: Buffer): bigint {
  let hash = 1469598103934665603n;
  for (const b of bytes) hash = ((hash ^ BigInt(b)) * 1099511628211n) & 0xffffffffffffffffn;
  return hash;
}

// XXH64 as its specification writes it, independently of the engine's C++ (native/core/checkpoint.cpp).
const P1 = 0x9e3779b185ebca87n, P2 = 0xc2b2ae3d27d4eb4fn, P3 = 0x165667b19e3779f9n, P4 = 0x85ebca77c2b2ae63n, P5 = 0x27d4eb2f165667c5n;
const u64 = (x: bigint) => BigInt.asUintN(64, x);
const rotl = (x: bigint, r: bigint) => u64((x << r) | (x >> (64n - r)));
const mix = (lane: bigint, input: bigint) => u64(rotl(u64(lane + u64(input * P2)), 31n) * P1);
export function xxh64(bytes: Buffer, seed = 0n): bigint {
  let at = 0, hash: bigint;
  if (bytes.length >= 32) {
    let lanes = [u64(seed + P1 + P2), u64(seed + P2), seed, u64(seed - P1)];
    for (; bytes.length - at >= 32; at += 32) lanes = lanes.map((lane, i) => mix(lane, bytes.readBigUInt64LE(at + 8 * i)));
    hash = lanes.reduce((sum, lane, i) => u64(sum + rotl(lane, [1n, 7n, 12n, 18n][i]!)), 0n);
    for (const lane of lanes) hash = u64((hash ^ mix(0n, lane)) * P1 + P4);
  } else {
    hash = u64(seed + P5);
  }
  hash = u64(hash + BigInt(bytes.length));
  for (; bytes.length - at >= 8; at += 8) hash = u64(rotl(hash ^ mix(0n, bytes.readBigUInt64LE(at)), 27n) * P1 + P4);
  if (bytes.length - at >= 4) {
    hash = u64(rotl(hash ^ u64(BigInt(bytes.readUInt32LE(at)) * P1), 23n) * P2 + P3);
    at += 4;
  }
  for (; at < bytes.length; at++) hash = u64(rotl(hash ^ u64(BigInt(bytes.readUInt8(at)) * P5), 11n) * P1);
  hash ^= hash >> 33n;
  hash = u64(hash * P2);
  hash ^= hash >> 29n;
  hash = u64(hash * P3);
  return hash ^ (hash >> 32n);
}

function parse(file: Buffer): { version: number; records: Record_[] } {
  let at = 8;
  const u8 = () => file.readUInt8(at++);
  const u32 = () => ((at += 4), file.readUInt32LE(at - 4));
  const u64 = () => ((at += 8), file.readBigUInt64LE(at - 8));
  const i64 = () => ((at += 8), file.readBigInt64LE(at - 8));
  const take = (n: number) => ((at += n), file.subarray(at - n, at));
  const version = u32(), count = u32(), records: Record_[] = [];
  for (let i = 0; i < count; i++) {
    const name = take(u32()).toString('utf8');
    if (u8() === 0) {
      records.push({ name, kind: 'text', text: take(Number(u64())).toString('utf8') });
    } else {
      const dtype = u8(), rank = u32();
      const sizes = Array.from({ length: rank }, i64);
      const bytes = u64();
      records.push({ name, kind: 'tensor', dtype, sizes, bytes, data: Buffer.from(take(Number(bytes))) });
    }
    if (version >= 2) u64();  // the record's hash: the writer below computes it again
  }
  return { version, records };
}

/**
 * The format as the engine writes it (version 2: a hash per record and one over them; version 1:
 * FNV-1a over the whole); `count`, `rank` and name lengths can be forced, hashes stay valid.
 */
function write(records: Record_[], options: { version?: number; count?: number; rank?: number; nameLength?: number } = {}): Buffer {
  const version = options.version ?? 2;
  const u8 = (v: number) => Buffer.from([v]);
  const u32 = (v: number) => Buffer.from(new Uint32Array([v]).buffer);
  const u64 = (v: bigint) => Buffer.from(new BigUint64Array([v]).buffer);
  const i64 = (v: bigint) => Buffer.from(new BigInt64Array([v]).buffer);
  const header = Buffer.concat([MAGIC, u32(version), u32(options.count ?? records.length)]);
  const parts: Buffer[] = [header], recordHashes: Buffer[] = [];
  for (const r of records) {
    const name = Buffer.from(r.name);
    const head = [u32(options.nameLength ?? name.length), name];
    let data: Buffer;
    if (r.kind === 'text') {
      data = Buffer.from(r.text);
      head.push(u8(0), u64(BigInt(data.length)));
    } else {
      data = r.data;
      head.push(u8(1), u8(r.dtype), u32(options.rank ?? r.sizes.length), ...r.sizes.map(i64), u64(r.bytes));
    }
    const headBytes = Buffer.concat(head);
    parts.push(headBytes, data);
    if (version >= 2) {
      const hash = u64(xxh64(data, xxh64(headBytes)));
      parts.push(hash);
      recordHashes.push(hash);
    }
  }
  const body = Buffer.concat(parts);
  const sum = Buffer.alloc(8);
  sum.writeBigUInt64LE(version >= 2 ? xxh64(Buffer.concat([header, ...recordHashes])) : fnv1a(body));
  return Buffer.concat([body, sum]);
}

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
