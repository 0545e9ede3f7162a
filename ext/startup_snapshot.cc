#include "startup_snapshot.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "external_sources.h"
#include "host_interface.h"
#include "js_sources.h"
#include "js_util.h"
#include "native_bindings.h"
#include "v8_platform.h"

namespace pyruntime {

namespace {

std::string DescribeBootstrapError(v8::Local<v8::Context> context, v8::TryCatch& try_catch) {
  v8::Isolate* isolate = context->GetIsolate();
  std::string text = try_catch.HasCaught() ? Utf8(isolate, try_catch.Exception()) : "unknown error";
  v8::Local<v8::Message> message = try_catch.Message();
  if (!message.IsEmpty()) {
    text += " at " + Utf8(isolate, message->GetScriptResourceName()) + ":" +
            std::to_string(message->GetLineNumber(context).FromMaybe(0));
  }
  return text;
}

std::string& WarmupErrorText() {
  static std::string text;
  return text;
}

// Runs every bootstrap file, embedded as `(function (native, internal) { "use strict"; ... })`
// (embed_js.py), called with (native, internal). Strict mode everywhere: V8 hides the receiver
// and function of strict frames (and of every frame below one) from the stack-trace API, and
// `fn.caller` never returns a strict function.
void RunBootstrap(v8::Local<v8::Context> context, v8::Local<v8::Object> native, v8::Local<v8::Object> internal) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  for (size_t i = 0; i < kJsSourceCount; ++i) {
    const JsSource& file = kJsSources[i];
    v8::ScriptOrigin origin(isolate, NewString(isolate, std::string("pyruntime:") + file.name));
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> function;
    v8::Local<v8::Value> args[] = {native, internal};
    if (!v8::Script::Compile(context, BootstrapSource(isolate, i), &origin).ToLocal(&script) ||
        !script->Run(context).ToLocal(&function) ||
        function.As<v8::Function>()->Call(context, context->Global(), 2, args).IsEmpty()) {
      throw std::runtime_error("bootstrap file " + std::string(file.name) +
                               " failed: " + DescribeBootstrapError(context, try_catch));
    }
  }
  isolate->PerformMicrotaskCheckpoint();
}

// The bootstrap, run once: the blob every warm snapshot starts from.
v8::StartupData CreateColdSnapshot() {
  v8::SnapshotCreator creator(ExternalReferences());
  v8::Isolate* isolate = creator.GetIsolate();
  {
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    v8::Local<v8::Object> native = NewNativeBinding(context);
    v8::Local<v8::Object> internal = v8::Object::New(isolate);
    RunBootstrap(context, native, internal);
    creator.AddData(context, native);
    creator.AddData(context, internal);
    creator.SetDefaultContext(context);
  }
  return creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
}

// Stands in for the Runtime while the warm-up runs: console output is dropped, timers never
// fire and host operations never settle.
class WarmupHost final : public HostInterface {
 public:
  explicit WarmupHost(v8::Isolate* isolate) : isolate_(isolate) { Install(isolate, this); }
  ~WarmupHost() { Install(isolate_, nullptr); }
  WarmupHost(const WarmupHost&) = delete;
  WarmupHost& operator=(const WarmupHost&) = delete;

  void Print(std::string, std::string) override {}
  void DropConsoleLine() override {}
  int64_t StartTimer(v8::Local<v8::Function>, double, bool) override { return ++timers_; }
  void ClearTimer(int64_t) override {}
  v8::MaybeLocal<v8::Promise> StartHostOp(v8::Local<v8::Context> context, std::string, HostValue) override {
    v8::Local<v8::Promise::Resolver> resolver;
    if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
    return resolver->GetPromise();
  }
  double NowMs() const override { return 0; }
  size_t MemoryLimit() const override { return kMemory; }
  size_t MemoryAvailable() override { return kMemory; }
  bool StopRequested() override { return false; }

