#include "native_bindings.h"

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "external_sources.h"
#include "host_interface.h"
#include "host_value.h"
#include "js_util.h"

// ada_c.h declares a C API without extern "C" guards of its own.
extern "C" {
#include "ada_c.h"
}

namespace pyruntime {

namespace {

// The host of the calling isolate. Bootstrap files must not call natives that need it at
// load time: the startup snapshot is built in an isolate without one.
HostInterface* HostOf(const Args& args) { return HostInterface::Of(args.GetIsolate()); }

// --- console, time, timers, host operations -------------------------------------------

void Print(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  // Checked before copying: a huge string must not become a huge host allocation.
  if (args[1]->IsString() && static_cast<size_t>(args[1].As<v8::String>()->Length()) > HostInterface::kMaxConsoleBytes) {
    return HostOf(args)->DropConsoleLine();
  }
  HostOf(args)->Print(Utf8(isolate, args[0]), Utf8(isolate, args[1]));
}

void MemoryAvailable(const Args& args) {
  args.GetReturnValue().Set(static_cast<double>(HostOf(args)->MemoryAvailable()));
}

// Bootstrap files run the builtin guards while the snapshot is built, without a host: 0.
void MemoryLimit(const Args& args) {
  HostInterface* host = HostOf(args);
  args.GetReturnValue().Set(host == nullptr ? 0.0 : static_cast<double>(host->MemoryLimit()));
}

// Detaches an ArrayBuffer and returns a new one owning its bytes (ArrayBuffer.prototype.transfer
// is not in V8 10.2); BYOB stream readers need it.
void TransferArrayBuffer(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsArrayBuffer()) return ThrowTypeError(isolate, "expected an ArrayBuffer");
  auto buffer = args[0].As<v8::ArrayBuffer>();
  if (!buffer->IsDetachable()) return ThrowTypeError(isolate, "the ArrayBuffer cannot be detached");
  std::shared_ptr<v8::BackingStore> store = buffer->GetBackingStore();
  buffer->Detach();
  args.GetReturnValue().Set(v8::ArrayBuffer::New(isolate, std::move(store)));
}

// ownNonIndexKeys(object, filter): own keys except array indices (strings, then symbols),
// without visiting the elements. `filter` is a v8::PropertyFilter (enumerable keys when
// left out). The console lists a 10-million-element array's extra properties in O(1), and
// Object.keys and its kin on a large array walk the indices in JS (09_builtin_steps.js).
void OwnNonIndexKeys(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsObject()) return ThrowTypeError(isolate, "expected an object");
  uint32_t filter = v8::ONLY_ENUMERABLE;
  if (!args[1]->IsUndefined() && (!args[1]->IsUint32() || args[1].As<v8::Uint32>()->Value() > 31)) {
    return ThrowTypeError(isolate, "expected a property filter");
  }
  if (args[1]->IsUint32()) filter = args[1].As<v8::Uint32>()->Value();
  v8::Local<v8::Array> keys;
  if (args[0]
          .As<v8::Object>()
          ->GetPropertyNames(isolate->GetCurrentContext(), v8::KeyCollectionMode::kOwnOnly,
                             static_cast<v8::PropertyFilter>(filter), v8::IndexFilter::kSkipIndices,
                             v8::KeyConversionMode::kConvertToString)
          .ToLocal(&keys)) {
    args.GetReturnValue().Set(keys);
  }
}

// arrayLength(value): an Array's length, -1 for anything else (a Proxy of an array too,
// whose length would run its trap).
void ArrayLength(const Args& args) {
  args.GetReturnValue().Set(args[0]->IsArray() ? static_cast<double>(args[0].As<v8::Array>()->Length()) : -1.0);
}

// Brand checks without a thrown TypeError: a try/catch around a getter captured a stack
// trace for every value that was not the type, on every request body.
void IsArrayBuffer(const Args& args) { args.GetReturnValue().Set(args[0]->IsArrayBuffer()); }
void IsSharedArrayBuffer(const Args& args) { args.GetReturnValue().Set(args[0]->IsSharedArrayBuffer()); }
void IsDataView(const Args& args) { args.GetReturnValue().Set(args[0]->IsDataView()); }

