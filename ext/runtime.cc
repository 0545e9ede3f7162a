#include "runtime.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <libplatform/libplatform.h>

#include "js_util.h"
#include "native_bindings.h"
#include "startup_snapshot.h"
#include "v8_platform.h"

namespace pyruntime {

namespace {

// Heap headroom granted when V8 nears the limit, so that it can finish the operation
// in progress (a Map rehash or a big JSON.stringify needs far more than a few MB) and
// reach the termination we request, instead of taking its fatal OOM path.
constexpr size_t kHeapHeadroom = size_t{1} << 30;

double MsBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string StringProperty(v8::Local<v8::Context> context, v8::Local<v8::Object> object, const char* key) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> value;
  if (!object->Get(context, NewString(isolate, key)).ToLocal(&value) || value->IsUndefined()) return {};
  return Utf8(isolate, value);
}

// The source line shown with a syntax error, cut to a window around the error's column:
// a minified bundle is one line of many kilobytes.
std::string SourceLineAround(v8::Isolate* isolate, v8::Local<v8::String> line, int column) {
  constexpr int kWindow = 80;
  const int length = line->Length();
  if (length <= 2 * kWindow) return Utf8(isolate, line);
  const int start = std::max(0, std::min(column - kWindow, length - 2 * kWindow));
  const int end = std::min(length, start + 2 * kWindow);
  v8::String::Value units(isolate, line);
  v8::Local<v8::String> window;
  if (!v8::String::NewFromTwoByte(isolate, *units + start, v8::NewStringType::kNormal, end - start).ToLocal(&window)) {
    return std::string();
  }
  return (start > 0 ? "..." : "") + Utf8(isolate, window) + (end < length ? "..." : "");
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
    out->error_message = Utf8(isolate, error);
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
      : runtime_(runtime), wall_start_(Clock::now()), cpu_start_(Watchdog::ThreadCpuMs()) {
    const IsolateLimits& limits = runtime->limits_;
    double wall = limits.timeout_ms > 0 ? std::max(0.001, limits.timeout_ms - runtime->call_wall_ms_) : 0;
    double cpu = limits.cpu_limit_ms > 0 ? std::max(0.001, limits.cpu_limit_ms - runtime->call_cpu_ms_) : 0;
    runtime->watchdog_->Arm(wall, cpu);
  }
  ~Slice() { Stop(); }

  WatchdogVerdict Stop() {
    if (!stopped_) {
      stopped_ = true;
      verdict_ = runtime_->watchdog_->Disarm();
      runtime_->call_wall_ms_ += MsBetween(wall_start_, Clock::now());
      runtime_->call_cpu_ms_ += Watchdog::ThreadCpuMs() - cpu_start_;
    }
    return verdict_;
  }

 private:
  Runtime* runtime_;
  Clock::time_point wall_start_;
  double cpu_start_;
  bool stopped_ = false;
  WatchdogVerdict verdict_ = WatchdogVerdict::kNone;
};

// Enters the isolate and its context for the lifetime of a public method.
#define PYRUNTIME_ENTER()                              \
  v8::Locker locker(isolate_);                         \
  v8::Isolate::Scope isolate_scope(isolate_);          \
  v8::HandleScope handle_scope(isolate_);              \
  v8::Local<v8::Context> context = context_.Get(isolate_); \
  v8::Context::Scope context_scope(context)

Runtime::Runtime(const IsolateLimits& limits) : limits_(limits) {
  v8::StartupData* snapshot = StartupSnapshot();
  allocator_ = std::make_unique<CountingAllocator>(limits.memory_limit_bytes);
  v8::Isolate::CreateParams params;
  params.snapshot_blob = snapshot;
  params.external_references = ExternalReferences();
  params.array_buffer_allocator = allocator_.get();
  params.constraints.ConfigureDefaultsFromHeapSize(0, limits.memory_limit_bytes);
  isolate_ = v8::Isolate::New(params);
  isolate_->SetData(0, this);
  isolate_->SetData(kHandleTableSlot, &handles_);
  allocator_->SetIsolate(isolate_);
  isolate_->AddNearHeapLimitCallback(NearHeapLimit, this);
  isolate_->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate_->SetPromiseRejectCallback(OnPromiseReject);
  isolate_->SetHostImportModuleDynamicallyCallback(ImportDynamically);
  // As on a browser's main thread: a blocking wait could outlast the CPU limit unnoticed.
  isolate_->SetAllowAtomicsWait(false);
  isolate_->SetCaptureStackTraceForUncaughtExceptions(true, 16);
  watchdog_ = std::make_unique<Watchdog>(isolate_);
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
  v8::Local<v8::Object> native = context->GetDataFromSnapshotOnce<v8::Object>(kNativeSlot).ToLocalChecked();
  internal_.Reset(isolate_, context->GetDataFromSnapshotOnce<v8::Object>(kInternalSlot).ToLocalChecked());
  native->Set(context, NewString(isolate_, "timeOrigin"), v8::Number::New(isolate_, time_origin_ms_))
      .FromMaybe(false);
  v8::TryCatch try_catch(isolate_);
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
    timers_.clear();
    ops_.clear();
    rejections_.clear();
    modules_.clear();
    handles_.Clear();
    awaited_.Reset();
    internal_.Reset();
    context_.Reset();
  }
  isolate_->Dispose();
  isolate_ = nullptr;
}

