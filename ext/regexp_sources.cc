#include "regexp_sources.h"

#include <vector>

namespace pyruntime {

namespace {

// Each escape is at least `\p{x}`: a text this short cannot pass the bound, and is not read.
constexpr size_t kShortest = 5 * kMaxPropertyEscapes;

template <typename Unit>
int Count(const Unit* text, size_t length) {
  if (length <= kShortest) return 0;
  int count = 0;
  for (size_t i = 0; i + 2 < length; ++i) {
    if (text[i] == '\\' && (text[i + 1] == 'p' || text[i + 1] == 'P') && text[i + 2] == '{') {
      ++count;
      i += 2;
    }
  }
  return count;
}

}  // namespace

int CountPropertyEscapes(std::string_view text) { return Count(text.data(), text.size()); }

int CountPropertyEscapes(v8::Isolate* isolate, v8::Local<v8::String> source) {
  const int length = source->Length();
  if (static_cast<size_t>(length) <= kShortest) return 0;  // not copied
  std::vector<uint16_t> units(static_cast<size_t>(length));
  source->Write(isolate, units.data(), 0, length, v8::String::NO_NULL_TERMINATION);
  return Count(units.data(), units.size());
}

std::string TooManyPropertyEscapes(int count) {
  return "the source holds " + std::to_string(count) + " Unicode property escapes (\\p{...}), more than " +
         std::to_string(kMaxPropertyEscapes) +
         ": V8 looks each up when it parses a regular expression literal, in one step the CPU limit cannot stop";
}

}  // namespace pyruntime