void Now(const Args& args) { args.GetReturnValue().Set(HostOf(args)->NowMs()); }

void TimerStart(const Args& args) {
  if (!args[0]->IsFunction()) return ThrowTypeError(args.GetIsolate(), "timer callback must be a function");
  double delay = args[1]->NumberValue(args.GetIsolate()->GetCurrentContext()).FromMaybe(0);
  int64_t id = HostOf(args)->StartTimer(args[0].As<v8::Function>(), delay, args[2]->BooleanValue(args.GetIsolate()));
  if (id >= 0) args.GetReturnValue().Set(static_cast<double>(id));
}

void TimerClear(const Args& args) {
  double id = args[0]->NumberValue(args.GetIsolate()->GetCurrentContext()).FromMaybe(0);
  HostOf(args)->ClearTimer(static_cast<int64_t>(id));
}

void StartHostOperation(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  HostValue payload;
  std::string error;
  if (!FromJs(context, args[1], &payload, &error)) return ThrowTypeError(isolate, error);
  v8::Local<v8::Promise> promise;
  if (HostOf(args)->StartHostOp(context, Utf8(isolate, args[0]), std::move(payload)).ToLocal(&promise)) {
    args.GetReturnValue().Set(promise);
  }
}

// --- URL (ada) ---------------------------------------------------------------------------

v8::Local<v8::Value> UrlComponents(v8::Isolate* isolate, ada_url url) {
  auto text = [&](ada_string s) { return NewString(isolate, std::string_view(s.data, s.length)); };
  ada_owned_string origin = ada_get_origin(url);
  v8::Local<v8::Value> parts[] = {
      text(ada_get_href(url)),     NewString(isolate, std::string_view(origin.data, origin.length)),
      text(ada_get_protocol(url)), text(ada_get_username(url)),
      text(ada_get_password(url)), text(ada_get_host(url)),
      text(ada_get_hostname(url)), text(ada_get_port(url)),
      text(ada_get_pathname(url)), text(ada_get_search(url)),
      text(ada_get_hash(url)),
  };
  ada_free_owned_string(origin);
  return v8::Array::New(isolate, parts, sizeof(parts) / sizeof(parts[0]));
}

// Longer URLs are refused as invalid (browsers stop at 2 MB): parsing and percent-encoding
// happen in host memory, outside the isolate's limit.
constexpr uint32_t kMaxUrlLength = 8u << 20;

bool UrlTooLong(const Args& args) {
  static const bool limited = (ada_set_max_input_length(kMaxUrlLength), true);
  (void)limited;
  for (int i = 0; i < args.Length(); ++i) {
    if (args[i]->IsString() && static_cast<uint32_t>(args[i].As<v8::String>()->Length()) > kMaxUrlLength) {
      args.GetReturnValue().SetNull();
      return true;
    }
  }
  return false;
}

void UrlParse(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (UrlTooLong(args)) return;
  std::string input = Utf8(isolate, args[0]);
  ada_url url;
  if (args.Length() > 1 && !args[1]->IsUndefined() && !args[1]->IsNull()) {
    std::string base = Utf8(isolate, args[1]);
    url = ada_parse_with_base(input.data(), input.size(), base.data(), base.size());
  } else {
    url = ada_parse(input.data(), input.size());
  }
  if (ada_is_valid(url)) {
    args.GetReturnValue().Set(UrlComponents(isolate, url));
  } else {
    args.GetReturnValue().SetNull();
  }
  ada_free(url);
}

