// Unicode normalization in steps, behind String.prototype.normalize and the check in front of
// collation (ext/js/08_unicode_guards.js).
//
// ICU puts a run of combining marks in canonical order by insertion sort, so its cost grows
// with the square of the run: V8's builtin took 0.6 s of CPU for 'a' followed by 32K
// alternating marks and 41 s for 256K (512 KB of text), in one call TerminateExecution never
// reaches. Here the text is read in pieces and normalized up to the last normalization
// boundary of each (when b begins at a boundary, normalize(a + b) is normalize(a) +
// normalize(b)); the call stops between pieces at its limit, and a run of more than
// kMaxUnboundedRun code units with no boundary in it, which no text in any script has, is
// refused with a RangeError before ICU sees it.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>

#include "interruptible.h"
#include "js_util.h"
#include "native_bindings.h"

namespace pyruntime {

namespace {

// UTF-16 units read and normalized per step: 64K units of the slowest form (NFKD) take
// about a millisecond, and what one step holds in host memory stays small.
constexpr size_t kNormalizePieceUnits = 64 * 1024;
// The longest run without a normalization boundary normalized: ICU's insertion sort of
// 1024 marks takes about half a millisecond. Stream-safe text (UAX #15) has runs of at most 31.
constexpr size_t kMaxUnboundedRun = 1024;

const icu::Normalizer2* NormalizerFor(v8::Isolate* isolate, v8::Local<v8::Value> form) {
  v8::String::Utf8Value name(isolate, form);
  std::string_view text(*name != nullptr ? *name : "", static_cast<size_t>(name.length()));
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  if (text == "NFC") normalizer = icu::Normalizer2::getNFCInstance(status);
  if (text == "NFD") normalizer = icu::Normalizer2::getNFDInstance(status);
  if (text == "NFKC") normalizer = icu::Normalizer2::getNFKCInstance(status);
  if (text == "NFKD") normalizer = icu::Normalizer2::getNFKDInstance(status);
  if (normalizer == nullptr || U_FAILURE(status)) {
    ThrowRangeError(isolate, "The normalization form should be one of NFC, NFD, NFKC, NFKD.");
    return nullptr;
  }
  return normalizer;
}

// Every code point below U+0300 begins a boundary in all four forms (checked against ICU in
// tests/engine/test_unicode_steps.py); the rest ask ICU.
bool BoundaryBefore(const icu::Normalizer2* normalizer, UChar32 c) {
  return c < 0x300 || normalizer->hasBoundaryBefore(c);
}

void ThrowLongRun(v8::Isolate* isolate, const char* what) {
  ThrowRangeError(isolate, std::string(what) + ": more than " + std::to_string(kMaxUnboundedRun) +
                               " characters in a row without a normalization boundary (combining marks, say): "
                               "their cost grows with the square of the run");
}

// Reads `text` in pieces, each extended to end at a normalization boundary, and calls
// `ready(units, count)` on each run of whole segments. False, with an error thrown, when
// the call is being stopped or a run has no boundary for kMaxUnboundedRun units.
template <typename Ready>
bool ForEachSegmentRun(v8::Isolate* isolate, v8::Local<v8::String> text, const icu::Normalizer2* normalizer,
                       const char* what, Ready ready) {
  size_t length = static_cast<size_t>(text->Length());
  std::vector<uint16_t> pending;
  size_t scanned = 0;  // units of `pending` looked at; a lead surrogate at a piece's end waits
  size_t run = 0;      // units since the last boundary
  for (size_t start = 0; start < length;) {
    if (start > 0 && StopRequested(isolate)) {
      ThrowStopped(isolate);
      return false;
    }
    size_t count = std::min(kNormalizePieceUnits, length - start);
    size_t read = pending.size();
    pending.resize(read + count);
    text->Write(isolate, pending.data() + read, static_cast<int>(start), static_cast<int>(count),
                v8::String::NO_NULL_TERMINATION);
    start += count;
    size_t end = pending.size();
    if (start < length && U16_IS_LEAD(pending[end - 1])) --end;  // its trail comes with the next piece
    size_t last_boundary = 0;
    for (size_t i = scanned; i < end;) {
      size_t at = i;
      UChar32 c;
      U16_NEXT(pending.data(), i, end, c);
      if (BoundaryBefore(normalizer, c)) {
        last_boundary = at;
        run = 0;
      } else if ((run += i - at) > kMaxUnboundedRun) {
        ThrowLongRun(isolate, what);
        return false;
      }
    }
    scanned = end;
    if (start >= length) last_boundary = pending.size();
    if (last_boundary == 0) continue;
    if (!ready(pending.data(), last_boundary)) return false;
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(last_boundary));
    scanned -= last_boundary;
  }
  return true;
}

// normalizeInSteps(string, form) -> [units unchanged at the start, the rest normalized]: the
// caller joins `string.slice(0, units)` and the rest, so text that is already normalized
// (most) is never copied.
void NormalizeInSteps(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString()) return ThrowTypeError(isolate, "normalizeInSteps expects a string");
  const icu::Normalizer2* normalizer = NormalizerFor(isolate, args[1]);
  if (normalizer == nullptr) return;
  auto text = args[0].As<v8::String>();
  size_t unchanged = 0;
  bool changed = false;
  v8::Local<v8::String> rest = v8::String::Empty(isolate);
  auto ready = [&](const uint16_t* units, size_t count) {
    icu::UnicodeString source(false, reinterpret_cast<const char16_t*>(units), static_cast<int32_t>(count));
    UErrorCode status = U_ZERO_ERROR;
    if (!changed && normalizer->isNormalized(source, status) && U_SUCCESS(status)) {
      unchanged += count;
      return true;
    }
    changed = true;
    status = U_ZERO_ERROR;
    icu::UnicodeString normalized = normalizer->normalize(source, status);
    if (U_FAILURE(status)) {
      ThrowRangeError(isolate, std::string("String.prototype.normalize: ICU failed: ") + u_errorName(status));
      return false;
    }
    v8::EscapableHandleScope scope(isolate);
    v8::Local<v8::String> piece;
    if (static_cast<size_t>(rest->Length()) + static_cast<size_t>(normalized.length()) > v8::String::kMaxLength ||
        !v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(normalized.getBuffer()),
                                    v8::NewStringType::kNormal, normalized.length())
             .ToLocal(&piece)) {
      ThrowRangeError(isolate, "Invalid string length");
      return false;
    }
    rest = scope.Escape(v8::String::Concat(isolate, rest, piece));
    return true;
  };
  if (!ForEachSegmentRun(isolate, text, normalizer, "String.prototype.normalize", ready)) return;
  v8::Local<v8::Value> result[] = {v8::Number::New(isolate, static_cast<double>(unchanged)), rest};
  args.GetReturnValue().Set(v8::Array::New(isolate, result, 2));
}

// checkNormalizationRuns(string, what): throws the RangeError of normalizeInSteps when the
// string has a run of more than kMaxUnboundedRun units without a canonical (NFD) boundary,
// in steps. For collation, which puts such runs in order the same way.
void CheckNormalizationRuns(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString()) return ThrowTypeError(isolate, "checkNormalizationRuns expects a string");
  v8::String::Utf8Value what(isolate, args[1]);
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) return ThrowRangeError(isolate, "ICU has no NFD data");
  ForEachSegmentRun(isolate, args[0].As<v8::String>(), nfd, *what != nullptr ? *what : "collation",
                    [](const uint16_t*, size_t) { return true; });
}

}  // namespace

std::vector<NativeFunction> UnicodeNatives() {
  return {
      {"normalizeInSteps", NormalizeInSteps},
      {"checkNormalizationRuns", CheckNormalizationRuns},
  };
}

}  // namespace pyruntime
