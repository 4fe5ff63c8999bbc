// The model file's format written and read independently of the engine's C++
// (native/core/checkpoint.cpp): for tests that craft files, damaged or from older versions.
export type Text = { name: string; kind: 'text'; text: string };
export type Tensor = { name: string; kind: 'tensor'; dtype: number; sizes: bigint[]; bytes: bigint; data: Buffer };
export type Record_ = Text | Tensor;

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

export function parse(file: Buffer): { version: number; records: Record_[] } {
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
export function write(records: Record_[], options: { version?: number; count?: number; rank?: number; nameLength?: number } = {}): Buffer {
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

