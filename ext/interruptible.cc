#include "interruptible.h"

#include "js_util.h"
#include "host_interface.h"

namespace pyruntime {

bool StopRequested(v8::Isolate* isolate) {
  HostInterface* host = HostInterface::Of(isolate);
  return host != nullptr && host->StopRequested();
}

void ThrowStopped(v8::Isolate* isolate) {
  isolate->ThrowException(
      v8::Exception::Error(NewString(isolate, "stopped: the call reached its time or CPU limit or was terminated")));
}

}  // namespace pyruntime