Outcome Runtime::ClosedOutcome() const {
  Outcome out;
  out.status = Status::kClosed;
  out.error_name = "IsolateClosed";
  out.error_message = memory_exceeded_ ? "the isolate was discarded after exceeding its memory limit"
                                       : "the isolate is closed";
  return out;
}

void Runtime::BeginCall() {
  // A Terminate() that raced with the end of the previous call must not hit this one.
  terminate_requested_ = false;
  isolate_->CancelTerminateExecution();
  in_call_ = true;
  call_wall_ms_ = 0;
  call_cpu_ms_ = 0;
  awaited_.Reset();
  goal_ = Goal::kValue;
}

template <typename Body>
Outcome Runtime::RunSlice(std::optional<Goal> new_call, Body body) {
  if (!alive()) return ClosedOutcome();
  Outcome out;
  {
    PYRUNTIME_ENTER();
    if (new_call) {
      BeginCall();
      goal_ = *new_call;
    }
    v8::TryCatch try_catch(isolate_);
    handles_.DropReleased();
    Slice slice(this);
    // Host operations completed since the last slice settle first, whatever this call is
    // (resolving may run a `then` getter: it runs under the watchdog).
    ApplyCompletions(context);
    out = body(context, slice, try_catch);
  }
  if (memory_exceeded_) Dispose();
  return out;
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
    if (v8::Script::Compile(context, NewString(isolate_, source), &origin).ToLocal(&script)) {
      result = script->Run(context);
      if (!use_result && !result.IsEmpty()) result = v8::Undefined(isolate_);
    }
    return Finish(slice, try_catch, result);
  });
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
  v8::Local<v8::Value> target;
  if (!internal_.Get(isolate_)->Get(context, NewString(isolate_, name)).ToLocal(&target) || !target->IsFunction()) {
    ThrowTypeError(isolate_, "the runtime has no internal function " + name);
    return {};
  }
  return target;
}

Outcome Runtime::CallInternal(const std::string& function, const std::vector<HostValue>& args) {
  return RunSlice(Goal::kPromise, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    v8::Local<v8::Value> target = InternalFunction(context, function);
    if (!target.IsEmpty()) result = CallFunction(context, target, internal_.Get(isolate_), args);
    return Finish(slice, try_catch, result);
  });
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

