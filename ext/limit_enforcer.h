// The memory side of an isolate's limits. One budget (IsolateLimits::memory_limit_bytes)
// covers the V8 heap, ArrayBuffers (through the counting allocator), WebAssembly memories
// and the bytes the host holds for the isolate: console output not yet handed over and
// host-operation payloads in either direction.
//
// Heap: when V8 nears the limit, the isolate is terminated and marked for disposal, and V8
// gets kHeapHeadroom once per call to reach that termination instead of its fatal OOM
// path. A builtin that keeps allocating without seeing the termination (nothing in JS can
// stop it) is not given more: V8 then dies on its OOM path, which process_guard.h turns
// into one JSON log line and a distinctive exit code.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

#include <v8.h>

#include "counting_allocator.h"
#include "host_value.h"

namespace pyruntime {

class LimitEnforcer {
 public:
  // The architecture notes measured 256 MB of headroom enough for seven out-of-memory
  // patterns under a 64 MB limit, 16 MB not; the OOM catalogue in tests/test_limits.py
  // terminates cleanly with this value. Two isolates using it at once still fit in the
  // process allowance (process_guard.h).
  static constexpr size_t kHeapHeadroom = size_t{128} << 20;

  // `on_exceeded` runs (on the isolate's thread) when the heap limit is reached.
  LimitEnforcer(size_t limit_bytes, std::function<void()> on_exceeded);
  LimitEnforcer(const LimitEnforcer&) = delete;
  LimitEnforcer& operator=(const LimitEnforcer&) = delete;

  CountingAllocator* allocator() { return allocator_.get(); }
  // Watches `isolate`'s heap from now on (call once, right after the isolate exists).
  void Attach(v8::Isolate* isolate);
  // A new call may be granted headroom again (its isolate had none granted, or it would
  // have been discarded).
  void BeginCall() { headroom_granted_ = false; }

  size_t limit_bytes() const { return limit_bytes_; }
  // Bytes of the limit not used by the heap, off-heap memory or host-held bytes.
  size_t Available();
  // True once the isolate went past its limit: it is being terminated and must be discarded.
  bool exceeded() const { return exceeded_.load(std::memory_order_relaxed); }
  // WebAssembly memory grown from inside wasm bypasses every allocator: checked after each slice.
  bool CheckAfterSlice();

  // Host-held bytes (console lines, operation payloads) count against the budget while held.
  // Hold refuses (false) when they do not fit.
  bool Hold(size_t bytes);
  void HoldUnchecked(size_t bytes) { allocator_->AddHostBytes(bytes); }
  void Release(size_t bytes) { allocator_->ReleaseHostBytes(bytes); }

 private:
  static size_t NearHeapLimit(void* data, size_t current_limit, size_t initial_limit);

  const size_t limit_bytes_;
  std::unique_ptr<CountingAllocator> allocator_;
  v8::Isolate* isolate_ = nullptr;
  const std::function<void()> on_exceeded_;
  std::atomic<bool> exceeded_{false};
  bool headroom_granted_ = false;
};

// What a host value holds in host memory, approximately (payload bytes plus one node each).
size_t HostValueBytes(const HostValue& value);

}  // namespace pyruntime
