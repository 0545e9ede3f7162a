// The bootstrap's sources are read in place: an isolate made from the snapshot holds no copy
// of them (ext/external_sources.h), and what reads a source still works.
#include <v8-profiler.h>
#include <v8.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "check.h"
#include "js_sources.h"
#include "native_bindings.h"
#include "runtime.h"
#include "startup_snapshot.h"

using pyruntime::IsolateLimits;
using pyruntime::Outcome;
using pyruntime::Runtime;
using pyruntime::Status;

namespace {

constexpr char kWrapPrefix[] = "(function (native, internal) {\"use strict\";";

IsolateLimits Limits() {
  IsolateLimits limits;
  limits.memory_limit_bytes = 64u << 20;
  return limits;
}

// Every bootstrap file's source is in the isolate's heap as a string of a few dozen bytes
// (an external string's header), not as its text.
void TestIsolatesHoldNoCopyOfTheSources() {
  { Runtime first(Limits()); }  // makes the snapshot, as a server's first isolate does
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.snapshot_blob = pyruntime::StartupSnapshot();
  params.external_references = pyruntime::ExternalReferences();
  params.array_buffer_allocator = allocator.get();
  v8::Isolate* isolate = v8::Isolate::New(params);
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    CHECK(!context.IsEmpty());
    const v8::HeapSnapshot* snapshot = isolate->GetHeapProfiler()->TakeHeapSnapshot();
    size_t sources = 0;
    size_t largest = 0;
    for (int i = 0; i < snapshot->GetNodesCount(); ++i) {
      const v8::HeapGraphNode* node = snapshot->GetNode(i);
      if (node->GetType() != v8::HeapGraphNode::kString) continue;
      v8::String::Utf8Value name(isolate, node->GetName());
      if (*name == nullptr || std::strncmp(*name, kWrapPrefix, sizeof kWrapPrefix - 1) != 0) continue;
      ++sources;
      largest = std::max(largest, node->GetShallowSize());
    }
    CHECK(sources == pyruntime::kJsSourceCount);
    CHECK(largest < 256);
  }
  isolate->Dispose();
}

// Function.prototype.toString and stack traces read the sources; so does the lazy
// compilation of a bootstrap function that no warm-up ran.
void TestSourcesStillRead() {
  Runtime runtime(Limits());
  Outcome out = runtime.Eval("String(new Headers().append)", "to_string.js");
  CHECK(out.status == Status::kOk);
  CHECK(out.value.text.rfind("append(", 0) == 0);
  out = runtime.Eval("try { new Headers([['only a name']]); 'no error' } catch (e) { e.stack }", "stack.js");
  CHECK(out.status == Status::kOk);
  CHECK(out.value.text.find("pyruntime:60_headers.js:") != std::string::npos);
  out = runtime.Eval("new URLPattern({ pathname: '/a/:id' }).exec('https://x.test/a/7').pathname.groups.id", "lazy.js");
  CHECK(out.status == Status::kOk);
  CHECK(out.value.text == "7");
}

}  // namespace

int main() {
  TestIsolatesHoldNoCopyOfTheSources();
  TestSourcesStillRead();
  return TEST_EXIT_CODE();
}
