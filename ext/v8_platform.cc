#include "v8_platform.h"

#include <memory>
#include <mutex>

#include <libplatform/libplatform.h>
#include <v8.h>

namespace pyruntime {

void EnsureV8Initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Lives for the rest of the process: V8 cannot be re-initialised after disposal.
    static std::unique_ptr<v8::Platform> platform = v8::platform::NewDefaultPlatform();
    v8::V8::InitializePlatform(platform.get());
    v8::V8::Initialize();
  });
}

}  // namespace pyruntime
