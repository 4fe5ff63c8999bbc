// Counts the bytes of CPU tensors alive and their peak, by wrapping libtorch's CPU
// allocator (installed once, when the addon loads), and keeps large freed blocks for
// reuse. Benchmarks read the peak of one run.
#pragma once
#include <cstdint>

namespace intra {

void installCachingCountingAllocator();
void resetPeakBytes();   // the peak becomes the bytes alive now
int64_t peakBytes();     // since the last reset
int64_t liveBytes();
bool cachingCountingAllocatorInstalled();
// Gives the cached free blocks back to the system: after a one-off burst (a model file's
// tensors, copied into the model's own) that would otherwise stay held for good.
void releaseCachedBlocks();

}  // namespace intra