 private:
  static constexpr size_t kMemory = 64u << 20;
  v8::Isolate* isolate_;
  int64_t timers_ = 0;
};

// Runs warmup/snapshot_warmup.js in a throwaway context of the cold snapshot's isolate.
void RunWarmup(v8::Isolate* isolate) {
  WarmupHost host(isolate);
  v8::HandleScope handle_scope(isolate);
  v8::Local<v8::Context> context = v8::Context::New(isolate);
  v8::Context::Scope context_scope(context);
  v8::Local<v8::Object> native = context->GetDataFromSnapshotOnce<v8::Object>(kNativeSlot).ToLocalChecked();
  v8::Local<v8::Value> internal = context->GetDataFromSnapshotOnce<v8::Object>(kInternalSlot).ToLocalChecked();
  native->Set(context, NewString(isolate, "timeOrigin"), v8::Number::New(isolate, 0)).FromMaybe(false);
  v8::TryCatch try_catch(isolate);
  v8::ScriptOrigin origin(isolate, NewString(isolate, std::string("pyruntime:") + kWarmupSource.name));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> function;
  v8::Local<v8::Value> result;
  if (!v8::Script::Compile(context, NewString(isolate, std::string(kWarmupSource.text, kWarmupSource.length)),
                           &origin).ToLocal(&script) ||
      !script->Run(context).ToLocal(&function) ||
      !function.As<v8::Function>()->Call(context, context->Global(), 1, &internal).ToLocal(&result)) {
    throw std::runtime_error("the snapshot warm-up failed: " + DescribeBootstrapError(context, try_catch));
  }
  isolate->PerformMicrotaskCheckpoint();
  v8::Local<v8::Promise> done = result.As<v8::Promise>();
  if (done->State() == v8::Promise::kRejected) {
    throw std::runtime_error("the snapshot warm-up failed: " + Utf8(isolate, done->Result()));
  }
  if (done->State() == v8::Promise::kPending) {
    throw std::runtime_error("the snapshot warm-up did not finish: it awaits a timer or a host operation");
  }
}

// The cold snapshot, with the code its warm-up compiled. The default context is a fresh
// one, untouched by the warm-up; compiled code lives in shared function infos, which all
// contexts of the isolate share, so the blob keeps it (kKeep).
v8::StartupData WarmSnapshot(v8::StartupData* cold) {
  v8::SnapshotCreator creator(ExternalReferences(), cold);
  v8::Isolate* isolate = creator.GetIsolate();
  RunWarmup(isolate);
  isolate->ContextDisposedNotification(false);
  {
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Local<v8::Object> native = context->GetDataFromSnapshotOnce<v8::Object>(kNativeSlot).ToLocalChecked();
    v8::Local<v8::Object> internal = context->GetDataFromSnapshotOnce<v8::Object>(kInternalSlot).ToLocalChecked();
    if (creator.AddData(context, native) != kNativeSlot || creator.AddData(context, internal) != kInternalSlot) {
      throw std::runtime_error("the warm snapshot could not keep its data slots");
    }
    creator.SetDefaultContext(context);
  }
  return creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
}

}  // namespace

namespace {

constexpr size_t kMinBlobBytes = 4096;
std::once_flag snapshot_once;
v8::StartupData snapshot_blob{};
std::string snapshot_error;

void BuildSnapshot() {
  try {
    snapshot_blob = CreateColdSnapshot();
  } catch (const std::runtime_error& e) {
    snapshot_error = e.what();
    return;
  }
  // A warm-up that fails costs speed, not function: the cold blob is kept and the reason
  // is reported by SnapshotWarmupError() (tests require it to be empty).
  try {
    v8::StartupData warm = WarmSnapshot(&snapshot_blob);
    delete[] snapshot_blob.data;
    snapshot_blob = warm;
  } catch (const std::runtime_error& e) {
    WarmupErrorText() = e.what();
  }
}

}  // namespace

v8::StartupData* StartupSnapshot() {
  EnsureV8Initialized();
  std::call_once(snapshot_once, BuildSnapshot);
  if (!snapshot_error.empty()) throw std::runtime_error(snapshot_error);
  return &snapshot_blob;
}

bool UseSnapshotBlob(const std::string& bytes) {
  EnsureV8Initialized();
  // V8 reads the header's version without checking the size first (a CHECK that aborts):
  // anything shorter than a header is refused here. Real blobs are megabytes.
  if (bytes.size() < kMinBlobBytes || bytes.size() > static_cast<size_t>(INT32_MAX)) return false;
  v8::StartupData candidate{bytes.data(), static_cast<int>(bytes.size())};
  if (!candidate.IsValid() || !candidate.CanBeRehashed()) return false;
  bool used = false;
  std::call_once(snapshot_once, [&] {
    char* data = new char[bytes.size()];
    std::memcpy(data, bytes.data(), bytes.size());
    snapshot_blob = {data, static_cast<int>(bytes.size())};
    used = true;
  });
  return used;
}

std::string SnapshotBlobBytes() {
  v8::StartupData* blob = StartupSnapshot();
  return std::string(blob->data, static_cast<size_t>(blob->raw_size));
}

std::string SnapshotWarmupError() {
  StartupSnapshot();
  return WarmupErrorText();
}

}  // namespace pyruntime
