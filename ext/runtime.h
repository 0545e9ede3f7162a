// Runtime: one V8 isolate with its context, limits, event loop and host operations.
//
// Every public method locks the isolate (v8::Locker), so a Runtime may be driven from
// any thread, one call at a time. None of them touch Python: the Cython binding calls
// them with the GIL released.
//
// A *call* (Eval, Call, CallInternal, EvaluateModule, BindWorkerModule, RunLoop) runs JS in
// *slices*. Each slice runs under the watchdog with what remains of the call's wall-clock
// and CPU budgets. When the call waits for a promise that timers or host operations may
// still settle, it returns kPending: the caller waits (off the isolate, no budget spent),
// then calls Continue() for the next slice. I/O stays on the caller's side.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <v8.h>

#include "counting_allocator.h"
#include "handles.h"
#include "host_value.h"
#include "isolate_limits.h"
#include "watchdog.h"

namespace pyruntime {

enum class Status {
  kOk,
  kJsError,          // uncaught exception or rejection: error_* fields
  kTimeout,          // wall-clock limit of JS execution
  kCpuLimit,         // CPU-time limit
  kMemoryLimit,      // heap limit; the isolate is disposed
  kUnsettled,        // awaited promise can never settle
  kPending,          // waiting on timers or host operations: call Continue()
  kClosed,           // the runtime was disposed
  kConversionError,  // the result cannot become a host value
  kTerminated,       // stopped by Terminate()
};

struct ConsoleLine {
  std::string level;
  std::string text;
};

struct HostOp {
  uint64_t id = 0;
  std::string name;
  HostValue payload;
};

struct Outcome {
  Status status = Status::kOk;
  HostValue value;
  std::string error_name;
  std::string error_message;
  std::string error_stack;
  double wall_ms = 0;         // JS time of the whole call so far (waits excluded)
  double cpu_ms = 0;
  double next_timer_ms = -1;  // kPending: until the next timer is due; -1 if none
  std::vector<HostOp> ops;    // host operations started since the last return
  int unhandled_rejections = 0;  // rejections no handler or listener took, since the last return
  std::vector<ConsoleLine> console;
};

struct ModuleLink {
  std::string referrer;
  std::string specifier;
  std::string resolved;
};

struct HeapStats {
  size_t used_heap_size = 0;
  size_t total_heap_size = 0;
  size_t heap_size_limit = 0;
  size_t external_memory = 0;
  size_t array_buffer_bytes = 0;
  size_t malloced_memory = 0;
  size_t memory_limit = 0;
};

class Runtime {
 public:
  explicit Runtime(const IsolateLimits& limits);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs a classic script. With `use_result`, its completion value is the call's result
  // (awaited if a promise); without, it is discarded, as when a file runs as a program.
  Outcome Eval(const std::string& source, const std::string& filename, bool use_result = true);
  Outcome Call(const std::string& function, const std::vector<HostValue>& args);
  // Calls a function the bootstrap put on its private `internal` object.
  Outcome CallInternal(const std::string& function, const std::vector<HostValue>& args);
  // Compiles a module; the value lists its import specifiers in order.
  Outcome CompileModule(const std::string& name, const std::string& source);
  // Links (with every import resolved by the caller) and evaluates a compiled module.
  Outcome EvaluateModule(const std::string& name, const std::vector<ModuleLink>& links);
  // Hands an evaluated module's namespace to internal.setWorkerModule.
  Outcome BindWorkerModule(const std::string& name);
  // Runs timers until none are left (like a script's process lifetime).
  Outcome RunLoop();
  // Handles (handles.h): values a result held by id. Calls a function handle (awaiting a
  // promise result, as Call does); reads one property (never awaited); lists own enumerable
  // string keys; awaits a promise handle. ReleaseHandle is safe from any thread.
  Outcome CallHandle(uint64_t id, const std::vector<HostValue>& args);
  Outcome GetHandleProperty(uint64_t id, const HostValue& key);
  Outcome HandleKeys(uint64_t id);
  Outcome AwaitHandle(uint64_t id);
  void ReleaseHandle(uint64_t id) { handles_.Release(id); }
  // Next slice of a call that returned kPending.
  Outcome Continue();
  // Drops what a pending call waits for (the caller gave up on it), and its timers.
  void CancelCall();
  // Completes a host operation; `value` is its result, or the error message if !ok.
  // Applied at the start of the next slice. Safe from any thread, even while JS runs.
  void CompleteOp(uint64_t id, bool ok, HostValue value);

  // Stops the call in progress from any thread: its JS is terminated and it returns
  // kTerminated. Does nothing while no call runs.
  void Terminate();

  HeapStats Stats();
  bool alive() const { return isolate_ != nullptr; }
  void Dispose();

