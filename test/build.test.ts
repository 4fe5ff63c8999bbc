import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

/** An ELF file's sections by name (64-bit, little-endian: the host's objects and CUDA's cubins). */
function elfSections(elf: Buffer): Map<string, Buffer> {
  const shoff = Number(elf.readBigUInt64LE(0x28)), size = elf.readUInt16LE(0x3a), count = elf.readUInt16LE(0x3c), names = elf.readUInt16LE(0x3e);
  const header = (i: number) => ({ name: elf.readUInt32LE(shoff + i * size), offset: Number(elf.readBigUInt64LE(shoff + i * size + 24)), size: Number(elf.readBigUInt64LE(shoff + i * size + 32)) });
  const table = header(names);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const h = header(i);
    const start = table.offset + h.name;
    out.set(elf.toString('latin1', start, elf.indexOf(0, start)), elf.subarray(h.offset, h.offset + h.size));
  }
  return out;
}

/** The entries of a CUDA fat binary: machine code (an ELF per sm_XX) and PTX (per compute_XX, zstd-compressed by CUDA 13). */
function fatbinEntries(fatbin: Buffer): { kind: 'elf' | 'ptx'; arch: number; payload: Buffer }[] {
  const entries: { kind: 'elf' | 'ptx'; arch: number; payload: Buffer }[] = [];
  for (let at = 0; at < fatbin.length;) {
    expect(fatbin.readUInt32LE(at), 'fatbin magic').toBe(0xba55ed50);
    const end = at + fatbin.readUInt16LE(at + 6) + Number(fatbin.readBigUInt64LE(at + 8));
    for (let p = at + fatbin.readUInt16LE(at + 6); p < end;) {
      const kind = fatbin.readUInt16LE(p), headerSize = fatbin.readUInt32LE(p + 4), size = Number(fatbin.readBigUInt64LE(p + 8));
      let payload = fatbin.subarray(p + headerSize, p + headerSize + size);
      if (payload.readUInt32LE(0) === 0xfd2fb528) {
        // the compressed bytes (the payload is padded to 8), then zstd's frame
        payload = execFileSync('zstd', ['-dc'], { input: payload.subarray(0, fatbin.readUInt32LE(p + 16)), maxBuffer: 1 << 28 });
      }
      entries.push({ kind: kind === 2 ? 'elf' : 'ptx', arch: fatbin.readUInt32LE(p + 28), payload });
      p += headerSize + size;
    }
    at = end;
  }
  return entries;
}

/** A CMake source list of CMakeLists.txt, by its variable's name. */
function cmakeSources(list: string): string[] {
  const block = new RegExp(`set\\(${list}([\\s\\S]*?)\\)`).exec(readFileSync('CMakeLists.txt', 'utf8'))?.[1] ?? '';
  return block.split(/\s+/).filter((s) => /\.(cpp|cu)$/.test(s));
}

