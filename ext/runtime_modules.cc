// The Runtime's ES modules: compiled by name, linked as the host resolved each import, and
// evaluated as one call. import() is refused (the host reads every module before code runs).
#include <memory>
#include <vector>

#include "js_util.h"
#include "runtime.h"

namespace pyruntime {

Outcome Runtime::CompileModule(const std::string& name, const std::string& source, const std::string& code_cache) {
  return RunSlice(Goal::kValue, [&](v8::Local<v8::Context> context, Slice& slice, v8::TryCatch& try_catch) {
    v8::ScriptOrigin origin(isolate_, NewString(isolate_, name), 0, 0, false, -1, v8::Local<v8::Value>(), false,
                            false, true);
    if (RefuseManyPropertyEscapes(source)) return Conclude(slice, ErrorOutcome(try_catch));
    // The Source owns the CachedData; the bytes stay the caller's.
    auto* cached = code_cache.empty() ? nullptr
                                      : new v8::ScriptCompiler::CachedData(
                                            reinterpret_cast<const uint8_t*>(code_cache.data()),
                                            static_cast<int>(code_cache.size()));
    v8::ScriptCompiler::Source module_source(NewString(isolate_, source), origin, cached);
    v8::Local<v8::Module> module;
    auto options = cached == nullptr ? v8::ScriptCompiler::kNoCompileOptions : v8::ScriptCompiler::kConsumeCodeCache;
    if (!v8::ScriptCompiler::CompileModule(isolate_, &module_source, options).ToLocal(&module)) {
      return Conclude(slice, ErrorOutcome(try_catch));
    }
    modules_[name].Reset(isolate_, module);
    module_scripts_[name].Reset(isolate_, module->GetUnboundModuleScript());
    Outcome out;
    out.value.kind = HostValue::Kind::kList;
    v8::Local<v8::FixedArray> requests = module->GetModuleRequests();
    for (int i = 0; i < requests->Length(); ++i) {
      auto request = requests->Get(context, i).As<v8::ModuleRequest>();
      out.value.items.push_back(HostValue::String(Utf8(isolate_, request->GetSpecifier())));
    }
    return Conclude(slice, std::move(out));
  });
}

std::string Runtime::ModuleCodeCache(const std::string& name) {
  if (!alive()) return {};
  v8::Locker locker(isolate_);
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  v8::Context::Scope context_scope(context_.Get(isolate_));
  auto found = module_scripts_.find(name);
  if (found == module_scripts_.end()) return {};
  std::unique_ptr<v8::ScriptCompiler::CachedData> cache(
      v8::ScriptCompiler::CreateCodeCache(found->second.Get(isolate_)));
  if (cache == nullptr || cache->rejected) return {};
  return std::string(reinterpret_cast<const char*>(cache->data), static_cast<size_t>(cache->length));
}

v8::MaybeLocal<v8::Module> Runtime::ResolveModule(v8::Local<v8::Context> context, v8::Local<v8::String> specifier,
                                                  v8::Local<v8::FixedArray>, v8::Local<v8::Module> referrer) {
  v8::Isolate* isolate = context->GetIsolate();
  auto* runtime = Runtime::Of(isolate);
  std::string referrer_name;
  for (const auto& [name, module] : runtime->modules_) {
    if (module == referrer) {
      referrer_name = name;
      break;
    }
  }
  std::string wanted = Utf8(isolate, specifier);
  if (wanted == kWorkersModule) return runtime->WorkersModule(context);
  auto link = runtime->links_.find({referrer_name, wanted});
  if (link != runtime->links_.end()) {
    auto module = runtime->modules_.find(link->second);
    if (module != runtime->modules_.end()) return module->second.Get(isolate);
  }
  ThrowTypeError(isolate, "cannot resolve module '" + wanted + "' imported from " + referrer_name);
  return {};
}

// `cloudflare:workers` is a synthetic module: its exports are what the bootstrap's
// internal.workersModuleExports() returns (ext/js/90_worker.js), read when it is evaluated.
bool Runtime::WorkersModuleExports(v8::Local<v8::Context> context, v8::Local<v8::Object>* exports,
                                   v8::Local<v8::Array>* names) {
  v8::Local<v8::Value> make = InternalFunction(context, "workersModuleExports");
  v8::Local<v8::Value> made;
  if (make.IsEmpty() || !make.As<v8::Function>()->Call(context, internal_.Get(isolate_), 0, nullptr).ToLocal(&made) ||
      !made->IsObject()) {
    return false;
  }
  *exports = made.As<v8::Object>();
  return (*exports)->GetOwnPropertyNames(context).ToLocal(names);
}

v8::MaybeLocal<v8::Module> Runtime::WorkersModule(v8::Local<v8::Context> context) {
  if (!workers_module_.IsEmpty()) return workers_module_.Get(isolate_);
  v8::Local<v8::Object> exports;
  v8::Local<v8::Array> names;
  if (!WorkersModuleExports(context, &exports, &names)) return {};
  std::vector<v8::Local<v8::String>> export_names;
  for (uint32_t i = 0; i < names->Length(); ++i) {
    v8::Local<v8::Value> name;
    if (!names->Get(context, i).ToLocal(&name)) return {};
    export_names.push_back(name.As<v8::String>());
  }
  v8::Local<v8::Module> module = v8::Module::CreateSyntheticModule(isolate_, NewString(isolate_, kWorkersModule),
                                                                   export_names, EvaluateWorkersModule);
  workers_module_.Reset(isolate_, module);
  return module;
}

v8::MaybeLocal<v8::Value> Runtime::EvaluateWorkersModule(v8::Local<v8::Context> context,
                                                         v8::Local<v8::Module> module) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Object> exports;
  v8::Local<v8::Array> names;
  if (!Runtime::Of(isolate)->WorkersModuleExports(context, &exports, &names)) return {};
  for (uint32_t i = 0; i < names->Length(); ++i) {
    v8::Local<v8::Value> name;
    v8::Local<v8::Value> value;
    if (!names->Get(context, i).ToLocal(&name) || !exports->Get(context, name).ToLocal(&value) ||
        module->SetSyntheticModuleExport(isolate, name.As<v8::String>(), value).IsNothing()) {
      return {};
    }
  }
  return v8::Undefined(isolate);
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

}  // namespace pyruntime