  // Used by the native bindings. These hold host memory outside the V8 heap, so each is
  // capped: console output per return to the host, pending timers, pending host operations.
  static constexpr size_t kMaxConsoleBytes = 8u << 20;
  static constexpr size_t kMaxTimers = 100000;
  static constexpr size_t kMaxHostOps = 1000;
  void Print(std::string level, std::string text);
  void DropConsoleLine() { ++console_dropped_; }
  // Returns -1 when kMaxTimers are pending.
  int64_t StartTimer(v8::Local<v8::Function> callback, double delay_ms, bool repeat);
  void ClearTimer(int64_t id);
  // Returns empty when kMaxHostOps are pending.
  v8::MaybeLocal<v8::Promise> StartHostOp(v8::Local<v8::Context> context, std::string name, HostValue payload);
  double NowMs() const;
  double TimeOriginMs() const { return time_origin_ms_; }
  size_t memory_limit_bytes() const { return limits_.memory_limit_bytes; }
  // Bytes of the memory limit not yet used by the heap or off-heap memory.
  size_t MemoryAvailable();
  // True once the call in progress is being stopped: long native work polls it between
  // steps (ext/interruptible.h), since TerminateExecution is seen only when JS runs again.
  bool StopRequested() { return Terminating(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Timer {
    int64_t id;
    Clock::time_point due;
    double interval_ms;
    bool repeat;
    v8::Global<v8::Function> callback;
  };
  struct Completion {
    uint64_t id;
    bool ok;
    HostValue value;
  };
  enum class Goal { kValue, kPromise, kDrain };
  class Slice;

  // Enters the snapshot's context and finds the bootstrap's private objects.
  void Bootstrap();
  void BeginCall();
  // Enters the isolate and runs `body(context, slice, try_catch)` as one slice: the start of
  // a new call with `new_call` as its goal, or (nullopt) the next slice of the current one.
  // Disposes the isolate afterwards if the memory limit was hit.
  template <typename Body>
  Outcome RunSlice(std::optional<Goal> new_call, Body body);
  v8::MaybeLocal<v8::Value> CallFunction(v8::Local<v8::Context> context, v8::Local<v8::Value> function,
                                         v8::Local<v8::Value> receiver, const std::vector<HostValue>& args);
  Outcome Finish(Slice& slice, v8::TryCatch& try_catch, v8::MaybeLocal<v8::Value> result);
  Outcome Pump(Slice& slice);
  Outcome Settle(Slice& slice, Outcome outcome);
  bool FireDueTimers();
  // True once the watchdog or the heap limit stopped JS. V8's own IsExecutionTerminating()
  // turns false as soon as no JS frame is left, which is too early for the event loop.
  bool Terminating();
  // WebAssembly memories bypass the ArrayBuffer allocator: after each slice, heap plus
  // off-heap memory is checked against the limit, and an isolate past it is discarded.
  bool OverMemoryLimit();
  void ApplyCompletions(v8::Local<v8::Context> context);
  void ReportUnhandledRejections(v8::Local<v8::Context> context);
  void ResetLoop();
  Outcome ErrorOutcome(v8::TryCatch& try_catch);
  Outcome ClosedOutcome() const;
  v8::Local<v8::Value> InternalFunction(v8::Local<v8::Context> context, const std::string& name);
  // The value of handle `id`; throws a ReferenceError (and returns empty) if it was released.
  v8::MaybeLocal<v8::Value> HandleValue(uint64_t id);

  static size_t NearHeapLimit(void* data, size_t current_limit, size_t initial_limit);
  static void OnPromiseReject(v8::PromiseRejectMessage message);
  static v8::MaybeLocal<v8::Promise> ImportDynamically(v8::Local<v8::Context> context,
                                                      v8::Local<v8::Data> host_defined_options,
                                                      v8::Local<v8::Value> resource_name,
                                                      v8::Local<v8::String> specifier,
                                                      v8::Local<v8::FixedArray> import_assertions);
  static v8::MaybeLocal<v8::Module> ResolveModule(v8::Local<v8::Context> context,
                                                  v8::Local<v8::String> specifier,
                                                  v8::Local<v8::FixedArray> import_assertions,
                                                  v8::Local<v8::Module> referrer);

  IsolateLimits limits_;
  std::unique_ptr<CountingAllocator> allocator_;
  v8::Isolate* isolate_ = nullptr;
  std::unique_ptr<Watchdog> watchdog_;
  v8::Global<v8::Context> context_;
  v8::Global<v8::Object> internal_;
  Clock::time_point start_;
  double time_origin_ms_ = 0;
  bool memory_exceeded_ = false;
  std::atomic<bool> in_call_{false};
  std::atomic<bool> terminate_requested_{false};

  // The call in progress.
  Goal goal_ = Goal::kValue;
  v8::Global<v8::Promise> awaited_;
  double call_wall_ms_ = 0;
  double call_cpu_ms_ = 0;

  // Event loop.
  int64_t next_timer_id_ = 1;
  std::map<int64_t, Timer> timers_;
  uint64_t next_op_id_ = 1;
  std::map<uint64_t, v8::Global<v8::Promise::Resolver>> ops_;
  std::vector<HostOp> new_ops_;
  std::mutex completions_mutex_;  // completions arrive from any thread
  std::vector<Completion> completions_;
  std::vector<std::pair<v8::Global<v8::Promise>, v8::Global<v8::Value>>> rejections_;
  std::vector<ConsoleLine> console_;
  size_t console_bytes_ = 0;
  int unhandled_rejections_ = 0;
  size_t console_dropped_ = 0;

  HandleTable handles_;

  // Modules by name, and the caller's resolution of each (referrer, specifier).
  std::map<std::string, v8::Global<v8::Module>> modules_;
  std::map<std::pair<std::string, std::string>, std::string> links_;
};

}  // namespace pyruntime
