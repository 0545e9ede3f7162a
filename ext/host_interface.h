// What the natives (native_bindings.cc and its sibling files) may ask of the isolate that
// runs them: console, timers, host operations, time and the memory budget. The Runtime
// implements it; natives never see the Runtime itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <v8.h>

#include "host_value.h"

namespace pyruntime {

class HostInterface {
 public:
  // Console output one call may produce; past it, lines are dropped and one line says so.
  // Natives drop a longer string before copying it out of the heap.
  static constexpr size_t kMaxConsoleBytes = 1u << 20;

  // The host of the isolate running the current native; null while the startup snapshot is
  // built (bootstrap files must not need one at load time).
  static HostInterface* Of(v8::Isolate* isolate) {
    return static_cast<HostInterface*>(isolate->GetData(kIsolateSlot));
  }

  virtual void Print(std::string level, std::string text) = 0;
  virtual void DropConsoleLine() = 0;
  // Each returns -1 / empty with a RangeError thrown in the isolate when a cap is reached.
  virtual int64_t StartTimer(v8::Local<v8::Function> callback, double delay_ms, bool repeat) = 0;
  virtual void ClearTimer(int64_t id) = 0;
  virtual v8::MaybeLocal<v8::Promise> StartHostOp(v8::Local<v8::Context> context, std::string name,
                                                  HostValue payload) = 0;
  // Milliseconds since the isolate's time origin (monotonic).
  virtual double NowMs() const = 0;
  virtual size_t MemoryLimit() const = 0;
  // Bytes of the memory limit not used by the heap, off-heap memory or host-held bytes.
  virtual size_t MemoryAvailable() = 0;
  // True once the call in progress is being stopped: long native work polls it between
  // steps (interruptible.h), since TerminateExecution is seen only when JS runs again.
  virtual bool StopRequested() = 0;

 protected:
  ~HostInterface() = default;
  static void Install(v8::Isolate* isolate, HostInterface* host) { isolate->SetData(kIsolateSlot, host); }

 private:
  static constexpr uint32_t kIsolateSlot = 0;
};

}  // namespace pyruntime
