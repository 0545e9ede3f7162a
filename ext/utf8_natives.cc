// The UTF-8 natives behind TextEncoder and TextDecoder (ext/js/10_encoding.js), in steps: a
// string or a buffer of hundreds of MB is encoded or decoded kStepBytes at a time, and the
// call stops between steps at its time or CPU limit (ext/interruptible.h). Encoded bytes go
// straight into an ArrayBuffer counted against the isolate's memory limit.
#include <algorithm>
#include <cstdint>

#include "interruptible.h"
#include "js_util.h"
#include "native_bindings.h"
#include "string_pieces.h"
#include "utf8.h"

namespace pyruntime {

namespace {

bool IsHighSurrogate(uint16_t unit) { return unit >= 0xD800 && unit <= 0xDBFF; }

// ForEachUtf16Piece that stops, with the error thrown, when the call is being stopped.
template <typename Visit>
bool ForEachPiece(v8::Isolate* isolate, v8::Local<v8::String> text, Visit visit) {
  if (ForEachUtf16Piece(isolate, text, [&] { return StopRequested(isolate); }, visit)) return true;
  ThrowStopped(isolate);
  return false;
}

// utf8Encode(string) -> Uint8Array.
void Utf8Encode(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::String> text;
  if (!args[0]->ToString(isolate->GetCurrentContext()).ToLocal(&text)) return;
  v8::Local<v8::ArrayBuffer> buffer;
  if (static_cast<size_t>(text->Length()) <= kStepUnits) {
    // One step: V8's own encoder, straight into the buffer.
    size_t length = static_cast<size_t>(text->Utf8Length(isolate));
    if (!NewArrayBuffer(isolate, length).ToLocal(&buffer)) return;
    text->WriteUtf8(isolate, static_cast<char*>(buffer->Data()), static_cast<int>(length), nullptr,
                    v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
    return args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, length));
  }
  auto stop = [&] { return StopRequested(isolate); };
  size_t length = 0;
  if (!Utf8LengthInSteps(isolate, text, stop, &length)) return ThrowStopped(isolate);
  if (!NewArrayBuffer(isolate, length).ToLocal(&buffer)) return;
  char* out = static_cast<char*>(buffer->Data());
  auto copy = [&](const char* utf8, size_t size) { out = std::copy_n(utf8, size, out); };
  if (!ForEachUtf8Piece(isolate, text, stop, copy)) return ThrowStopped(isolate);
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, length));
}

// utf8EncodeInto(string, Uint8Array) -> [UTF-16 units read, bytes written]: whole code
// points only, as many as fit.
void Utf8EncodeInto(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[0]->IsString() || !args[1]->IsUint8Array()) {
    return ThrowTypeError(isolate, "encodeInto expects a string and a Uint8Array");
  }
  auto view = args[1].As<v8::Uint8Array>();
  char* start = static_cast<char*>(view->Buffer()->GetBackingStore()->Data()) + view->ByteOffset();
  char* out = start;
  size_t room = view->ByteLength();
  size_t read = 0;
  auto encode = [&](const uint16_t* units, size_t n) {
    size_t bytes = Utf8LengthOfUtf16(units, n);
    if (bytes <= room) {
      out = EncodeUtf16(units, n, out);
      room -= bytes;
      read += n;
      return true;
    }
    for (size_t i = 0; i < n;) {
      size_t step = IsHighSurrogate(units[i]) && i + 1 < n && units[i + 1] >= 0xDC00 && units[i + 1] <= 0xDFFF ? 2 : 1;
      size_t size = Utf8LengthOfUtf16(units + i, step);
      if (size > room) break;
      out = EncodeUtf16(units + i, step, out);
      room -= size;
      read += step;
      i += step;
    }
    return false;
  };
  if (!ForEachPiece(isolate, args[0].As<v8::String>(), encode)) return;
  auto result = v8::Array::New(isolate, 2);
  result->Set(context, 0, v8::Number::New(isolate, static_cast<double>(read))).FromMaybe(false);
  result->Set(context, 1, v8::Number::New(isolate, static_cast<double>(out - start))).FromMaybe(false);
  args.GetReturnValue().Set(result);
}

// utf8Decode(bytes, fatal) -> string. Pieces cut between UTF-8 sequences decode exactly as
// the whole would; they are joined as V8 cons strings.
void Utf8Decode(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  std::string_view bytes;
  if (!RequireBytes(args, 0, &bytes)) return;
  bool fatal = args[1]->BooleanValue(isolate);
  auto pieces = [&](auto visit) {
    for (size_t offset = 0; offset < bytes.size();) {
      if (offset > 0 && StopRequested(isolate)) {
        ThrowStopped(isolate);
        return false;
      }
      std::string_view rest = bytes.substr(offset);
      std::string_view piece = rest.substr(0, Utf8CutBefore(rest, kStepBytes));
      if (!visit(piece)) return false;
      offset += piece.size();
    }
    return true;
  };
  if (fatal && !pieces([&](std::string_view piece) {
        if (IsValidUtf8(piece)) return true;
        ThrowTypeError(isolate, "The encoded data was not valid for encoding utf-8");
        return false;
      })) {
    return;
  }
  v8::Local<v8::String> text;
  bool decoded = pieces([&](std::string_view piece) {
    v8::Local<v8::String> part;
    if (!v8::String::NewFromUtf8(isolate, piece.data(), v8::NewStringType::kNormal, static_cast<int>(piece.size()))
             .ToLocal(&part) ||
        (!text.IsEmpty() &&
         static_cast<size_t>(text->Length()) + part->Length() > static_cast<size_t>(v8::String::kMaxLength))) {
      ThrowRangeError(isolate, "string too long");
      return false;
    }
    text = text.IsEmpty() ? part : v8::String::Concat(isolate, text, part);
    return true;
  });
  if (decoded && text.IsEmpty()) text = v8::String::Empty(isolate);
  if (decoded) args.GetReturnValue().Set(text);
}

}  // namespace

std::vector<NativeFunction> Utf8Natives() {
  return {
      {"utf8Encode", Utf8Encode},
      {"utf8EncodeInto", Utf8EncodeInto},
      {"utf8Decode", Utf8Decode},
  };
}

}  // namespace pyruntime