// urlHref(input) -> the serialized URL, or null: what the host's request URL needs, without
// the eleven component strings urlParse makes. An input already in its serialized form (as
// the host builds it) is returned as is.
void UrlHref(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (UrlTooLong(args)) return;
  std::string input = Utf8(isolate, args[0]);
  ada_url url = ada_parse(input.data(), input.size());
  if (!ada_is_valid(url)) {
    args.GetReturnValue().SetNull();
  } else {
    ada_string href = ada_get_href(url);
    std::string_view serialized(href.data, href.length);
    if (serialized == input && args[0]->IsString()) {
      args.GetReturnValue().Set(args[0]);
    } else {
      args.GetReturnValue().Set(NewString(isolate, serialized));
    }
  }
  ada_free(url);
}

void UrlSet(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (UrlTooLong(args)) return;
  std::string href = Utf8(isolate, args[0]);
  std::string attribute = Utf8(isolate, args[1]);
  std::string value = Utf8(isolate, args[2]);
  ada_url url = ada_parse(href.data(), href.size());
  if (!ada_is_valid(url)) {
    ada_free(url);
    return args.GetReturnValue().SetNull();
  }
  const char* v = value.data();
  size_t n = value.size();
  bool ok = true;
  if (attribute == "href") {
    ok = ada_set_href(url, v, n);
  } else if (attribute == "protocol") {
    ada_set_protocol(url, v, n);
  } else if (attribute == "username") {
    ada_set_username(url, v, n);
  } else if (attribute == "password") {
    ada_set_password(url, v, n);
  } else if (attribute == "host") {
    ada_set_host(url, v, n);
  } else if (attribute == "hostname") {
    ada_set_hostname(url, v, n);
  } else if (attribute == "port") {
    if (n == 0) {
      ada_clear_port(url);
    } else {
      ada_set_port(url, v, n);
    }
  } else if (attribute == "pathname") {
    ada_set_pathname(url, v, n);
  } else if (attribute == "search") {
    if (n == 0) {
      ada_clear_search(url);
    } else {
      ada_set_search(url, v, n);
    }
  } else if (attribute == "hash") {
    if (n == 0) {
      ada_clear_hash(url);
    } else {
      ada_set_hash(url, v, n);
    }
  } else {
    ok = false;
  }
  if (ok && ada_is_valid(url)) {
    args.GetReturnValue().Set(UrlComponents(isolate, url));
  } else {
    args.GetReturnValue().SetNull();
  }
  ada_free(url);
}

// --- structuredClone ------------------------------------------------------------------------

// Serializer buffers live outside the V8 heap: they count against the memory limit.
class CloneDelegate final : public v8::ValueSerializer::Delegate {
 public:
  explicit CloneDelegate(v8::Isolate* isolate, size_t limit) : isolate_(isolate), limit_(limit) {}
  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    v8::Local<v8::Value> error = v8::Exception::Error(message);
    error.As<v8::Object>()
        ->Set(isolate_->GetCurrentContext(), NewString(isolate_, "name"), NewString(isolate_, "DataCloneError"))
        .FromMaybe(false);
    isolate_->ThrowException(error);
  }
  void* ReallocateBufferMemory(void* old_buffer, size_t size, size_t* actual_size) override {
    if (size > limit_) return nullptr;
    void* buffer = std::realloc(old_buffer, size);
    *actual_size = buffer == nullptr ? 0 : size;
    return buffer;
  }
  void FreeBufferMemory(void* buffer) override { std::free(buffer); }

  // Host objects (instances of native.HostObject: Blob and File) are copied by the
  // bootstrap's `clone(object)` now, while JavaScript may still run (V8 forbids it while
  // deserializing); the stream holds the copy's index and HostObjectReader returns it.
  v8::Maybe<bool> WriteHostObject(v8::Isolate* isolate, v8::Local<v8::Object> object) override {
    if (clone_.IsEmpty()) return v8::ValueSerializer::Delegate::WriteHostObject(isolate, object);
    v8::Local<v8::Value> argv[] = {object};
    v8::Local<v8::Value> copy;
    if (!clone_->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, argv).ToLocal(&copy)) {
      return v8::Nothing<bool>();
    }
    if (!copy->IsObject()) {
      ThrowDataCloneError(NewString(isolate, "a host object was cloned to a primitive"));
      return v8::Nothing<bool>();
    }
    serializer_->WriteUint32(static_cast<uint32_t>(copies_.size()));
    copies_.emplace_back(isolate, copy.As<v8::Object>());
    return v8::Just(true);
  }

  void SetHostObjectCloning(v8::ValueSerializer* serializer, v8::Local<v8::Value> clone) {
    serializer_ = serializer;
    if (clone->IsFunction()) clone_ = clone.As<v8::Function>();
  }
  const std::vector<v8::Global<v8::Object>>& copies() const { return copies_; }

 private:
  v8::Isolate* isolate_;
  size_t limit_;
  v8::ValueSerializer* serializer_ = nullptr;
  v8::Local<v8::Function> clone_;
  // Globals: the serializer's own handle scopes end before StructuredClone reads these.
  std::vector<v8::Global<v8::Object>> copies_;
};

