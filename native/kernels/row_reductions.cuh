// What the CUDA row kernels of several families share, as device-generic source (nvcc and the
// CPU emulation): a row per warp (device_code.h's warpSum reduces across it), and sums over
// rows per column (a bias's or a norm's parameter gradients) in two deterministic launches:
// partial sums per chunk of rows, then their sum per column in a fixed order.
#pragma once
#include "dispatch_types.h"

namespace intra::kernels::device::INTRA_DEVICE_BUILD::rows {

constexpr unsigned kWarp = 32;
// A block of 8 warps, a row per warp at a time (the emulation, whose threads are CPU threads
// contending for two cores, takes 2: still more than one).
#if defined(__CUDACC__)
constexpr unsigned kRowThreads = 256;
#else
constexpr unsigned kRowThreads = 64;
#endif
constexpr unsigned kWarpsPerBlock = kRowThreads / kWarp;
// Columns per block of the column sums.
constexpr unsigned kColumnThreads = 256;
// At most this many chunks of rows: the partials stay small whatever the row count (the
// emulation, whose blocks run one after another, takes a few: still more than one).
#if defined(__CUDACC__)
constexpr int64_t kMaxChunks = 2048;
#else
constexpr int64_t kMaxChunks = 4;
#endif

// The row this warp works on first and the stride to its next, and the warp's lane.
struct RowWalk {
  int64_t first, stride;
  unsigned lane;
};
INTRA_DEVICE RowWalk rowWalk() {
  return {static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp,
          static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp), static_cast<unsigned>(threadIdx.x % kWarp)};
}

inline unsigned rowBlocks(int64_t rows) { return blocksFor(rows, kWarpsPerBlock); }

// Rows per chunk of the column sums: 64, more when there are many rows.
inline int64_t chunkRows(int64_t rows) {
  const int64_t perChunk = (rows + kMaxChunks - 1) / kMaxChunks;
  return perChunk > 64 ? perChunk : 64;
}
inline int64_t chunksOf(int64_t rows) {
  const int64_t each = chunkRows(rows);
  return rows == 0 ? 0 : (rows + each - 1) / each;
}
// Scratch elements (accumulation type) the column sums of `terms` sums per column need.
inline int64_t columnScratchElements(int64_t rows, int64_t width, int terms) { return chunksOf(rows) * terms * width; }

// partials (chunks, Terms::kTerms, width): terms(r, c, sums) adds element (r, c)'s share to
// each of its kTerms sums; a thread per column, a block row per chunk.
template <typename A, typename Terms>
INTRA_KERNEL void columnPartialsKernel(Terms terms, int64_t rows, int64_t width, int64_t perChunk, A* partials) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x, chunk = blockIdx.y;
  if (c >= width) return;
  A sums[Terms::kTerms];
  for (int t = 0; t < Terms::kTerms; ++t) sums[t] = A(0);
  const int64_t begin = chunk * perChunk, end = begin + perChunk < rows ? begin + perChunk : rows;
  for (int64_t r = begin; r < end; ++r) terms(r, c, sums);
  for (int t = 0; t < Terms::kTerms; ++t) partials[(chunk * Terms::kTerms + t) * width + c] = sums[t];
}

// out (entries) = the sum over chunks of partials (chunks, entries), chunk by chunk in order.
template <typename A>
INTRA_KERNEL void sumChunksKernel(const A* partials, int64_t chunks, int64_t entries, A* out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < entries;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    A sum = A(0);
    for (int64_t k = 0; k < chunks; ++k) sum += partials[k * entries + i];
    out[i] = sum;
  }
}

// Column sums of Terms over (rows, width) into out (Terms::kTerms, width), through `scratch`
// (columnScratchElements of them).
template <typename A, typename Terms>
void columnSums(const Terms& terms, int64_t rows, int64_t width, A* scratch, A* out, void* stream) {
  const int64_t chunks = chunksOf(rows), entries = Terms::kTerms * width;
  if (chunks == 0) {
    INTRA_LAUNCH((sumChunksKernel<A>), dim3(blocksFor(entries, kColumnThreads)), dim3(kColumnThreads), 0, stream,
                 static_cast<const A*>(scratch), int64_t(0), entries, out);
    return;
  }
  const dim3 grid(static_cast<unsigned>((width + kColumnThreads - 1) / kColumnThreads), static_cast<unsigned>(chunks));
  INTRA_LAUNCH((columnPartialsKernel<A, Terms>), grid, dim3(kColumnThreads), 0, stream, terms, rows, width,
               chunkRows(rows), scratch);
  INTRA_LAUNCH((sumChunksKernel<A>), dim3(blocksFor(entries, kColumnThreads)), dim3(kColumnThreads), 0, stream,
               static_cast<const A*>(scratch), chunks, entries, out);
}

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::rows
