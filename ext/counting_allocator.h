// ArrayBuffer memory lives outside the V8 heap, so the heap limit alone does not
// bound it: this allocator refuses allocations past the isolate's memory budget, which
// it shares with the V8 heap and with the bytes the host holds for the isolate.
#pragma once

#include <atomic>
#include <cstddef>

#include <v8.h>

namespace pyruntime {

class CountingAllocator final : public v8::ArrayBuffer::Allocator {
 public:
  explicit CountingAllocator(size_t limit_bytes) : limit_bytes_(limit_bytes) {}

  // Lets large allocations also count the V8 heap in use, so heap + buffers stay
  // within one budget. Null until the isolate exists.
  void SetIsolate(v8::Isolate* isolate) { isolate_ = isolate; }

  void* Allocate(size_t length) override;
  void* AllocateUninitialized(size_t length) override;
  void Free(void* data, size_t length) override;

  size_t used_bytes() const { return used_bytes_.load(std::memory_order_relaxed); }
  // Bytes the host holds for the isolate (console output, operation payloads).
  size_t host_bytes() const { return host_bytes_.load(std::memory_order_relaxed); }
  void AddHostBytes(size_t bytes) { host_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  void ReleaseHostBytes(size_t bytes) { host_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }
  // True once an allocation was refused; reset by the caller.
  bool refused() const { return refused_.load(std::memory_order_relaxed); }
  void ClearRefused() { refused_.store(false, std::memory_order_relaxed); }

 private:
  bool Reserve(size_t length);

  const size_t limit_bytes_;
  std::atomic<size_t> used_bytes_{0};
  std::atomic<size_t> host_bytes_{0};
  std::atomic<bool> refused_{false};
  v8::Isolate* isolate_ = nullptr;
};

}  // namespace pyruntime
