// Where JSON.parse in steps (ext/js/09_json_steps.js) may hand a piece of the text to V8's
// parser: a scan of brackets and quotes over at most one step of the text, which the JS
// reader did a unit at a time at about 11 ns per unit (half the time of reading a 10 MB body).
// It checks nothing else: the builtin checks what it is given, and the JS reader finds where
// a piece the builtin refused goes wrong.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "js_util.h"
#include "native_bindings.h"

namespace pyruntime {

namespace {

// Units looked at per call: a step of 09_json_steps.js (PARSE_STEP).
constexpr int kJsonStepUnits = 64 * 1024;

bool IsJsonSpace(uint16_t unit) { return unit == ' ' || unit == '\n' || unit == '\r' || unit == '\t'; }

// Units are read from V8 as the scan reaches them, a chunk at a time: a small value costs a
// small read, not a whole step's.
constexpr int kFirstChunkUnits = 256;

class SpanScanner {
 public:
  SpanScanner(v8::Isolate* isolate, v8::Local<v8::String> text, int at, int window)
      : isolate_(isolate), text_(text), at_(at), window_(window) {}

  // One past the value starting at `at`, or -1 if it does not end within the units. A
  // container that does not end leaves the positions of the containers still open in `open_`.
  int ValueEnd(int at) {
    uint16_t first = At(at);
    if (first == '"') return StringEnd(at);
    if (first != '[' && first != '{') return ScalarEnd(at);
    open_.clear();
    for (int index = at; index < Size(); index++) {
      uint16_t unit = At(index);
      if (unit == '"') {
        index = StringEnd(index) - 1;
        if (index < 0) return -1;
      } else if (unit == '[' || unit == '{') {
        open_.push_back(index);
      } else if (unit == ']' || unit == '}') {
        open_.pop_back();
        if (open_.empty()) return index + 1;
      }
    }
    return -1;
  }

  // One past the member `"name": value` starting at `at`, or -1 as ValueEnd.
  int MemberEnd(int at) {
    if (At(at) != '"') return -1;
    int colon = SkipSpace(StringEnd(at) < 0 ? Size() : StringEnd(at));
    if (colon >= Size() || At(colon) != ':') return -1;
    int value = SkipSpace(colon + 1);
    return value >= Size() ? -1 : ValueEnd(value);
  }

  int SkipSpace(int at) {
    while (at < Size() && IsJsonSpace(At(at))) at++;
    return at;
  }

  int Size() const { return window_; }
  uint16_t At(int index) {
    if (index >= static_cast<int>(units_.size())) Load(index);
    return units_[static_cast<size_t>(index)];
  }
  const std::vector<int>& open() const { return open_; }

 private:
  // Reads at least up to `index`, doubling what is held, within the window.
  void Load(int index) {
    int held = static_cast<int>(units_.size());
    int want = std::min(window_, std::max({index + 1, 2 * held, kFirstChunkUnits}));
    units_.resize(static_cast<size_t>(want));
    text_->Write(isolate_, units_.data() + held, at_ + held, want - held, v8::String::NO_NULL_TERMINATION);
  }

  int StringEnd(int at) {
    for (int index = at + 1; index < Size(); index++) {
      if (At(index) == '\\') {
        index++;
      } else if (At(index) == '"') {
        return index + 1;
      }
    }
    return -1;
  }

  // A number or literal, up to a comma, bracket or space; -1 if empty or unended.
  int ScalarEnd(int at) {
    for (int index = at; index < Size(); index++) {
      uint16_t unit = At(index);
      if (unit == ',' || unit == ']' || unit == '}' || IsJsonSpace(unit)) return index == at ? -1 : index;
    }
    return -1;
  }

  v8::Isolate* isolate_;
  v8::Local<v8::String> text_;
  int at_;
  int window_;
  std::vector<uint16_t> units_;
  std::vector<int> open_;
};

// What jsonSpan looks for from its position.
enum SpanKind { kValue = 0, kElements = 1, kMembers = 2 };

// jsonSpan(text, at, kind): in text[at, at + 64K), one past the value that starts at `at` or
// the longest run of whole array elements (kElements) or object members (kMembers) from `at`,
// separated by commas and spaces; -1 if that value or the run's first does not end there.
// When what does not end is a container, the result is instead the positions of the containers
// still open where the step ends (each longer than the rest of the step), so that the reader
// never scans them again.
void JsonSpan(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsString() || !args[1]->IsUint32() || !args[2]->IsUint32() || args[2].As<v8::Uint32>()->Value() > 2) {
    return ThrowTypeError(isolate, "expected a string, a position and a kind of span");
  }
  auto kind = static_cast<SpanKind>(args[2].As<v8::Uint32>()->Value());
  v8::Local<v8::String> text = args[0].As<v8::String>();
  int at = static_cast<int>(args[1].As<v8::Uint32>()->Value());
  int length = text->Length();
  if (at >= length) return args.GetReturnValue().Set(-1);
  SpanScanner scanner(isolate, text, at, std::min(kJsonStepUnits, length - at));
  auto one = [&](int from) { return kind == kMembers ? scanner.MemberEnd(from) : scanner.ValueEnd(from); };
  int end = one(0);
  if (end == -1) {
    if (scanner.open().empty()) return args.GetReturnValue().Set(-1);
    std::vector<v8::Local<v8::Value>> open;
    for (int position : scanner.open()) open.push_back(v8::Number::New(isolate, at + position));
    return args.GetReturnValue().Set(v8::Array::New(isolate, open.data(), open.size()));
  }
  if (kind != kValue) {
    for (;;) {
      int next = scanner.SkipSpace(end);
      if (next >= scanner.Size() || scanner.At(next) != ',') break;
      next = scanner.SkipSpace(next + 1);
      if (next >= scanner.Size()) break;
      int element = one(next);
      if (element == -1) break;
      end = element;
    }
  }
  args.GetReturnValue().Set(at + end);
}

}  // namespace

std::vector<NativeFunction> JsonNatives() {
  return {
      {"jsonSpan", JsonSpan},
  };
}

}  // namespace pyruntime
