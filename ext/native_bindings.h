// The `native` object the bootstrap JS receives: the functions that need C++ (ext/js/README.md).
#pragma once

#include <v8.h>

namespace pyruntime {

v8::Local<v8::Object> NewNativeBinding(v8::Local<v8::Context> context);

}  // namespace pyruntime
