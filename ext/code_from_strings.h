// eval, new Function and friends compile their source in one step that termination cannot
// stop: measured, a 30 MB source took 3.1 s of CPU and 540 MB under a 50 ms limit (in a
// worker, past the process guard's grace: every in-flight request lost). Sources longer than
// kMaxCodeFromStringUnits, or holding more than kMaxPropertyEscapes (regexp_sources.h), are
// refused with an EvalError saying so. Code the host compiles (scripts, modules, Isolate.eval)
// is not code from strings: the runtime checks its property escapes itself.
#pragma once

#include <v8.h>

namespace pyruntime {

// UTF-16 units: `eval` of 2**20 of them (`1+1+...`) took 43 ms of CPU.
constexpr int kMaxCodeFromStringUnits = 1 << 20;

// Once per isolate, for its context: V8 then asks before compiling code from a string.
void LimitCodeFromStrings(v8::Isolate* isolate, v8::Local<v8::Context> context);

}  // namespace pyruntime
