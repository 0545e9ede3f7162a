// The values that cross between JS and Python, and the one place that decides how
// each JS type converts. The Python side (core.pyx) maps HostValue to Python objects
// one to one, so JS values are read here, inside the isolate, without holding the GIL.
//
// JS -> host: undefined and null -> kNull; booleans; numbers that are safe integers ->
// kInt, other numbers -> kFloat; BigInt -> kBigInt; strings; Arrays -> kList (holes ->
// kNull); plain objects (prototype Object.prototype or null) -> kDict of own enumerable
// string keys (symbol keys are left out); Uint8Array and ArrayBuffer -> kBytes. Everything
// else (functions, symbols, Maps, Dates, other typed arrays...) and cycles are refused with
// an error naming the JS type.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <v8.h>

namespace pyruntime {

struct HostValue {
  enum class Kind {
    kNull, kUndefined, kBool, kInt, kFloat, kBigInt, kString, kBytes, kList, kDict, kDate, kHandle,
    // Host -> JS only: HTTP headers, names and values alternating, each a string whose code
    // units are its bytes (Latin-1). `text` holds them end to end, `words` where each ends.
    // JS gets [plain, [name0, value0, ...]], `plain` when all are as Headers keeps them
    // (Writer::HeaderList).
    kHeaderList,
  };

  Kind kind = Kind::kNull;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  // kBigInt: magnitude as little-endian 64-bit words; `boolean` holds the sign (true = negative).
  std::vector<uint64_t> words;
  // kString (UTF-8) and kBytes; kHandle: the JS type's name ("function", "Promise", "Map"...),
  // with the handle's id in `integer`. kDate keeps its milliseconds in `number`.
  std::string text;
  std::vector<HostValue> items;
  std::vector<std::pair<std::string, HostValue>> entries;

  static HostValue Null() { return HostValue{}; }
  static HostValue Undefined();
  static HostValue Bool(bool value);
  static HostValue Int(int64_t value);
  static HostValue Float(double value);
  static HostValue String(std::string value);
  static HostValue Bytes(std::string value);
};

// Converts a JS value; on refusal returns false and sets `error` to a message that names
// the JS type (the caller raises it as a TypeError). Reading a large value is C++ work V8
// cannot interrupt, so `stop` (if given) is polled and ends the conversion when it says so.
// With `handles`, objects that do not convert become kHandle entries of the isolate's
// HandleTable instead of errors.
// `object_keys`: the bootstrap's own Object.keys, which lists a plain object's keys from its
// map's cache; V8 10.2's API collects them through a new hash set for every object. Without
// it, the API lists them.
bool FromJs(v8::Local<v8::Context> context, v8::Local<v8::Value> value, HostValue* out, std::string* error,
            const std::function<bool()>& stop = {}, bool handles = false,
            v8::Local<v8::Function> object_keys = {});

// Builds the JS value; returns empty if V8 throws (for example out of memory, or a handle
// that was released).
v8::MaybeLocal<v8::Value> ToJs(v8::Local<v8::Context> context, const HostValue& value);

// A readable name of a JS value's type: "Map", "function", "symbol", "Int32Array"...
std::string JsTypeName(v8::Local<v8::Context> context, v8::Local<v8::Value> value);

}  // namespace pyruntime
