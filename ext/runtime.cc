#include "runtime.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <libplatform/libplatform.h>

#include "code_from_strings.h"
#include "js_util.h"
#include "native_bindings.h"
#include "regexp_sources.h"
#include "startup_snapshot.h"
#include "v8_platform.h"

namespace pyruntime {

namespace {

// The young generation an isolate starts with: two 256 KB semi-spaces and as much for new
// large objects (V8's default semi-space is 1 MB). A request's garbage dies young, so an
// isolate that serves requests soon touches both semi-spaces whole: at 1 MB that was about
// 1.3 MB more RSS per isolate in use. V8 grows them as survivors add up, to the maximum it
// derives from the memory limit after some thousands of requests: the saving is for the
// quiet isolates that make up most of a dense server.
constexpr size_t kInitialYoungGenerationBytes = 3 * 256 * 1024;

double MsBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The most of each of an error's name, message and stack the host keeps (Utf8Bounded): they
// go to logs and to Python exceptions, however long the thrown text.
constexpr int kErrorTextUnits = 8192;

std::string StringProperty(v8::Local<v8::Context> context, v8::Local<v8::Object> object, const char* key) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> value;
  if (!object->Get(context, NewString(isolate, key)).ToLocal(&value) || value->IsUndefined()) return {};
  return Utf8Bounded(isolate, value, kErrorTextUnits);
}

// The source line shown with a syntax error, cut to a window around the error's column:
// a minified bundle is one line of many kilobytes.
std::string SourceLineAround(v8::Isolate* isolate, v8::Local<v8::String> line, int column) {
  constexpr int kWindow = 80;
  const int length = line->Length();
  if (length <= 2 * kWindow) return Utf8(isolate, line);
  const int start = std::max(0, std::min(column - kWindow, length - 2 * kWindow));
  const int end = std::min(length, start + 2 * kWindow);
  return (start > 0 ? "..." : "") + Utf8OfUnits(isolate, line, start, end) + (end < length ? "..." : "");
}

// Name, message and stack of a thrown value. A syntax error's stack has no location,
// so the message's file, line and column are put in front.
void DescribeError(v8::Local<v8::Context> context, v8::Local<v8::Value> error, v8::Local<v8::Message> message,
                   Outcome* out) {
  v8::Isolate* isolate = context->GetIsolate();
  if (error->IsNativeError() || (error->IsObject() && !error->IsFunction())) {
    auto object = error.As<v8::Object>();
    out->error_name = StringProperty(context, object, "name");
    out->error_message = StringProperty(context, object, "message");
    out->error_stack = StringProperty(context, object, "stack");
  }
  if (out->error_name.empty()) out->error_name = "Error";
  if (out->error_message.empty() && out->error_stack.empty()) {
    v8::TryCatch try_catch(isolate);
    out->error_message = Utf8Bounded(isolate, error, kErrorTextUnits);
  }
  if (!message.IsEmpty()) {
    std::string location = Utf8(isolate, message->GetScriptResourceName()) + ":" +
                           std::to_string(message->GetLineNumber(context).FromMaybe(0)) + ":" +
                           std::to_string(message->GetStartColumn(context).FromMaybe(0) + 1);
    // Errors thrown at run time carry their frames in the stack; syntax errors do not.
    if (out->error_stack.find("\n    at ") == std::string::npos) {
      std::string source_line;
      v8::Local<v8::String> line;
      if (message->GetSourceLine(context).ToLocal(&line)) {
        source_line = SourceLineAround(isolate, line, message->GetStartColumn(context).FromMaybe(0));
      }
      std::string head = out->error_stack.empty() ? out->error_name + ": " + out->error_message : out->error_stack;
      out->error_stack = location + "\n" + source_line + "\n\n" + head;
    }
  }
  if (out->error_stack.empty()) out->error_stack = out->error_name + ": " + out->error_message;
}

}  // namespace

