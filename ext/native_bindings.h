// The `native` object the bootstrap JS receives: the functions that need C++ (ext/js/README.md).
#pragma once

#include <vector>

#include <v8.h>

namespace pyruntime {

using Args = v8::FunctionCallbackInfo<v8::Value>;

struct NativeFunction {
  const char* name;
  v8::FunctionCallback callback;
};

// The groups of natives, each in its own file; AllNatives() (native_bindings.cc) joins them.
std::vector<NativeFunction> CoreNatives();    // native_bindings.cc: console, timers, URL, clone
std::vector<NativeFunction> Utf8Natives();    // utf8_natives.cc
std::vector<NativeFunction> CryptoNatives();  // crypto_natives.cc
std::vector<NativeFunction> CompressionNatives();  // compression_natives.cc
std::vector<NativeFunction> EncodingNatives();     // encoding_natives.cc
std::vector<NativeFunction> WasmNatives();         // wasm_natives.cc
std::vector<NativeFunction> UnicodeNatives();      // unicode_natives.cc
std::vector<NativeFunction> JsonNatives();         // json_natives.cc
const std::vector<NativeFunction>& AllNatives();

// The `native` object. `native.timeOrigin` is set per isolate by the Runtime, after the
// snapshot is loaded.
v8::Local<v8::Object> NewNativeBinding(v8::Local<v8::Context> context);

// Addresses a snapshot refers to (null-terminated): the native callbacks and the bootstrap
// sources (external_sources.h).
const intptr_t* ExternalReferences();

}  // namespace pyruntime