describe('build manifests', () => {
  it('binding.gyp lists the same sources as CMakeLists.txt', () => {
    const sources = cmakeSources('INTRA_SOURCES');
    const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8')) as { targets: { sources: string[] }[] };
    expect(sources.length).toBeGreaterThan(5);
    // The addon's target and the per-instruction-set kernel libraries it depends on.
    const gypSources = gyp.targets.flatMap((t) => t.sources);
    expect([...gypSources].sort()).toEqual([...sources].sort());
  });

  it('compiles the CUDA kernels wherever nvcc is, so CI catches CUDA compile errors without a GPU', () => {
    let nvcc = '';
    try {
      nvcc = execFileSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).trim();
    } catch {
      console.warn('build.test: nvcc is not on this machine; the CUDA kernels are not compiled here');
    }
    const cache = readFileSync('build/CMakeCache.txt', 'utf8');
    if (nvcc) {
      expect(cache).toMatch(/CMAKE_CUDA_COMPILER:\w*=.*nvcc/);
      expect(existsSync('build/libintra_cuda_kernels.a'), 'the CUDA kernel library').toBe(true);
      // Every family with CUDA kernels has them built for the GPU and for the emulation alike.
      const emulated = cmakeSources('INTRA_SOURCES').filter((f) => f.endsWith('/fused_cuda_emulated.cpp'));
      expect(emulated.length).toBeGreaterThan(0);
      expect(cmakeSources('INTRA_CUDA_KERNEL_SOURCES').sort()).toEqual(emulated.map((f) => f.replace('fused_cuda_emulated.cpp', 'fused_cuda.cu')).sort());
    } else {
      expect(existsSync('build/libintra_cuda_kernels.a')).toBe(false);
    }
  });

  it('the CUDA build and the emulated build of the kernel source share no symbol (one definition each)', (context) => {
    // Both compile native/kernels/*/fused_cuda.cuh; under one mangled name the linker kept one
    // definition for both, and a GPU build's launches ran the CPU emulation on device pointers.
    const defined = (file: string) =>
      new Set(execFileSync('nm', ['--defined-only', '-C', file], { encoding: 'utf8' }).split('\n')
        .map((line) => line.replace(/^\S*\s+\S\s+/, ''))
        .filter((name) => name.includes('intra::kernels::device')));
    if (!existsSync('build/libintra_cuda_kernels.a')) context.skip('no CUDA kernel library in this build (nvcc missing): nothing to compare');
    const cudaSymbols = defined('build/libintra_cuda_kernels.a');
    expect(cudaSymbols.size).toBeGreaterThan(10);
    for (const source of cmakeSources('INTRA_SOURCES').filter((f) => f.endsWith('/fused_cuda_emulated.cpp'))) {
      const emulated = defined(`build/CMakeFiles/intra_engine.dir/${source}.o`);
      expect(emulated.size).toBeGreaterThan(5);
      expect([...emulated].filter((name) => cudaSymbols.has(name))).toEqual([]);
    }
  });

  it('has the tensor-core window kernels\' bodies in the code of every architecture that can run them', (context) => {
    const object = 'build/CMakeFiles/intra_cuda_kernels.dir/native/kernels/attention/fused_cuda.cu.o';
    if (!existsSync(object)) context.skip('no CUDA kernel library in this build (nvcc missing)');
    const wanted = /^INTRA_CUDA_ARCHITECTURES:STRING=(.*)$/m.exec(readFileSync('build/CMakeCache.txt', 'utf8'))![1]!.split(';');
    const real = wanted.filter((a) => !a.endsWith('-virtual')).map((a) => Number.parseInt(a, 10));
    const virtual = wanted.filter((a) => !a.endsWith('-real')).map((a) => Number.parseInt(a, 10));
    const entries = fatbinEntries(elfSections(readFileSync(object)).get('.nv_fatbin')!);
    expect(entries.filter((e) => e.kind === 'elf').map((e) => e.arch).sort()).toEqual([...real].sort());
    expect(entries.filter((e) => e.kind === 'ptx').map((e) => e.arch).sort()).toEqual([...virtual].sort());
    // 2 element types x 3 width instances, forward and backward
    const isWindowKernel = (name: string) => /window_mma\d+(forward|backward)Kernel/.test(name);
    for (const entry of entries.filter((e) => e.kind === 'elf')) {
      const kernels = [...elfSections(entry.payload)].filter(([name]) => name.startsWith('.text.') && isWindowKernel(name));
      expect(kernels, `sm_${entry.arch}`).toHaveLength(12);
      for (const [name, section] of kernels) {
        // A body is thousands of bytes of machine code; below sm_80 a few instructions (the trap).
        if (entry.arch >= 80) expect(section.length, `sm_${entry.arch} ${name}`).toBeGreaterThan(4096);
        else expect(section.length, `sm_${entry.arch} ${name}`).toBeLessThan(512);
      }
    }
    for (const entry of entries.filter((e) => e.kind === 'ptx')) {
      const ptx = entry.payload.toString('utf8');
      const bodies = ptx.split(/\.entry /).slice(1).filter((body) => isWindowKernel(body.slice(0, body.indexOf('('))));
      expect(bodies, `compute_${entry.arch}`).toHaveLength(12);
      for (const body of bodies) expect(body, `compute_${entry.arch}`).toMatch(entry.arch >= 80 ? /\bmma\./ : /\btrap;/);
    }
  });

  // The model-file fuzzer (scripts/dev/fuzz-checkpoint.sh): a CMake target of its own Clang
  // build, seeded with model files the built package writes.
  it('builds the model-file fuzzer as a CMake target, and its seeding imports what the package exports', async (context) => {
    const script = readFileSync('scripts/dev/fuzz-checkpoint.sh', 'utf8');
    expect(readFileSync('CMakeLists.txt', 'utf8')).toMatch(/add_executable\(intra-fuzz-checkpoint /);
    expect(script).toContain('-DINTRA_FUZZ=ON');
    expect(script).toContain('--target intra-fuzz-checkpoint');
    const imports = [...script.matchAll(/import \{ (\w+) \} from '\.\/(dist\/lib\/[\w/-]+\.js)'/g)];
    expect(imports.length).toBeGreaterThan(0);
    for (const [, name, module] of imports) {
      expect(Object.keys(await import(`../${module!}`)), `${module} exports ${name}`).toContain(name);
    }
    const clang = spawnSync('clang++-14', ['--version']);
    if (clang.status !== 0) {
      context.skip('clang++-14 is not installed (scripts/dev/fuzz-checkpoint.sh installs it)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'intra-fuzz-'));
    execFileSync('cmake', ['-S', '.', '-B', dir, '-G', 'Ninja', '-DCMAKE_CXX_COMPILER=clang++-14', '-DINTRA_FUZZ=ON'], { stdio: 'pipe' });
    execFileSync('cmake', ['--build', dir, '--target', 'intra-fuzz-checkpoint'], { stdio: 'pipe' });
    // A few hundred runs on an empty corpus: it starts, reads inputs and ends without a finding.
    const run = spawnSync(join(dir, 'intra-fuzz-checkpoint'), ['-runs=300', `-artifact_prefix=${dir}/`], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    expect(run.stderr).toMatch(/Done 300 runs/);
  }, 180_000);

  it('npm never runs node-gyp on install', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { gypfile?: boolean; scripts: Record<string, string> };
    expect(manifest.gypfile).toBe(false);
    expect(manifest.scripts.install).toBeUndefined();
  });
});

describe('the README commands', () => {
  it('`npm run intra` runs the built CLI entry, which the package also exposes as its bin', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    const script = manifest.scripts.intra ?? '';
    const entry = /^node (\S+)$/.exec(script)?.[1];
    expect(entry).toBe(manifest.bin.intra);
    expect(existsSync(entry!), `${entry} is built by setup.sh (npm run build)`).toBe(true);
    expect(readFileSync('README.md', 'utf8')).toMatch(/\.\/setup\.sh && npm run intra -- demo/);
  });
});