// Runs JS under the watchdog with what remains of the call's budgets; Stop() adds the
// time spent to the call and tells which limit fired.
class Runtime::Slice {
 public:
  explicit Slice(Runtime* runtime)
      : runtime_(runtime),
        wall_start_(Clock::now()),
        cpu_start_(runtime->series_cpu_ms_ >= 0 ? runtime->series_cpu_ms_ : Watchdog::ThreadCpuMs()) {
    const IsolateLimits& limits = runtime->limits_;
    double wall = limits.timeout_ms > 0 ? std::max(0.001, limits.timeout_ms - runtime->call_wall_ms_) : 0;
    // Background work for the isolate since the call's last slice is the call's too.
    background_start_ns_ = runtime->background_->CpuNs();
    double unbilled_ms = static_cast<double>(background_start_ns_ - runtime->background_billed_ns_.load()) / 1e6;
    double cpu = limits.cpu_limit_ms > 0 ? limits.cpu_limit_ms - runtime->call_cpu_ms_ - unbilled_ms : 0;
    // Spent before the slice began (by background work while the call waited): the slice
    // ends at the CPU limit even if it is over before the watch thread looks.
    spent_ = limits.cpu_limit_ms > 0 && cpu <= 0;
    if (spent_) cpu = 0.001;
    WatchdogVerdict wall_verdict = WatchdogVerdict::kTimeout;
    if (Clock::rep deadline = runtime->call_deadline_; deadline != kNoDeadline) {
      double left = std::max(0.001, MsBetween(wall_start_, Clock::time_point(Clock::duration(deadline))));
      if (wall <= 0 || left < wall) {
        wall = left;
        wall_verdict = WatchdogVerdict::kDeadline;
      }
    }
    runtime->guarded_.SliceStarted();
    runtime->watchdog_->Arm(wall, cpu, cpu_start_, background_start_ns_, wall_verdict);
  }
  ~Slice() { Stop(); }

  WatchdogVerdict Stop() {
    if (!stopped_) {
      stopped_ = true;
      verdict_ = runtime_->watchdog_->Disarm();
      if (spent_ && verdict_ == WatchdogVerdict::kNone) verdict_ = WatchdogVerdict::kCpu;
      runtime_->guarded_.SliceEnded();
      runtime_->call_wall_ms_ += MsBetween(wall_start_, Clock::now());
      double cpu_end = Watchdog::ThreadCpuMs();
      int64_t background_end_ns = runtime_->background_->CpuNs();
      runtime_->call_cpu_ms_ +=
          cpu_end - cpu_start_ + static_cast<double>(background_end_ns - runtime_->background_billed_ns_.load()) / 1e6;
      runtime_->background_billed_ns_ = background_end_ns;
      if (runtime_->series_cpu_ms_ >= 0) runtime_->series_cpu_ms_ = cpu_end;
    }
    return verdict_;
  }

 private:
  Runtime* runtime_;
  Clock::time_point wall_start_;
  double cpu_start_;
  int64_t background_start_ns_ = 0;
  bool spent_ = false;
  bool stopped_ = false;
  WatchdogVerdict verdict_ = WatchdogVerdict::kNone;
};

