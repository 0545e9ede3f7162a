#include "counting_allocator.h"

#include <cstdlib>

namespace pyruntime {

namespace {
// Below this size, checking the heap on every allocation costs more than it protects.
constexpr size_t kHeapCheckThreshold = 64 * 1024;
}  // namespace

bool CountingAllocator::Reserve(size_t length) {
  size_t heap_used = 0;
  if (isolate_ != nullptr && length >= kHeapCheckThreshold) {
    v8::HeapStatistics stats;
    isolate_->GetHeapStatistics(&stats);
    heap_used = stats.used_heap_size();
  }
  heap_used += host_bytes();
  size_t used = used_bytes_.load(std::memory_order_relaxed);
  do {
    if (length > limit_bytes_ || used + length + heap_used > limit_bytes_) {
      refused_.store(true, std::memory_order_relaxed);
      return false;
    }
  } while (!used_bytes_.compare_exchange_weak(used, used + length, std::memory_order_relaxed));
  return true;
}

void* CountingAllocator::Allocate(size_t length) {
  if (!Reserve(length)) return nullptr;
  void* data = std::calloc(length == 0 ? 1 : length, 1);
  if (data == nullptr) used_bytes_.fetch_sub(length, std::memory_order_relaxed);
  return data;
}

void* CountingAllocator::AllocateUninitialized(size_t length) {
  if (!Reserve(length)) return nullptr;
  void* data = std::malloc(length == 0 ? 1 : length);
  if (data == nullptr) used_bytes_.fetch_sub(length, std::memory_order_relaxed);
  return data;
}

void CountingAllocator::Free(void* data, size_t length) {
  std::free(data);
  used_bytes_.fetch_sub(length, std::memory_order_relaxed);
}

}  // namespace pyruntime
