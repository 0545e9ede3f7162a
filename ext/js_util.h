// Small helpers shared by the C++ files that talk to V8.
#pragma once

#include <string>
#include <string_view>

#include <v8.h>

namespace pyruntime {

std::string Utf8(v8::Isolate* isolate, v8::Local<v8::Value> value);
// The UTF-8 of UTF-16 units [start, end) of `string`, without a copy of the rest (a surrogate
// pair cut by `start` or `end` leaves U+FFFD).
std::string Utf8OfUnits(v8::Isolate* isolate, v8::Local<v8::String> string, int start, int end);
// Utf8 for text whose size JS chooses and the host keeps (an error's name, message and stack):
// a string longer than `max_units` UTF-16 units keeps its first and last units, `max_units` in
// all, with a note between them of how many were left out. Whole, a thrown 2**28-character
// string cost the host seconds of CPU and gigabytes in copies, past every limit.
std::string Utf8Bounded(v8::Isolate* isolate, v8::Local<v8::Value> value, int max_units);
// A JS string from UTF-8. Past V8's maximum string length it throws a RangeError in the
// isolate and returns the empty string, so callers never hold an empty handle.
v8::Local<v8::String> NewString(v8::Isolate* isolate, std::string_view text);
// The same, but empty on that RangeError, for callers that must stop there (conversions).
// `type` kInternalized makes a property name as V8 makes its own.
v8::MaybeLocal<v8::String> NewStringOrThrow(v8::Isolate* isolate, std::string_view text,
                                             v8::NewStringType type = v8::NewStringType::kNormal);

// A JS string whose code units are the bytes of `bytes` (Latin-1); the same RangeError.
v8::MaybeLocal<v8::String> NewLatin1StringOrThrow(v8::Isolate* isolate, std::string_view bytes);

// An ArrayBuffer of `length` bytes, zeroed, allocated through the isolate's counting
// allocator; on refusal throws a RangeError in the isolate and returns empty (V8's own
// ArrayBuffer::New would abort the process instead).
v8::MaybeLocal<v8::ArrayBuffer> NewArrayBuffer(v8::Isolate* isolate, size_t length);
v8::MaybeLocal<v8::Uint8Array> NewUint8Array(v8::Isolate* isolate, const void* data, size_t length);

// The bytes of an ArrayBuffer, SharedArrayBuffer or any view on one; false otherwise.
bool BytesOf(v8::Local<v8::Value> value, std::string_view* out);
// BytesOf for argument `index`, throwing a TypeError if it is not bytes.
bool RequireBytes(const v8::FunctionCallbackInfo<v8::Value>& args, int index, std::string_view* out);
// Returns a new ArrayBuffer holding a copy of `data` from a native function.
void ReturnBuffer(const v8::FunctionCallbackInfo<v8::Value>& args, const void* data, size_t length);

void ThrowTypeError(v8::Isolate* isolate, std::string_view message);
void ThrowRangeError(v8::Isolate* isolate, std::string_view message);
void ThrowSyntaxError(v8::Isolate* isolate, std::string_view message);

}  // namespace pyruntime