Runtime::Runtime(const IsolateLimits& limits) : limits_(limits), guarded_(limits.memory_limit_bytes) {
  v8::StartupData* snapshot = StartupSnapshot();
  memory_ = std::make_unique<LimitEnforcer>(limits.memory_limit_bytes, [this] { guarded_.StopRequested(); });
  v8::Isolate::CreateParams params;
  params.snapshot_blob = snapshot;
  params.external_references = ExternalReferences();
  params.array_buffer_allocator = memory_->allocator();
  params.constraints.ConfigureDefaultsFromHeapSize(0, limits.memory_limit_bytes);
  params.constraints.set_initial_young_generation_size_in_bytes(
      std::min(kInitialYoungGenerationBytes, params.constraints.max_young_generation_size_in_bytes()));
  isolate_ = v8::Isolate::Allocate();
  AttachBackgroundAccount(isolate_, &background_);  // before V8 may post work for it
  v8::Isolate::Initialize(isolate_, params);
  guarded_.Attach(isolate_);
  Install(isolate_, this);
  isolate_->SetData(kHandleTableSlot, &handles_);
  InstallFatalErrorHandlers(isolate_);
  loop_ = std::make_unique<EventLoop>(isolate_, memory_.get());
  console_ = std::make_unique<ConsoleBuffer>(memory_.get());
  memory_->Attach(isolate_);
  isolate_->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate_->SetPromiseRejectCallback(OnPromiseReject);
  isolate_->SetHostImportModuleDynamicallyCallback(ImportDynamically);
  // As on a browser's main thread: a blocking wait could outlast the CPU limit unnoticed.
  isolate_->SetAllowAtomicsWait(false);
  isolate_->SetCaptureStackTraceForUncaughtExceptions(true, 16);
  watchdog_ = std::make_unique<Watchdog>(isolate_, background_.get(), [this] { guarded_.StopRequested(); });
  start_ = Clock::now();
  time_origin_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
  try {
    Bootstrap();
  } catch (...) {
    Dispose();  // the destructor does not run for a constructor that throws
    throw;
  }
}

Runtime::~Runtime() { Dispose(); }

void Runtime::Bootstrap() {
  v8::Locker locker(isolate_);
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  v8::Local<v8::Context> context = v8::Context::New(isolate_);
  context_.Reset(isolate_, context);
  v8::Context::Scope context_scope(context);
  LimitCodeFromStrings(isolate_, context);
  v8::Local<v8::Object> native = context->GetDataFromSnapshotOnce<v8::Object>(kNativeSlot).ToLocalChecked();
  internal_.Reset(isolate_, context->GetDataFromSnapshotOnce<v8::Object>(kInternalSlot).ToLocalChecked());
  native->Set(context, NewString(isolate_, "timeOrigin"), v8::Number::New(isolate_, time_origin_ms_))
      .FromMaybe(false);
  v8::TryCatch try_catch(isolate_);
  v8::Local<v8::Value> keys = InternalFunction(context, "objectKeys");
  if (keys.IsEmpty()) throw std::runtime_error("the bootstrap has no internal.objectKeys");
  object_keys_.Reset(isolate_, keys.As<v8::Function>());
  v8::Local<v8::Value> install = InternalFunction(context, "installWebAssemblyLimits");
  if (install.IsEmpty() || install.As<v8::Function>()->Call(context, internal_.Get(isolate_), 0, nullptr).IsEmpty()) {
    Outcome error;
    DescribeError(context, try_catch.Exception(), try_catch.Message(), &error);
    throw std::runtime_error("installing WebAssembly limits failed: " + error.error_stack);
  }
}

void Runtime::Dispose() {
  if (isolate_ == nullptr) return;
  watchdog_.reset();
  {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    loop_->Reset();
    rejections_.clear();
    modules_.clear();
    workers_module_.Reset();
    module_scripts_.clear();
    handles_.Clear();
    awaited_.Reset();
    internal_functions_.clear();
    object_keys_.Reset();
    internal_.Reset();
    context_.Reset();
  }
  guarded_.Attach(nullptr);
  isolate_->Dispose();
  isolate_ = nullptr;
}

Outcome Runtime::ExitingOutcome() {
  Outcome out;
  out.status = Status::kTerminated;
  out.error_name = "Terminated";
  out.error_message = "the process is exiting";
  return out;
}

Outcome Runtime::ClosedOutcome() const {
  Outcome out;
  out.status = Status::kClosed;
  out.error_name = "IsolateClosed";
  out.error_message = memory_->exceeded() ? "the isolate was discarded after exceeding its memory limit"
                                       : "the isolate is closed";
  return out;
}

