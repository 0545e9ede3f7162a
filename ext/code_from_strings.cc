#include "code_from_strings.h"

#include <string>

#include "js_util.h"
#include "regexp_sources.h"

namespace pyruntime {

namespace {

// V8 asks this only for a context that disallows code from strings; a source within the
// bounds is allowed as it is.
v8::ModifyCodeGenerationFromStringsResult AllowBoundedSource(v8::Local<v8::Context> context,
                                                          v8::Local<v8::Value> source, bool) {
  v8::ModifyCodeGenerationFromStringsResult result;
  if (!source->IsString()) {
    result.codegen_allowed = true;
    return result;
  }
  auto text = source.As<v8::String>();
  result.codegen_allowed = text->Length() <= kMaxCodeFromStringUnits &&
                           CountPropertyEscapes(context->GetIsolate(), text) <= kMaxPropertyEscapes;
  return result;
}

}  // namespace

void LimitCodeFromStrings(v8::Isolate* isolate, v8::Local<v8::Context> context) {
  isolate->SetModifyCodeGenerationFromStringsCallback(AllowBoundedSource);
  context->AllowCodeGenerationFromStrings(false);
  context->SetErrorMessageForCodeGenerationFromStrings(
      NewString(isolate, "eval and new Function take at most " + std::to_string(kMaxCodeFromStringUnits) +
                             " characters of source, holding at most " + std::to_string(kMaxPropertyEscapes) +
                             " Unicode property escapes (\\p{...}): a larger one compiles in one step the CPU limit "
                             "cannot stop"));
}

}  // namespace pyruntime
