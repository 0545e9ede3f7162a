#include "interruptible.h"

#include "js_util.h"
#include "runtime.h"

namespace pyruntime {

bool StopRequested(v8::Isolate* isolate) {
  auto* runtime = static_cast<Runtime*>(isolate->GetData(0));
  return runtime != nullptr && runtime->StopRequested();
}

void ThrowStopped(v8::Isolate* isolate) {
  isolate->ThrowException(
      v8::Exception::Error(NewString(isolate, "stopped: the call reached its time or CPU limit or was terminated")));
}

}  // namespace pyruntime
