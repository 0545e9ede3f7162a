#include "js_util.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "utf8.h"

namespace pyruntime {

namespace {

// `value` as a JS string (ToString, which may run JS, for anything else); false if that throws.
bool AsString(v8::Isolate* isolate, v8::Local<v8::Value> value, v8::Local<v8::String>* string) {
  if (value->IsString()) {
    *string = value.As<v8::String>();
    return true;
  }
  return value->ToString(isolate->GetCurrentContext()).ToLocal(string);
}

}  // namespace

std::string Utf8(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::Local<v8::String> string;
  if (!AsString(isolate, value, &string)) return {};
  std::string out;
  out.resize(string->Utf8Length(isolate));
  string->WriteUtf8(isolate, out.data(), static_cast<int>(out.size()), nullptr,
                    v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  return out;
}

std::string Utf8OfUnits(v8::Isolate* isolate, v8::Local<v8::String> string, int start, int end) {
  std::vector<uint16_t> units(static_cast<size_t>(std::max(0, end - start)));
  if (units.empty()) return {};
  string->Write(isolate, units.data(), start, static_cast<int>(units.size()), v8::String::NO_NULL_TERMINATION);
  std::string out(Utf8LengthOfUtf16(units.data(), units.size()), '\0');
  EncodeUtf16(units.data(), units.size(), out.data());
  return out;
}

std::string Utf8Bounded(v8::Isolate* isolate, v8::Local<v8::Value> value, int max_units) {
  v8::Local<v8::String> string;
  if (!AsString(isolate, value, &string)) return {};
  const int length = string->Length();
  if (length <= max_units) return Utf8(isolate, string);
  const int tail = max_units / 4;
  const int head = max_units - tail;
  return Utf8OfUnits(isolate, string, 0, head) + "\n[... " + std::to_string(length - max_units) +
         " characters left out ...]\n" + Utf8OfUnits(isolate, string, length - tail, length);
}

v8::MaybeLocal<v8::String> NewStringOrThrow(v8::Isolate* isolate, std::string_view text, v8::NewStringType type) {
  // V8 takes at most kMaxLength bytes of UTF-8 at once, though they may make fewer UTF-16
  // units (2**28 'é' are 2**29 bytes): longer text is made in pieces cut between code points
  // and joined, and only a result longer than kMaxLength units is refused.
  constexpr size_t kMaxPiece = v8::String::kMaxLength;
  v8::Local<v8::String> joined;
  if (text.size() <= kMaxPiece) {  // every string but the largest: one piece
    if (v8::String::NewFromUtf8(isolate, text.data(), type, static_cast<int>(text.size())).ToLocal(&joined)) {
      return joined;
    }
    ThrowRangeError(isolate, "Invalid string length");
    return {};
  }
  joined = v8::String::Empty(isolate);
  while (!text.empty()) {
    size_t cut = std::min(text.size(), kMaxPiece);
    size_t at = cut;  // back to the start of a code point, unless the bytes are not UTF-8
    while (at < text.size() && at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
    if (at > 0) cut = at;
    v8::Local<v8::String> piece;
    if (!v8::String::NewFromUtf8(isolate, text.data(), type, static_cast<int>(cut)).ToLocal(&piece)) break;
    joined = joined->Length() == 0 ? piece : v8::String::Concat(isolate, joined, piece);
    if (joined.IsEmpty()) break;
    text.remove_prefix(cut);
  }
  if (text.empty()) return joined;
  ThrowRangeError(isolate, "Invalid string length");
  return {};
}

v8::MaybeLocal<v8::String> NewLatin1StringOrThrow(v8::Isolate* isolate, std::string_view bytes) {
  v8::Local<v8::String> string;
  if (bytes.size() <= static_cast<size_t>(v8::String::kMaxLength) &&
      v8::String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t*>(bytes.data()), v8::NewStringType::kNormal,
                                 static_cast<int>(bytes.size()))
          .ToLocal(&string)) {
    return string;
  }
  ThrowRangeError(isolate, "Invalid string length");
  return {};
}

v8::Local<v8::String> NewString(v8::Isolate* isolate, std::string_view text) {
  v8::Local<v8::String> string;
  return NewStringOrThrow(isolate, text).ToLocal(&string) ? string : v8::String::Empty(isolate);
}

v8::MaybeLocal<v8::ArrayBuffer> NewArrayBuffer(v8::Isolate* isolate, size_t length) {
  v8::ArrayBuffer::Allocator* allocator = isolate->GetArrayBufferAllocator();
  void* data = allocator->Allocate(length);
  if (data == nullptr) {
    ThrowRangeError(isolate, "Array buffer allocation failed");
    return {};
  }
  auto store = v8::ArrayBuffer::NewBackingStore(
      data, length,
      [](void* bytes, size_t size, void* owner) {
        static_cast<v8::ArrayBuffer::Allocator*>(owner)->Free(bytes, size);
      },
      allocator);
  return v8::ArrayBuffer::New(isolate, std::move(store));
}

v8::MaybeLocal<v8::Uint8Array> NewUint8Array(v8::Isolate* isolate, const void* data, size_t length) {
  v8::Local<v8::ArrayBuffer> buffer;
  if (!NewArrayBuffer(isolate, length).ToLocal(&buffer)) return {};
  if (length > 0) std::memcpy(buffer->Data(), data, length);
  return v8::Uint8Array::New(buffer, 0, length);
}

bool BytesOf(v8::Local<v8::Value> value, std::string_view* out) {
  if (value->IsArrayBufferView()) {
    auto view = value.As<v8::ArrayBufferView>();
    auto store = view->Buffer()->GetBackingStore();
    *out = std::string_view(static_cast<const char*>(store->Data()) + view->ByteOffset(), view->ByteLength());
    return true;
  }
  if (value->IsArrayBuffer()) {
    auto store = value.As<v8::ArrayBuffer>()->GetBackingStore();
    *out = std::string_view(static_cast<const char*>(store->Data()), store->ByteLength());
    return true;
  }
  if (value->IsSharedArrayBuffer()) {
    auto store = value.As<v8::SharedArrayBuffer>()->GetBackingStore();
    *out = std::string_view(static_cast<const char*>(store->Data()), store->ByteLength());
    return true;
  }
  return false;
}

bool RequireBytes(const v8::FunctionCallbackInfo<v8::Value>& args, int index, std::string_view* out) {
  if (args.Length() > index && BytesOf(args[index], out)) return true;
  ThrowTypeError(args.GetIsolate(), "expected an ArrayBuffer or a view on one");
  return false;
}

void ReturnBuffer(const v8::FunctionCallbackInfo<v8::Value>& args, const void* data, size_t length) {
  v8::Local<v8::ArrayBuffer> buffer;
  if (!NewArrayBuffer(args.GetIsolate(), length).ToLocal(&buffer)) return;
  if (length > 0) std::memcpy(buffer->Data(), data, length);
  args.GetReturnValue().Set(buffer);
}

void ThrowTypeError(v8::Isolate* isolate, std::string_view message) {
  isolate->ThrowException(v8::Exception::TypeError(NewString(isolate, message)));
}

void ThrowRangeError(v8::Isolate* isolate, std::string_view message) {
  isolate->ThrowException(v8::Exception::RangeError(NewString(isolate, message)));
}

void ThrowSyntaxError(v8::Isolate* isolate, std::string_view message) {
  isolate->ThrowException(v8::Exception::SyntaxError(NewString(isolate, message)));
}

}  // namespace pyruntime
