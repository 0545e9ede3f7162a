#include "external_sources.h"

#include <memory>

#include "js_sources.h"

namespace pyruntime {

namespace {

// One embedded file. Its bytes are the library's and it lives as long as the process, so an
// isolate that drops the string (or is disposed) has nothing to free.
class EmbeddedSource final : public v8::String::ExternalOneByteStringResource {
 public:
  explicit EmbeddedSource(const JsSource& file) : file_(file) {}
  const char* data() const override { return file_.text; }
  size_t length() const override { return file_.length; }
  void Dispose() override {}

 private:
  const JsSource& file_;
};

// Made once and never freed: a snapshot refers to these objects by address, and isolates may
// outlive static destruction at exit.
const std::vector<std::unique_ptr<EmbeddedSource>>& Resources() {
  static const auto* resources = [] {
    auto* list = new std::vector<std::unique_ptr<EmbeddedSource>>();
    for (size_t i = 0; i < kJsSourceCount; ++i) list->push_back(std::make_unique<EmbeddedSource>(kJsSources[i]));
    return list;
  }();
  return *resources;
}

}  // namespace

v8::Local<v8::String> BootstrapSource(v8::Isolate* isolate, size_t index) {
  return v8::String::NewExternalOneByte(isolate, Resources().at(index).get()).ToLocalChecked();
}

const std::vector<intptr_t>& BootstrapSourceReferences() {
  static const auto* references = [] {
    auto* list = new std::vector<intptr_t>();
    for (const auto& resource : Resources()) list->push_back(reinterpret_cast<intptr_t>(resource.get()));
    return list;
  }();
  return *references;
}

}  // namespace pyruntime
