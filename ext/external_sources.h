// The bootstrap files of ext/js/ as V8 strings over the library's own bytes.
//
// V8 keeps each script's source in the isolate (lazy compilation and Function.prototype.toString
// read it). Copied into the heap, the bootstrap's ~300 KB of source would be in every isolate:
// 300 MB for a thousand apps. As external strings whose resources the snapshot knows by
// address (ExternalReferences), V8 serializes a reference instead of the text, and every
// isolate made from the snapshot reads the one copy in the library's read-only pages.
#pragma once

#include <v8.h>

#include <cstdint>
#include <vector>

namespace pyruntime {

// Bootstrap file `index` (of kJsSources) as an external one-byte string.
v8::Local<v8::String> BootstrapSource(v8::Isolate* isolate, size_t index);

// The addresses of the sources' resources, for the snapshot's external references.
const std::vector<intptr_t>& BootstrapSourceReferences();

}  // namespace pyruntime