void Runtime::BeginCall() {
  isolate_->CancelTerminateExecution();
  in_call_ = true;
  // A Terminate() that came after the host began this call, before it reached the core.
  if (terminate_requested_) isolate_->TerminateExecution();
  call_wall_ms_ = 0;
  call_cpu_ms_ = 0;
  // What V8 spent for the isolate between calls is not this call's (see UnbilledBackgroundMs).
  background_billed_ns_ = background_->CpuNs();
  memory_->BeginCall();
  console_->BeginCall();
  awaited_.Reset();
  goal_ = Goal::kValue;
}

Outcome Runtime::RunSlice(std::optional<Goal> new_call, const SliceBody& body, bool fresh) {
  if (!alive()) return ClosedOutcome();
  if (ProcessExiting()) return ExitingOutcome();
  Outcome out;
  {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    out = RunLockedSlice(new_call, body, fresh);
  }
  if (memory_->exceeded()) Dispose();
  return out;
}

Outcome Runtime::RunLockedSlice(std::optional<Goal> new_call, const SliceBody& body, bool fresh) {
  v8::HandleScope handle_scope(isolate_);
  v8::Local<v8::Context> context = context_.Get(isolate_);
  v8::Context::Scope context_scope(context);
  if (new_call) {
    if (fresh) ResetLoop();
    BeginCall();
    goal_ = *new_call;
  }
  v8::TryCatch try_catch(isolate_);
  handles_.DropReleased();
  Slice slice(this);
  // Host operations completed since the last slice settle first, whatever this call is
  // (resolving may run a `then` getter: it runs under the watchdog).
  loop_->ApplyCompletions(context);
  return body(context, slice, try_catch);
}

v8::MaybeLocal<v8::Value> Runtime::CallFunction(v8::Local<v8::Context> context, v8::Local<v8::Value> function,
                                                v8::Local<v8::Value> receiver, const std::vector<HostValue>& args) {
  std::vector<v8::Local<v8::Value>> argv;
  for (const auto& arg : args) {
    v8::Local<v8::Value> value;
    if (!ToJs(context, arg).ToLocal(&value)) return {};
    argv.push_back(value);
  }
  return function.As<v8::Function>()->Call(context, receiver, static_cast<int>(argv.size()), argv.data());
}

Outcome Runtime::Eval(const std::string& source, const std::string& filename, bool use_result) {
  Goal goal = use_result ? Goal::kPromise : Goal::kValue;
  return RunSlice(goal, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::ScriptOrigin origin(isolate_, NewString(isolate_, filename));
    v8::Local<v8::Script> script;
    v8::MaybeLocal<v8::Value> result;
    if (RefuseManyPropertyEscapes(source)) return Finish(slice, try_catch, result);
    if (v8::Script::Compile(context, NewString(isolate_, source), &origin).ToLocal(&script)) {
      result = script->Run(context);
      if (!use_result && !result.IsEmpty()) result = v8::Undefined(isolate_);
    }
    return Finish(slice, try_catch, result);
  });
}

bool Runtime::RefuseManyPropertyEscapes(const std::string& source) {
  int count = CountPropertyEscapes(source);
  if (count <= kMaxPropertyEscapes) return false;
  ThrowSyntaxError(isolate_, TooManyPropertyEscapes(count));
  return true;
}

Outcome Runtime::Call(const std::string& function, const std::vector<HostValue>& args) {
  return RunSlice(Goal::kPromise, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    v8::Local<v8::Value> target;
    if (context->Global()->Get(context, NewString(isolate_, function)).ToLocal(&target)) {
      if (target->IsFunction()) {
        result = CallFunction(context, target, context->Global(), args);
      } else {
        ThrowTypeError(isolate_, function + " is not a function");
      }
    }
    return Finish(slice, try_catch, result);
  });
}

