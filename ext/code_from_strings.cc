#include "code_from_strings.h"

#include <string>

#include "js_util.h"

namespace pyruntime {

namespace {

// V8 asks this only for a context that disallows code from strings; a source within the
// bound is allowed as it is.
v8::ModifyCodeGenerationFromStringsResult AllowShortSource(v8::Local<v8::Context>, v8::Local<v8::Value> source,
                                                          bool) {
  v8::ModifyCodeGenerationFromStringsResult result;
  result.codegen_allowed = !source->IsString() || source.As<v8::String>()->Length() <= kMaxCodeFromStringUnits;
  return result;
}

}  // namespace

void LimitCodeFromStrings(v8::Isolate* isolate, v8::Local<v8::Context> context) {
  isolate->SetModifyCodeGenerationFromStringsCallback(AllowShortSource);
  context->AllowCodeGenerationFromStrings(false);
  context->SetErrorMessageForCodeGenerationFromStrings(
      NewString(isolate, "eval and new Function take at most " + std::to_string(kMaxCodeFromStringUnits) +
                             " characters of source: a longer one compiles in one step the CPU limit cannot stop"));
}

}  // namespace pyruntime
