// HandleTable: JS values the host holds by id, for values that do not convert (functions,
// promises, class instances, Maps...): Python gets a handle it can call, index, iterate or
// await, instead of an error.
//
// The table lives in isolate data slot kHandleTableSlot, so that conversion code finds it
// from the isolate alone. Keep/Get/Clear run under the isolate's lock; Release may come from
// any thread (a Python finaliser), so releases are queued and dropped at the next slice.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include <v8.h>

namespace pyruntime {

constexpr uint32_t kHandleTableSlot = 1;

class HandleTable {
 public:
  // At most this many handles are held at once: each keeps a JS value (and what it
  // references) alive outside the heap limit's reach for GC.
  static constexpr size_t kMaxHandles = 100000;

  // Returns 0 when the table is full.
  uint64_t Keep(v8::Isolate* isolate, v8::Local<v8::Value> value);
  // Empty for an unknown or released id.
  v8::MaybeLocal<v8::Value> Get(v8::Isolate* isolate, uint64_t id) const;
  void Release(uint64_t id);
  void DropReleased();
  void Clear();

  static HandleTable* Of(v8::Isolate* isolate) {
    return static_cast<HandleTable*>(isolate->GetData(kHandleTableSlot));
  }

 private:
  std::map<uint64_t, v8::Global<v8::Value>> values_;
  uint64_t next_id_ = 1;
  std::mutex released_mutex_;
  std::vector<uint64_t> released_;
};

}  // namespace pyruntime
