// Isolate creation in C++, without Python: pyruntime's Runtime (the full global scope from
// its startup snapshot) beside a bare V8 isolate and context from libnode's own snapshot,
// the least any embedder of this V8 pays. Made in turn in one process, so that a busy
// machine slows both alike. Prints one JSON object of medians and p99s in microseconds;
// benchmarks/bench_core.py runs it (built by CMake beside the C++ tests).
#include <v8.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "runtime.h"
#include "v8_platform.h"

namespace {

using Clock = std::chrono::steady_clock;

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

struct Samples {
  std::vector<double> values;
  double At(double fraction) {
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(fraction * values.size()))];
  }
};

// A bare isolate with one context; returns the time of Isolate::New and of Context::New.
void MakeBare(Samples& isolate_us, Samples& context_us, Samples& dispose_us) {
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator.get();
  Clock::time_point start = Clock::now();
  v8::Isolate* isolate = v8::Isolate::New(params);
  isolate_us.values.push_back(MicrosSince(start));
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    start = Clock::now();
    if (v8::Context::New(isolate).IsEmpty()) std::abort();
    context_us.values.push_back(MicrosSince(start));
  }
  start = Clock::now();
  isolate->Dispose();
  dispose_us.values.push_back(MicrosSince(start));
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
  if (rounds < 1) rounds = 1;
  pyruntime::EnsureV8Initialized();
  pyruntime::IsolateLimits limits;
  delete new pyruntime::Runtime(limits);  // makes this process's snapshot, as a server does once
  Samples ours, ours_dispose, bare_isolate, bare_context, bare_dispose, bare_total;
  for (int i = 0; i < rounds; ++i) {
    Clock::time_point start = Clock::now();
    auto* runtime = new pyruntime::Runtime(limits);
    ours.values.push_back(MicrosSince(start));
    start = Clock::now();
    delete runtime;
    ours_dispose.values.push_back(MicrosSince(start));
    size_t before = bare_isolate.values.size();
    MakeBare(bare_isolate, bare_context, bare_dispose);
    bare_total.values.push_back(bare_isolate.values[before] + bare_context.values[before]);
  }
  std::printf(
      "{\"rounds\": %d, \"pyruntime_p50\": %.1f, \"pyruntime_p99\": %.1f, \"pyruntime_dispose_p50\": %.1f, "
      "\"bare_p50\": %.1f, \"bare_p99\": %.1f, \"bare_isolate_p50\": %.1f, \"bare_context_p50\": %.1f, "
      "\"bare_dispose_p50\": %.1f}\n",
      rounds, ours.At(0.5), ours.At(0.99), ours_dispose.At(0.5), bare_total.At(0.5), bare_total.At(0.99),
      bare_isolate.At(0.5), bare_context.At(0.5), bare_dispose.At(0.5));
  return 0;
}