// Returns the copies CloneDelegate::WriteHostObject made, by the index it wrote.
class HostObjectReader final : public v8::ValueDeserializer::Delegate {
 public:
  explicit HostObjectReader(const std::vector<v8::Global<v8::Object>>& copies) : copies_(copies) {}
  void SetDeserializer(v8::ValueDeserializer* deserializer) { deserializer_ = deserializer; }

  v8::MaybeLocal<v8::Object> ReadHostObject(v8::Isolate* isolate) override {
    uint32_t index = 0;
    if (!deserializer_->ReadUint32(&index) || index >= copies_.size()) {
      return v8::ValueDeserializer::Delegate::ReadHostObject(isolate);
    }
    return copies_[index].Get(isolate);
  }

 private:
  const std::vector<v8::Global<v8::Object>>& copies_;
  v8::ValueDeserializer* deserializer_ = nullptr;
};

// structuredClone(value, transferList, cloneHostObject): ArrayBuffers in the list are moved,
// not copied: the originals are detached and the clone owns their bytes. Host objects are
// copied by `cloneHostObject(object)`.
void StructuredClone(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::vector<v8::Local<v8::ArrayBuffer>> transfers;
  if (args.Length() > 1 && args[1]->IsArray()) {
    auto list = args[1].As<v8::Array>();
    for (uint32_t i = 0; i < list->Length(); ++i) {
      v8::Local<v8::Value> item;
      if (!list->Get(context, i).ToLocal(&item)) return;
      if (!item->IsArrayBuffer() || !item.As<v8::ArrayBuffer>()->IsDetachable()) {
        return ThrowTypeError(isolate, "only detachable ArrayBuffers can be transferred");
      }
      transfers.push_back(item.As<v8::ArrayBuffer>());
    }
  }
  CloneDelegate delegate(isolate, HostOf(args)->MemoryLimit());
  v8::ValueSerializer serializer(isolate, &delegate);
  delegate.SetHostObjectCloning(&serializer, args[2]);
  for (uint32_t i = 0; i < transfers.size(); ++i) serializer.TransferArrayBuffer(i, transfers[i]);
  serializer.WriteHeader();
  if (serializer.WriteValue(context, args[0]).IsNothing()) return;
  std::pair<uint8_t*, size_t> data = serializer.Release();
  HostObjectReader reader(delegate.copies());
  v8::ValueDeserializer deserializer(isolate, data.first, data.second, &reader);
  reader.SetDeserializer(&deserializer);
  for (uint32_t i = 0; i < transfers.size(); ++i) {
    std::shared_ptr<v8::BackingStore> store = transfers[i]->GetBackingStore();
    transfers[i]->Detach();
    deserializer.TransferArrayBuffer(i, v8::ArrayBuffer::New(isolate, std::move(store)));
  }
  v8::Local<v8::Value> copy;
  if (deserializer.ReadHeader(context).FromMaybe(false) && deserializer.ReadValue(context).ToLocal(&copy)) {
    args.GetReturnValue().Set(copy);
  }
  std::free(data.first);
}

