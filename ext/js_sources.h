// The bootstrap JS files of ext/js/ and the snapshot's warm-up, embedded at build time by embed_js.py.
#pragma once

#include <cstddef>

namespace pyruntime {

struct JsSource {
  const char* name;
  const char* text;
  size_t length;
};

extern const JsSource kJsSources[];
extern const size_t kJsSourceCount;
extern const JsSource kWarmupSource;

}  // namespace pyruntime
