// V8 is initialised once per process, on first use.
#pragma once

namespace pyruntime {

void EnsureV8Initialized();

}  // namespace pyruntime