Outcome Runtime::CompileModule(const std::string& name, const std::string& source) {
  return RunSlice(Goal::kValue, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::ScriptOrigin origin(isolate_, NewString(isolate_, name), 0, 0, false, -1, v8::Local<v8::Value>(), false,
                            false, true);
    v8::ScriptCompiler::Source module_source(NewString(isolate_, source), origin);
    v8::Local<v8::Module> module;
    if (!v8::ScriptCompiler::CompileModule(isolate_, &module_source).ToLocal(&module)) {
      return Settle(slice, ErrorOutcome(try_catch));
    }
    modules_[name].Reset(isolate_, module);
    Outcome out;
    out.value.kind = HostValue::Kind::kList;
    v8::Local<v8::FixedArray> requests = module->GetModuleRequests();
    for (int i = 0; i < requests->Length(); ++i) {
      auto request = requests->Get(context, i).As<v8::ModuleRequest>();
      out.value.items.push_back(HostValue::String(Utf8(isolate_, request->GetSpecifier())));
    }
    return Settle(slice, std::move(out));
  });
}

v8::MaybeLocal<v8::Module> Runtime::ResolveModule(v8::Local<v8::Context> context, v8::Local<v8::String> specifier,
                                                  v8::Local<v8::FixedArray>, v8::Local<v8::Module> referrer) {
  v8::Isolate* isolate = context->GetIsolate();
  auto* runtime = static_cast<Runtime*>(isolate->GetData(0));
  std::string referrer_name;
  for (const auto& [name, module] : runtime->modules_) {
    if (module == referrer) {
      referrer_name = name;
      break;
    }
  }
  std::string wanted = Utf8(isolate, specifier);
  auto link = runtime->links_.find({referrer_name, wanted});
  if (link != runtime->links_.end()) {
    auto module = runtime->modules_.find(link->second);
    if (module != runtime->modules_.end()) return module->second.Get(isolate);
  }
  ThrowTypeError(isolate, "cannot resolve module '" + wanted + "' imported from " + referrer_name);
  return {};
}

// Modules are read by the host before any code runs, so import() has nothing to load
// later; it rejects with an error that says what to do instead.
v8::MaybeLocal<v8::Promise> Runtime::ImportDynamically(v8::Local<v8::Context> context, v8::Local<v8::Data>,
                                                       v8::Local<v8::Value>, v8::Local<v8::String> specifier,
                                                       v8::Local<v8::FixedArray>) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
  std::string message = "import('" + Utf8(isolate, specifier) +
                        "') is not supported: use a static import of a file in the app's folder";
  resolver->Reject(context, v8::Exception::TypeError(NewString(isolate, message))).FromMaybe(false);
  return resolver->GetPromise();
}

Outcome Runtime::EvaluateModule(const std::string& name, const std::vector<ModuleLink>& links) {
  for (const auto& link : links) links_[{link.referrer, link.specifier}] = link.resolved;
  return RunSlice(Goal::kPromise, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    auto found = modules_.find(name);
    if (found == modules_.end()) {
      ThrowTypeError(isolate_, "no compiled module named " + name);
    } else {
      v8::Local<v8::Module> module = found->second.Get(isolate_);
      if (module->InstantiateModule(context, ResolveModule).FromMaybe(false)) result = module->Evaluate(context);
    }
    Outcome out = Finish(slice, try_catch, result);
    if (out.status == Status::kOk) out.value = HostValue::Undefined();
    return out;
  });
}

Outcome Runtime::BindWorkerModule(const std::string& name) {
  return RunSlice(Goal::kValue, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::MaybeLocal<v8::Value> result;
    auto found = modules_.find(name);
    v8::Local<v8::Value> target = InternalFunction(context, "setWorkerModule");
    if (found == modules_.end()) {
      ThrowTypeError(isolate_, "no compiled module named " + name);
    } else if (!target.IsEmpty()) {
      v8::Local<v8::Value> args[] = {found->second.Get(isolate_)->GetModuleNamespace()};
      result = target.As<v8::Function>()->Call(context, internal_.Get(isolate_), 1, args);
    }
    return Finish(slice, try_catch, result);
  });
}

