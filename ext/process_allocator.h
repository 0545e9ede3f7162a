// The process's malloc policy for the large, short-lived buffers that calls convert.
//
// glibc gives each allocation above its mmap threshold pages of its own and unmaps them on
// free. The threshold starts at 128 KiB and rises only when a larger mapped block is freed
// (a block of exactly the threshold's size is mapped again). So whether converting a 1 MB
// string faulted in fresh pages on every call depended on what the process had freed before:
// 740 page faults per call, or 260, at several µs a fault on these machines.
#pragma once

namespace pyruntime {

// Blocks up to 4 MiB come from malloc's heaps and are reused; up to 8 MiB free at a heap's
// top is kept rather than returned. Once per process, before the first isolate, unless the
// process's environment sets malloc's thresholds itself (GLIBC_TUNABLES, MALLOC_*_).
void ConfigureProcessAllocator();

}  // namespace pyruntime