v8::Local<v8::Value> Runtime::InternalFunction(v8::Local<v8::Context> context, const std::string& name) {
  auto known = internal_functions_.find(name);
  if (known != internal_functions_.end()) return known->second.Get(isolate_);
  v8::Local<v8::Value> target;
  if (!internal_.Get(isolate_)->Get(context, NewString(isolate_, name)).ToLocal(&target) || !target->IsFunction()) {
    ThrowTypeError(isolate_, "the runtime has no internal function " + name);
    return {};
  }
  internal_functions_.emplace(name, v8::Global<v8::Function>(isolate_, target.As<v8::Function>()));
  return target;
}

Runtime::SliceBody Runtime::InternalCall(const std::string& function, const std::vector<HostValue>& args) {
  return [this, &function, &args](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    v8::Local<v8::Value> target = InternalFunction(context, function);
    if (!target.IsEmpty()) result = CallFunction(context, target, internal_.Get(isolate_), args);
    return Finish(slice, try_catch, result);
  };
}

Outcome Runtime::CallInternal(const std::string& function, const std::vector<HostValue>& args, bool fresh) {
  return RunSlice(Goal::kPromise, InternalCall(function, args), fresh);
}

std::vector<Outcome> Runtime::CallInternalSeries(const std::string& function,
                                                 const std::vector<std::vector<HostValue>>& calls,
                                                 const std::function<bool(const Outcome&)>& go_on) {
  std::vector<Outcome> outcomes;
  if (calls.empty()) return outcomes;
  if (!alive()) {
    outcomes.push_back(ClosedOutcome());
    return outcomes;
  }
  {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    // Each slice after the first starts from the clock's reading at the end of the one before.
    struct SeriesClock {
      Runtime* runtime;
      explicit SeriesClock(Runtime* r) : runtime(r) { runtime->series_cpu_ms_ = Watchdog::ThreadCpuMs(); }
      ~SeriesClock() { runtime->series_cpu_ms_ = -1; }
    } series_clock(this);
    for (const std::vector<HostValue>& args : calls) {
      if (ProcessExiting()) {
        outcomes.push_back(ExitingOutcome());
        break;
      }
      // The call before ended: a Terminate() that came for it, or its deadline, is not this one's.
      if (!outcomes.empty()) ClearTerminate();
      outcomes.push_back(RunLockedSlice(Goal::kPromise, InternalCall(function, args), true));
      if (memory_->exceeded() || !go_on(outcomes.back())) break;
    }
  }
  if (memory_->exceeded()) Dispose();
  return outcomes;
}

v8::MaybeLocal<v8::Value> Runtime::HandleValue(uint64_t id) {
  v8::Local<v8::Value> value;
  if (handles_.Get(isolate_, id).ToLocal(&value)) return value;
  isolate_->ThrowException(v8::Exception::ReferenceError(NewString(isolate_, "the JS value was released")));
  return {};
}

Outcome Runtime::CallHandle(uint64_t id, const std::vector<HostValue>& args) {
  return RunSlice(Goal::kPromise, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    v8::Local<v8::Value> target;
    if (HandleValue(id).ToLocal(&target)) {
      if (target->IsFunction()) {
        result = CallFunction(context, target, v8::Undefined(isolate_), args);
      } else {
        ThrowTypeError(isolate_, "the JS value is a " + JsTypeName(context, target) + ", not a function");
      }
    }
    return Finish(slice, try_catch, result);
  });
}

Outcome Runtime::GetHandleProperty(uint64_t id, const HostValue& key) {
  return RunSlice(Goal::kValue, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    v8::Local<v8::Value> target;
    v8::Local<v8::Value> name;
    if (HandleValue(id).ToLocal(&target) && ToJs(context, key).ToLocal(&name)) {
      if (target->IsObject()) {
        result = target.As<v8::Object>()->Get(context, name);
      } else {
        ThrowTypeError(isolate_, "the JS value has no properties");
      }
    }
    return Finish(slice, try_catch, result);
  });
}

