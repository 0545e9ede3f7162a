#include "handles.h"

namespace pyruntime {

uint64_t HandleTable::Keep(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  DropReleased();
  if (values_.size() >= kMaxHandles) return 0;
  uint64_t id = next_id_++;
  values_.emplace(id, v8::Global<v8::Value>(isolate, value));
  return id;
}

v8::MaybeLocal<v8::Value> HandleTable::Get(v8::Isolate* isolate, uint64_t id) const {
  auto found = values_.find(id);
  if (found == values_.end()) return {};
  return found->second.Get(isolate);
}

void HandleTable::Release(uint64_t id) {
  std::lock_guard<std::mutex> guard(released_mutex_);
  released_.push_back(id);
}

void HandleTable::DropReleased() {
  std::vector<uint64_t> released;
  {
    std::lock_guard<std::mutex> guard(released_mutex_);
    released.swap(released_);
  }
  for (uint64_t id : released) values_.erase(id);
}

void HandleTable::Clear() {
  values_.clear();
  std::lock_guard<std::mutex> guard(released_mutex_);
  released_.clear();
}

}  // namespace pyruntime
