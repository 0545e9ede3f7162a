#include "startup_snapshot.h"

#include <mutex>
#include <stdexcept>
#include <string>

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

// Runs every bootstrap file as `(function (native, internal) { "use strict"; ... })(native, internal)`.
// Strict mode everywhere: V8 hides the receiver and function of strict frames (and of every
// frame below one) from the stack-trace API, and `fn.caller` never returns a strict function.
void RunBootstrap(v8::Local<v8::Context> context, v8::Local<v8::Object> native, v8::Local<v8::Object> internal) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  for (size_t i = 0; i < kJsSourceCount; ++i) {
    const JsSource& file = kJsSources[i];
    std::string wrapped = "(function (native, internal) {\"use strict\";";
    wrapped.append(file.text, file.length);
    wrapped += "\n})";
    v8::ScriptOrigin origin(isolate, NewString(isolate, std::string("pyruntime:") + file.name));
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> function;
    v8::Local<v8::Value> args[] = {native, internal};
    if (!v8::Script::Compile(context, NewString(isolate, wrapped), &origin).ToLocal(&script) ||
        !script->Run(context).ToLocal(&function) ||
        function.As<v8::Function>()->Call(context, context->Global(), 2, args).IsEmpty()) {
      throw std::runtime_error("bootstrap file " + std::string(file.name) +
                               " failed: " + DescribeBootstrapError(context, try_catch));
    }
  }
  isolate->PerformMicrotaskCheckpoint();
}

v8::StartupData CreateSnapshot() {
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

}  // namespace

v8::StartupData* StartupSnapshot() {
  static std::once_flag once;
  static v8::StartupData blob{};
  static std::string error;
  EnsureV8Initialized();
  std::call_once(once, [] {
    try {
      blob = CreateSnapshot();
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw std::runtime_error(error);
  return &blob;
}

}  // namespace pyruntime
