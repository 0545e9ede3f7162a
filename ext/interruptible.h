// Long native work in steps. V8's TerminateExecution takes effect only when JS runs again,
// so a native that hashes, ciphers, compresses or converts a large input, or generates an
// RSA key, polls StopRequested() between steps and gives up as soon as the call is being
// stopped (time or CPU limit, Runtime::Terminate(), memory limit). The longest a request can
// then keep a core past its limit is one step: kStepBytes of the slowest work done in steps
// (about 1 ms of SHA-256 or AES here), far under the watchdog's escalation grace period.
// What cannot be split is capped where it is done (crypto_natives.cc, crypto_symmetric_natives.cc).
#pragma once

#include <cstddef>
#include <string_view>

#include <v8.h>

namespace pyruntime {

// Bytes handled by one uninterruptible step.
constexpr size_t kStepBytes = 1u << 20;

// True once the call running in `isolate` is being stopped. False in an isolate without a
// Runtime (the startup snapshot's).
bool StopRequested(v8::Isolate* isolate);

// The error a native throws when it stopped early. JS never sees it run on: termination
// follows as soon as control returns to V8.
void ThrowStopped(v8::Isolate* isolate);

// Calls `step(piece)` on consecutive pieces of at most kStepBytes of `data`, polling
// StopRequested() before each one after the first. Returns false when stopped (with the
// error thrown) or when a step returns false (nothing thrown).
template <typename Step>
bool InSteps(v8::Isolate* isolate, std::string_view data, Step step) {
  for (size_t offset = 0; offset < data.size(); offset += kStepBytes) {
    if (offset > 0 && StopRequested(isolate)) {
      ThrowStopped(isolate);
      return false;
    }
    if (!step(data.substr(offset, kStepBytes))) return false;
  }
  return true;
}

}  // namespace pyruntime