Outcome Runtime::RunLoop() {
  return RunSlice(Goal::kDrain, [&](v8::Local<v8::Context>, Slice& slice, v8::TryCatch&) { return Pump(slice); });
}

Outcome Runtime::Continue() {
  return RunSlice(std::nullopt, [&](v8::Local<v8::Context>, Slice& slice, v8::TryCatch&) { return Pump(slice); });
}

void Runtime::CancelCall() {
  if (!alive()) return;
  v8::Locker locker(isolate_);
  v8::Isolate::Scope isolate_scope(isolate_);
  ResetLoop();
  isolate_->CancelTerminateExecution();
  in_call_ = false;
}

void Runtime::ResetLoop() {
  awaited_.Reset();
  timers_.clear();
  ops_.clear();
  new_ops_.clear();
  {
    std::lock_guard<std::mutex> guard(completions_mutex_);
    completions_.clear();
  }
  rejections_.clear();
  goal_ = Goal::kValue;
}

void Runtime::CompleteOp(uint64_t id, bool ok, HostValue value) {
  if (!alive()) return;
  // Never the v8::Locker: a thread completing an operation must not wait on a busy isolate.
  std::lock_guard<std::mutex> guard(completions_mutex_);
  completions_.push_back(Completion{id, ok, std::move(value)});
}

Outcome Runtime::Finish(Slice& slice, v8::TryCatch& try_catch, v8::MaybeLocal<v8::Value> maybe_result) {
  v8::Local<v8::Value> result;
  if (!maybe_result.ToLocal(&result)) return Settle(slice, ErrorOutcome(try_catch));
  v8::Local<v8::Context> context = context_.Get(isolate_);
  if (goal_ == Goal::kPromise && result->IsPromise()) {
    awaited_.Reset(isolate_, result.As<v8::Promise>());
    return Pump(slice);
  }
  // Microtasks the call queued run before it returns, as when a script ends.
  isolate_->PerformMicrotaskCheckpoint();
  Outcome out;
  std::string error;
  if (!FromJs(context, result, &out.value, &error, [this] { return Terminating(); }, true)) {
    out.status = Status::kConversionError;
    out.error_name = "TypeError";
    out.error_message = error;
  }
  return Settle(slice, std::move(out));
}

