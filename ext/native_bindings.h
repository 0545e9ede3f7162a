// The `native` object the bootstrap JS receives: the functions that need C++ (ext/js/README.md).
#pragma once

#include <v8.h>

namespace pyruntime {

// `native.timeOrigin` is set per isolate by the Runtime, after the snapshot is loaded.
v8::Local<v8::Object> NewNativeBinding(v8::Local<v8::Context> context);

}  // namespace pyruntime
