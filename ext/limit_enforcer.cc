#include "limit_enforcer.h"

namespace pyruntime {

LimitEnforcer::LimitEnforcer(size_t limit_bytes, std::function<void()> on_exceeded)
    : limit_bytes_(limit_bytes),
      allocator_(std::make_unique<CountingAllocator>(limit_bytes)),
      on_exceeded_(std::move(on_exceeded)) {}

void LimitEnforcer::Attach(v8::Isolate* isolate) {
  isolate_ = isolate;
  allocator_->SetIsolate(isolate);
  isolate->AddNearHeapLimitCallback(NearHeapLimit, this);
}

size_t LimitEnforcer::NearHeapLimit(void* data, size_t current_limit, size_t) {
  auto* enforcer = static_cast<LimitEnforcer*>(data);
  enforcer->exceeded_ = true;
  enforcer->isolate_->TerminateExecution();
  enforcer->on_exceeded_();
  if (enforcer->headroom_granted_) return current_limit;
  enforcer->headroom_granted_ = true;
  return current_limit + kHeapHeadroom;
}

size_t LimitEnforcer::Available() {
  v8::HeapStatistics stats;
  isolate_->GetHeapStatistics(&stats);
  size_t used = stats.used_heap_size() + stats.external_memory() + allocator_->host_bytes();
  return used >= limit_bytes_ ? 0 : limit_bytes_ - used;
}

bool LimitEnforcer::CheckAfterSlice() {
  if (exceeded()) return true;
  // Cheap first: external memory that the counting allocator did not hand out is wasm memory.
  int64_t external = isolate_->AdjustAmountOfExternalAllocatedMemory(0);
  if (external > static_cast<int64_t>(allocator_->used_bytes()) && Available() == 0) exceeded_ = true;
  return exceeded();
}

bool LimitEnforcer::Hold(size_t bytes) {
  if (bytes > Available()) return false;
  allocator_->AddHostBytes(bytes);
  return true;
}

size_t HostValueBytes(const HostValue& value) {
  size_t bytes = sizeof(HostValue) + value.text.size() + value.words.size() * sizeof(uint64_t);
  for (const HostValue& item : value.items) bytes += HostValueBytes(item);
  for (const auto& [key, item] : value.entries) bytes += key.size() + HostValueBytes(item);
  return bytes;
}

}  // namespace pyruntime