Outcome Runtime::HandleKeys(uint64_t id) {
  return RunSlice(Goal::kValue, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    v8::Local<v8::Value> target;
    v8::Local<v8::Array> keys;
    if (HandleValue(id).ToLocal(&target)) {
      if (!target->IsObject()) {
        ThrowTypeError(isolate_, "the JS value has no properties");
      } else if (target.As<v8::Object>()
                     ->GetOwnPropertyNames(context, v8::ONLY_ENUMERABLE, v8::KeyConversionMode::kConvertToString)
                     .ToLocal(&keys)) {
        result = keys;
      }
    }
    return Finish(slice, try_catch, result);
  });
}

Outcome Runtime::AwaitHandle(uint64_t id) {
  return RunSlice(Goal::kPromise, [&](v8::Local<v8::Context>, Slice& slice, v8::TryCatch& try_catch) {
    return Finish(slice, try_catch, HandleValue(id));
  });
}

Outcome Runtime::RunLoop() {
  return RunSlice(Goal::kDrain, [&](v8::Local<v8::Context>, Slice& slice, v8::TryCatch&) { return Pump(slice); });
}

Outcome Runtime::Resume() {
  return RunSlice(std::nullopt, [&](v8::Local<v8::Context>, Slice& slice, v8::TryCatch&) { return Pump(slice); });
}

void Runtime::CancelCall() {
  if (!alive()) return;
  // A call that ended leaving nothing behind (most requests) needs no entry into the isolate:
  // the next call's BeginCall cancels a late termination and drops the settled promise.
  if (!in_call_ && loop_->Empty() && rejections_.empty()) return;
  v8::Locker locker(isolate_);
  v8::Isolate::Scope isolate_scope(isolate_);
  ResetLoop();
  isolate_->CancelTerminateExecution();
  in_call_ = false;
}

void Runtime::CompleteOp(uint64_t id, bool ok, HostValue value) {
  if (alive()) loop_->CompleteOp(id, ok, std::move(value));
}

void Runtime::ResetLoop() {
  awaited_.Reset();
  loop_->Reset();
  rejections_.clear();
  goal_ = Goal::kValue;
}

Outcome Runtime::Finish(Slice& slice, v8::TryCatch& try_catch, v8::MaybeLocal<v8::Value> maybe_result) {
  v8::Local<v8::Value> result;
  if (!maybe_result.ToLocal(&result)) return Conclude(slice, ErrorOutcome(try_catch));
  v8::Local<v8::Context> context = context_.Get(isolate_);
  if (goal_ == Goal::kPromise && result->IsPromise()) {
    awaited_.Reset(isolate_, result.As<v8::Promise>());
    return Pump(slice);
  }
  // Microtasks the call queued run before it returns, as when a script ends.
  isolate_->PerformMicrotaskCheckpoint();
  Outcome out;
  std::string error;
  if (!FromJs(context, result, &out.value, &error, [this] { return Terminating(); }, true,
              object_keys_.Get(isolate_))) {
    out.status = Status::kConversionError;
    out.error_name = "TypeError";
    out.error_message = error;
  }
  return Conclude(slice, std::move(out));
}