Outcome Runtime::Pump(Slice& slice) {
  v8::Local<v8::Context> context = context_.Get(isolate_);
  for (;;) {
    while (v8::platform::PumpMessageLoop(V8Platform(), isolate_)) {
    }
    isolate_->PerformMicrotaskCheckpoint();
    if (Terminating()) return Settle(slice, Outcome{});
    ReportUnhandledRejections(context);
    if (goal_ == Goal::kPromise && !awaited_.IsEmpty() &&
        awaited_.Get(isolate_)->State() != v8::Promise::kPending) {
      break;
    }
    if (!FireDueTimers()) break;
    if (Terminating()) return Settle(slice, Outcome{});
  }
  Outcome out;
  bool waiting = !timers_.empty() || !ops_.empty();
  if (goal_ == Goal::kPromise && !awaited_.IsEmpty()) {
    v8::Local<v8::Promise> promise = awaited_.Get(isolate_);
    switch (promise->State()) {
      case v8::Promise::kFulfilled: {
        std::string error;
        if (!FromJs(context, promise->Result(), &out.value, &error, [this] { return Terminating(); }, true)) {
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
  if (out.status == Status::kPending && !timers_.empty()) {
    auto next = std::min_element(timers_.begin(), timers_.end(),
                                 [](const auto& a, const auto& b) { return a.second.due < b.second.due; });
    out.next_timer_ms = std::max(0.0, MsBetween(Clock::now(), next->second.due));
  }
  return Settle(slice, std::move(out));
}

Outcome Runtime::Settle(Slice& slice, Outcome out) {
  if (!memory_exceeded_ && OverMemoryLimit()) memory_exceeded_ = true;
  bool terminated = Terminating();
  WatchdogVerdict verdict = slice.Stop();
  if (memory_exceeded_) {
    out = Outcome{};
    out.status = Status::kMemoryLimit;
    out.error_name = "MemoryLimitExceeded";
    out.error_message = "the isolate exceeded its memory limit of " +
                        std::to_string(limits_.memory_limit_bytes / (1024 * 1024)) + " MB";
  } else if (terminate_requested_) {
    out = Outcome{};
    out.status = Status::kTerminated;
    out.error_name = "Terminated";
    out.error_message = "the call was terminated by the host";
  } else if (verdict != WatchdogVerdict::kNone || terminated) {
    bool cpu = verdict == WatchdogVerdict::kCpu;
    out = Outcome{};
    out.status = cpu ? Status::kCpuLimit : Status::kTimeout;
    out.error_name = "TimeLimitExceeded";
    out.error_message = cpu ? "the script exceeded its CPU time limit" : "the script exceeded its time limit";
  }
  if (out.status == Status::kMemoryLimit || out.status == Status::kTimeout || out.status == Status::kCpuLimit ||
      out.status == Status::kTerminated) {
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
  out.ops = std::move(new_ops_);
  new_ops_.clear();
  if (console_dropped_ > 0) {
    console_.push_back(ConsoleLine{"warn", std::to_string(console_dropped_) +
                                               " console lines dropped: more than " +
                                               std::to_string(kMaxConsoleBytes >> 20) + " MB of output at once"});
  }
  out.console = std::move(console_);
  console_.clear();
  console_bytes_ = 0;
  console_dropped_ = 0;
  return out;
}

Outcome Runtime::ErrorOutcome(v8::TryCatch& try_catch) {
  Outcome out;
  if (!try_catch.HasCaught() || try_catch.HasTerminated()) return out;  // Settle reports termination
  out.status = Status::kJsError;
  DescribeError(context_.Get(isolate_), try_catch.Exception(), try_catch.Message(), &out);
  return out;
}

bool Runtime::FireDueTimers() {
  v8::Local<v8::Context> context = context_.Get(isolate_);
  Clock::time_point now = Clock::now();
  std::vector<std::pair<Clock::time_point, int64_t>> due;
  for (const auto& [id, timer] : timers_) {
    if (timer.due <= now) due.emplace_back(timer.due, id);
  }
  std::sort(due.begin(), due.end());
  for (const auto& [when, id] : due) {
    auto found = timers_.find(id);
    if (found == timers_.end()) continue;
    v8::Local<v8::Function> callback = found->second.callback.Get(isolate_);
    if (found->second.repeat) {
      found->second.due = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double, std::milli>(found->second.interval_ms));
    } else {
      timers_.erase(found);
    }
    v8::TryCatch try_catch(isolate_);
    if (callback->Call(context, context->Global(), 0, nullptr).IsEmpty()) {
      if (try_catch.HasTerminated() || Terminating()) return true;
      Outcome error;
      DescribeError(context, try_catch.Exception(), try_catch.Message(), &error);
      Print("error", "Uncaught " + error.error_stack);
    }
    isolate_->PerformMicrotaskCheckpoint();
    if (Terminating()) return true;
  }
  return !due.empty();
}

size_t Runtime::MemoryAvailable() {
  v8::HeapStatistics stats;
  isolate_->GetHeapStatistics(&stats);
  size_t used = stats.used_heap_size() + stats.external_memory();
  return used >= limits_.memory_limit_bytes ? 0 : limits_.memory_limit_bytes - used;
}

bool Runtime::OverMemoryLimit() {
  // Cheap first: external memory that the counting allocator did not hand out is wasm memory.
  int64_t external = isolate_->AdjustAmountOfExternalAllocatedMemory(0);
  if (external <= static_cast<int64_t>(allocator_->used_bytes())) return false;
  return MemoryAvailable() == 0;
}

bool Runtime::Terminating() {
  return memory_exceeded_ || terminate_requested_ || watchdog_->fired() || isolate_->IsExecutionTerminating();
}

void Runtime::Terminate() {
  if (!in_call_) return;
  terminate_requested_ = true;
  if (isolate_ != nullptr) isolate_->TerminateExecution();
}

void Runtime::ApplyCompletions(v8::Local<v8::Context> context) {
  std::vector<Completion> completions;
  {
    std::lock_guard<std::mutex> guard(completions_mutex_);
    completions.swap(completions_);
  }
  for (auto& completion : completions) {
    auto found = ops_.find(completion.id);
    if (found == ops_.end()) continue;
    v8::Local<v8::Promise::Resolver> resolver = found->second.Get(isolate_);
    ops_.erase(found);
    v8::TryCatch try_catch(isolate_);
    if (completion.ok) {
      v8::Local<v8::Value> value;
      if (ToJs(context, completion.value).ToLocal(&value)) {
        resolver->Resolve(context, value).FromMaybe(false);
      } else if (try_catch.HasCaught() && !try_catch.HasTerminated()) {
        resolver->Reject(context, try_catch.Exception()).FromMaybe(false);
      }
    } else {
      resolver->Reject(context, v8::Exception::Error(NewString(isolate_, completion.value.text))).FromMaybe(false);
    }
  }
}

void Runtime::OnPromiseReject(v8::PromiseRejectMessage message) {
  v8::Local<v8::Promise> promise = message.GetPromise();
  v8::Isolate* isolate = promise->GetIsolate();
  auto* runtime = static_cast<Runtime*>(isolate->GetData(0));
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
  out.array_buffer_bytes = allocator_->used_bytes();
  out.memory_limit = limits_.memory_limit_bytes;
  return out;
}

size_t Runtime::NearHeapLimit(void* data, size_t current_limit, size_t) {
  auto* runtime = static_cast<Runtime*>(data);
  runtime->memory_exceeded_ = true;
  runtime->isolate_->TerminateExecution();
  return current_limit + kHeapHeadroom;
}

void Runtime::Print(std::string level, std::string text) {
  if (console_bytes_ + text.size() > kMaxConsoleBytes) {
    ++console_dropped_;
    return;
  }
  console_bytes_ += text.size();
  console_.push_back(ConsoleLine{std::move(level), std::move(text)});
}

int64_t Runtime::StartTimer(v8::Local<v8::Function> callback, double delay_ms, bool repeat) {
  if (timers_.size() >= kMaxTimers) return -1;
  if (!(delay_ms >= 0)) delay_ms = 0;
  delay_ms = std::min(delay_ms, 2147483647.0);
  int64_t id = next_timer_id_++;
  Timer timer{id,
              Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(delay_ms)),
              delay_ms, repeat, v8::Global<v8::Function>(isolate_, callback)};
  timers_.emplace(id, std::move(timer));
  return id;
}

void Runtime::ClearTimer(int64_t id) { timers_.erase(id); }

v8::MaybeLocal<v8::Promise> Runtime::StartHostOp(v8::Local<v8::Context> context, std::string name,
                                                HostValue payload) {
  if (ops_.size() >= kMaxHostOps) return {};
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
  uint64_t id = next_op_id_++;
  ops_.emplace(id, v8::Global<v8::Promise::Resolver>(isolate_, resolver));
  new_ops_.push_back(HostOp{id, std::move(name), std::move(payload)});
  return resolver->GetPromise();
}

double Runtime::NowMs() const { return MsBetween(start_, Clock::now()); }

}  // namespace pyruntime
