// Unicode property escapes in the sources V8 compiles whole. V8 parses each regular
// expression literal of a source as it compiles the source, and again when the literal is
// first evaluated, looking each \p{…} or \P{…} up in ICU (about 0.1 ms under the flag `u`):
// an `eval` of one 500K-character literal of 100K of them took 10.9 s of CPU in one step no
// limit stops. A source holding more than kMaxPropertyEscapes is refused: by
// code_from_strings.cc for `eval` and `new Function`, by the runtime for what the host
// compiles (scripts, modules, Isolate.eval). They are counted anywhere in the text, as a
// literal's body cannot be told from a string's without parsing the source.
#pragma once

#include <string>
#include <string_view>

#include <v8.h>

namespace pyruntime {

// About 0.1 s of parsing at most, where a real program holds a handful.
constexpr int kMaxPropertyEscapes = 1024;

// `\p{` and `\P{` in the text (0 for a text too short to hold more than the bound).
int CountPropertyEscapes(std::string_view text);
int CountPropertyEscapes(v8::Isolate* isolate, v8::Local<v8::String> source);

// The SyntaxError message for a source with `count` of them.
std::string TooManyPropertyEscapes(int count);

}  // namespace pyruntime