Outcome Runtime::Pump(Slice& slice) {
  v8::Local<v8::Context> context = context_.Get(isolate_);
  for (;;) {
    while (v8::platform::PumpMessageLoop(V8Platform(), isolate_)) {
    }
    isolate_->PerformMicrotaskCheckpoint();
    if (Terminating()) return Conclude(slice, Outcome{});
    ReportUnhandledRejections(context);
    if (goal_ == Goal::kPromise && !awaited_.IsEmpty() &&
        awaited_.Get(isolate_)->State() != v8::Promise::kPending) {
      break;
    }
    bool fired = loop_->FireDueTimers(
        context,
        [&](v8::TryCatch& try_catch) {
          Outcome error;
          DescribeError(context, try_catch.Exception(), try_catch.Message(), &error);
          Print("error", "Uncaught " + error.error_stack);
        },
        [this] { return Terminating(); });
    if (!fired) break;
    if (Terminating()) return Conclude(slice, Outcome{});
  }
  Outcome out;
  bool waiting = loop_->waiting();
  if (goal_ == Goal::kPromise && !awaited_.IsEmpty()) {
    v8::Local<v8::Promise> promise = awaited_.Get(isolate_);
    switch (promise->State()) {
      case v8::Promise::kFulfilled: {
        std::string error;
        if (!FromJs(context, promise->Result(), &out.value, &error, [this] { return Terminating(); }, true,
                    object_keys_.Get(isolate_))) {
          out.status = Status::kConversionError;
          out.error_name = "TypeError";
          out.error_message = error;
        }
        awaited_.Reset();
        break;
      }
      case v8::Promise::kRejected:
        out.status = Status::kJsError;
        DescribeError(context, promise->Result(), v8::Exception::CreateMessage(isolate_, promise->Result()), &out);
        awaited_.Reset();
        break;
      case v8::Promise::kPending:
        if (waiting) {
          out.status = Status::kPending;
        } else {
          out.status = Status::kUnsettled;
          out.error_name = "Error";
          out.error_message =
              "the promise can never settle: no timers or host operations are pending that could settle it";
          awaited_.Reset();
        }
        break;
    }
  } else if (waiting) {
    out.status = Status::kPending;
  }
  if (out.status == Status::kPending) out.next_timer_ms = loop_->NextTimerMs();
  return Conclude(slice, std::move(out));
}

Outcome Runtime::Conclude(Slice& slice, Outcome out) {
  memory_->CheckAfterSlice();
  bool terminated = Terminating();
  WatchdogVerdict verdict = slice.Stop();
  if (memory_->exceeded()) {
    out = Outcome{};
    out.status = Status::kMemoryLimit;
    out.error_name = "MemoryLimitExceeded";
    out.error_message = "the isolate exceeded its memory limit of " +
                        std::to_string(limits_.memory_limit_bytes / (1024 * 1024)) + " MB";
  } else if (terminate_requested_) {
    terminate_requested_ = false;  // consumed by this call
    out = Outcome{};
    out.status = Status::kTerminated;
    out.error_name = "Terminated";
    out.error_message = "the call was terminated by the host";
  } else if (terminated && ProcessExiting()) {
    out = ExitingOutcome();
  } else if (verdict == WatchdogVerdict::kDeadline) {
    out = Outcome{};
    out.status = Status::kDeadline;
    out.error_name = "TimeLimitExceeded";
    out.error_message = "the call did not finish within its total time limit";
  } else if (verdict != WatchdogVerdict::kNone || terminated) {
    bool cpu = verdict == WatchdogVerdict::kCpu;
    out = Outcome{};
    out.status = cpu ? Status::kCpuLimit : Status::kTimeout;
    out.error_name = "TimeLimitExceeded";
    out.error_message = cpu ? "the script exceeded its CPU time limit" : "the script exceeded its time limit";
  }
  if (out.status == Status::kMemoryLimit || out.status == Status::kTimeout || out.status == Status::kCpuLimit ||
      out.status == Status::kTerminated || out.status == Status::kDeadline) {
    isolate_->CancelTerminateExecution();
    ResetLoop();
  }
  if (out.status != Status::kPending) {
    goal_ = Goal::kValue;
    in_call_ = false;
  }
  out.wall_ms = call_wall_ms_;
  out.cpu_ms = call_cpu_ms_;
  out.unhandled_rejections = unhandled_rejections_;
  unhandled_rejections_ = 0;
  // Handed to the host: no longer the isolate's to count.
  out.ops = loop_->TakeNewOps();
  out.console = console_->Take();
  return out;
}

Outcome Runtime::ErrorOutcome(v8::TryCatch& try_catch) {
  Outcome out;
  if (!try_catch.HasCaught() || try_catch.HasTerminated()) return out;  // Conclude reports termination
  out.status = Status::kJsError;
  DescribeError(context_.Get(isolate_), try_catch.Exception(), try_catch.Message(), &out);
  return out;
}

