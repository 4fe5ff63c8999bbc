import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

describe('build manifests', () => {
  it('binding.gyp lists the same sources as CMakeLists.txt', () => {
    const cmake = readFileSync('CMakeLists.txt', 'utf8');
    const block = /set\(INTRA_SOURCES([\s\S]*?)\)/.exec(cmake)?.[1] ?? '';
    const cmakeSources = block.split(/\s+/).filter((s) => s.endsWith('.cpp'));
    const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8')) as { targets: { sources: string[] }[] };
    expect(cmakeSources.length).toBeGreaterThan(5);
    // The addon's target and the per-instruction-set kernel libraries it depends on.
    const gypSources = gyp.targets.flatMap((t) => t.sources);
    expect([...gypSources].sort()).toEqual([...cmakeSources].sort());
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
      const cmake = readFileSync('CMakeLists.txt', 'utf8');
      const cu = /set\(INTRA_CUDA_KERNEL_SOURCES([\s\S]*?)\)/.exec(cmake)?.[1]?.split(/\s+/).filter((f) => f.endsWith('.cu')) ?? [];
      expect(cu.sort()).toEqual(['native/kernels/attention/fused_cuda.cu', 'native/kernels/filters/fused_cuda.cu']);
    } else {
      expect(existsSync('build/libintra_cuda_kernels.a')).toBe(false);
    }
  });

  it('the CUDA build and the emulated build of the kernel source share no symbol (one definition each)', () => {
    // Both compile native/kernels/*/fused_cuda.cuh; under one mangled name the linker kept one
    // definition for both, and a GPU build's launches ran the CPU emulation on device pointers.
    const defined = (file: string) =>
      new Set(execFileSync('nm', ['--defined-only', '-C', file], { encoding: 'utf8' }).split('\n')
        .map((line) => line.replace(/^\S*\s+\S\s+/, ''))
        .filter((name) => name.includes('intra::kernels::device')));
    if (!existsSync('build/libintra_cuda_kernels.a')) {
      console.warn('build.test: no CUDA kernel library in this build (nvcc missing); nothing to compare');
      return;
    }
    const cudaSymbols = defined('build/libintra_cuda_kernels.a');
    expect(cudaSymbols.size).toBeGreaterThan(10);
    for (const family of ['attention', 'filters']) {
      const emulated = defined(`build/CMakeFiles/intra_engine.dir/native/kernels/${family}/fused_cuda_emulated.cpp.o`);
      expect(emulated.size).toBeGreaterThan(5);
      expect([...emulated].filter((name) => cudaSymbols.has(name))).toEqual([]);
    }
  });

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