// [state, result] of a promise, for console output: "pending", "fulfilled" or "rejected".
void PromiseState(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsPromise()) return ThrowTypeError(isolate, "expected a Promise");
  auto promise = args[0].As<v8::Promise>();
  v8::Local<v8::Value> parts[2];
  switch (promise->State()) {
    case v8::Promise::kPending:
      parts[0] = NewString(isolate, "pending");
      parts[1] = v8::Undefined(isolate);
      break;
    case v8::Promise::kFulfilled:
      parts[0] = NewString(isolate, "fulfilled");
      parts[1] = promise->Result();
      break;
    case v8::Promise::kRejected:
      parts[0] = NewString(isolate, "rejected");
      parts[1] = promise->Result();
      break;
  }
  args.GetReturnValue().Set(v8::Array::New(isolate, parts, 2));
}

// `new native.HostObject()` does nothing more: its instances carry an internal field, which
// makes V8's serializer treat them as host objects (see CloneDelegate::WriteHostObject).
void HostObjectConstructor(const Args&) {}

}  // namespace

std::vector<NativeFunction> CoreNatives() {
  return {
    {"print", Print},
    {"now", Now},
    {"memoryAvailable", MemoryAvailable},
    {"memoryLimit", MemoryLimit},
    {"transferArrayBuffer", TransferArrayBuffer},
    {"timerStart", TimerStart},
    {"timerClear", TimerClear},
    {"hostOp", StartHostOperation},
    {"urlParse", UrlParse},
    {"urlHref", UrlHref},
    {"urlSet", UrlSet},
    {"structuredClone", StructuredClone},
    {"promiseState", PromiseState},
    {"ownNonIndexKeys", OwnNonIndexKeys},
    {"arrayLength", ArrayLength},
    {"isArrayBuffer", IsArrayBuffer},
    {"isSharedArrayBuffer", IsSharedArrayBuffer},
    {"isDataView", IsDataView},
  };
}

// Every group of natives, in one list: the `native` object and the snapshot's external
// references are both built from it.
const std::vector<NativeFunction>& AllNatives() {
  static const auto* all = [] {
    auto* list = new std::vector<NativeFunction>();
    for (auto group : {CoreNatives, Utf8Natives, CryptoNatives, CompressionNatives, EncodingNatives, WasmNatives,
                       UnicodeNatives, JsonNatives}) {
      for (const NativeFunction& function : group()) list->push_back(function);
    }
    return list;
  }();
  return *all;
}

v8::Local<v8::Object> NewNativeBinding(v8::Local<v8::Context> context) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Object> native = v8::Object::New(isolate);
  for (const auto& function : AllNatives()) {
    v8::Local<v8::Function> fn = v8::Function::New(context, function.callback, v8::Local<v8::Value>(), 0,
                                                   v8::ConstructorBehavior::kThrow)
                                     .ToLocalChecked();
    native->Set(context, NewString(isolate, function.name), fn).FromMaybe(false);
  }
  v8::Local<v8::FunctionTemplate> host_object = v8::FunctionTemplate::New(isolate, HostObjectConstructor);
  host_object->InstanceTemplate()->SetInternalFieldCount(1);
  native->Set(context, NewString(isolate, "HostObject"), host_object->GetFunction(context).ToLocalChecked())
      .FromMaybe(false);
  return native;
}

const intptr_t* ExternalReferences() {
  static const auto* references = [] {
    auto* list = new std::vector<intptr_t>();
    for (const auto& native : AllNatives()) list->push_back(reinterpret_cast<intptr_t>(native.callback));
    list->push_back(reinterpret_cast<intptr_t>(HostObjectConstructor));
    const std::vector<intptr_t>& sources = BootstrapSourceReferences();
    list->insert(list->end(), sources.begin(), sources.end());
    list->push_back(0);
    return list;
  }();
  return references->data();
}

}  // namespace pyruntime