bool Runtime::Terminating() {
  return memory_->exceeded() || terminate_requested_ || watchdog_->fired() || isolate_->IsExecutionTerminating();
}

void Runtime::Terminate() {
  terminate_requested_ = true;
  if (!in_call_) return;  // BeginCall applies it
  if (isolate_ != nullptr) isolate_->TerminateExecution();
  guarded_.StopRequested();
}

void Runtime::SetCallDeadline(double ms) {
  // A year stands for "later than any call": a longer duration could overflow the clock.
  constexpr double kYearMs = 365.0 * 24 * 3600 * 1000;
  double bounded = std::clamp(ms, 0.0, kYearMs);
  Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(bounded));
  call_deadline_ = deadline.time_since_epoch().count();
}

void Runtime::OnPromiseReject(v8::PromiseRejectMessage message) {
  v8::Local<v8::Promise> promise = message.GetPromise();
  v8::Isolate* isolate = promise->GetIsolate();
  auto* runtime = Runtime::Of(isolate);
  if (message.GetEvent() == v8::kPromiseRejectWithNoHandler) {
    runtime->rejections_.emplace_back(v8::Global<v8::Promise>(isolate, promise),
                                      v8::Global<v8::Value>(isolate, message.GetValue()));
  } else if (message.GetEvent() == v8::kPromiseHandlerAddedAfterReject) {
    auto& list = runtime->rejections_;
    list.erase(std::remove_if(list.begin(), list.end(), [&](const auto& entry) { return entry.first == promise; }),
               list.end());
  }
}

void Runtime::ReportUnhandledRejections(v8::Local<v8::Context> context) {
  if (rejections_.empty()) return;
  auto rejections = std::move(rejections_);
  rejections_.clear();
  for (auto& [promise_handle, reason_handle] : rejections) {
    v8::Local<v8::Promise> promise = promise_handle.Get(isolate_);
    if (!awaited_.IsEmpty() && awaited_ == promise) continue;
    v8::Local<v8::Value> reason = reason_handle.Get(isolate_);
    v8::TryCatch try_catch(isolate_);
    v8::Local<v8::Value> report;
    bool reported = internal_.Get(isolate_)
                        ->Get(context, NewString(isolate_, "reportUnhandledRejection"))
                        .ToLocal(&report) &&
                    report->IsFunction();
    v8::Local<v8::Value> handled;
    if (reported) {
      v8::Local<v8::Value> args[] = {promise, reason};
      reported = report.As<v8::Function>()->Call(context, internal_.Get(isolate_), 2, args).ToLocal(&handled);
    }
    if (Terminating()) return;
    if (!reported) {
      Outcome error;
      DescribeError(context, reason, v8::Local<v8::Message>(), &error);
      Print("error", "Uncaught (in promise) " + error.error_stack);
    }
    // Handled means an `unhandledrejection` listener called preventDefault().
    if (!reported || !handled->IsTrue()) ++unhandled_rejections_;
  }
}

HeapStats Runtime::Stats() {
  HeapStats out;
  if (!alive()) return out;
  v8::Locker locker(isolate_);
  v8::HeapStatistics stats;
  isolate_->GetHeapStatistics(&stats);
  out.used_heap_size = stats.used_heap_size();
  out.total_heap_size = stats.total_heap_size();
  out.heap_size_limit = stats.heap_size_limit();
  out.external_memory = stats.external_memory();
  out.malloced_memory = stats.malloced_memory();
  out.array_buffer_bytes = memory_->allocator()->used_bytes();
  out.memory_limit = limits_.memory_limit_bytes;
  return out;
}

void Runtime::ReduceMemory() {
  if (!alive() || ProcessExiting()) return;
  v8::Locker locker(isolate_);
  v8::Isolate::Scope isolate_scope(isolate_);
  isolate_->LowMemoryNotification();
}

double Runtime::NowMs() const { return MsBetween(start_, Clock::now()); }

}  // namespace pyruntime
