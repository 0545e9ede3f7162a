// A V8 string read in pieces, so that encoding a string of hundreds of MB can stop between
// pieces (ext/interruptible.h): as its UTF-16, or as its bytes when V8 keeps it as one byte
// per character (Latin-1, most large strings). Used by the UTF-8 natives and by the
// conversion of JS strings to host values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <v8.h>

#include "interruptible.h"
#include "utf8.h"

namespace pyruntime {

constexpr size_t kStepUnits = kStepBytes / 2;
// Pieces of a one-byte string small enough for the buffer to stay in cache.
constexpr size_t kLatin1PieceBytes = 64 * 1024;

// Calls `visit(units, count)` on consecutive pieces of `text`, never between the two halves
// of a surrogate pair, until `visit` returns false. Polls `stop()` before each piece after the
// first and returns false as soon as it says so.
template <typename Stop, typename Visit>
bool ForEachUtf16Piece(v8::Isolate* isolate, v8::Local<v8::String> text, Stop stop, Visit visit) {
  size_t length = static_cast<size_t>(text->Length());
  std::vector<uint16_t> buffer(std::min(length, kStepUnits));
  for (size_t start = 0; start < length;) {
    if (start > 0 && stop()) return false;
    size_t count = std::min(kStepUnits, length - start);
    text->Write(isolate, buffer.data(), static_cast<int>(start), static_cast<int>(count),
                v8::String::NO_NULL_TERMINATION);
    bool high_last = buffer[count - 1] >= 0xD800 && buffer[count - 1] <= 0xDBFF;
    if (start + count < length && count > 1 && high_last) --count;
    if (!visit(buffer.data(), count)) return true;
    start += count;
  }
  return true;
}

// Calls `visit(bytes, count)` on consecutive pieces of a one-byte string's Latin-1 bytes, of
// at most kLatin1PieceBytes, polling `stop()` before each piece after the first; false as
// soon as it says so.
template <typename Stop, typename Visit>
bool ForEachLatin1Piece(v8::Isolate* isolate, v8::Local<v8::String> text, Stop stop, Visit visit) {
  size_t length = static_cast<size_t>(text->Length());
  std::vector<uint8_t> buffer(std::min(length, kLatin1PieceBytes));
  for (size_t start = 0; start < length; start += kLatin1PieceBytes) {
    if (start > 0 && stop()) return false;
    size_t count = std::min(kLatin1PieceBytes, length - start);
    text->WriteOneByte(isolate, buffer.data(), static_cast<int>(start), static_cast<int>(count),
                       v8::String::NO_NULL_TERMINATION);
    visit(buffer.data(), count);
  }
  return true;
}

// The UTF-8 length of `text` (lone surrogates as U+FFFD), in steps; false when `stop()` said so.
template <typename Stop>
bool Utf8LengthInSteps(v8::Isolate* isolate, v8::Local<v8::String> text, Stop stop, size_t* length) {
  *length = 0;
  if (text->IsOneByte()) {
    return ForEachLatin1Piece(isolate, text, stop,
                              [&](const uint8_t* bytes, size_t n) { *length += Utf8LengthOfLatin1(bytes, n); });
  }
  return ForEachUtf16Piece(isolate, text, stop, [&](const uint16_t* units, size_t n) {
    *length += Utf8LengthOfUtf16(units, n);
    return true;
  });
}

// Calls `visit(utf8, size)` on the UTF-8 of consecutive pieces of `text` (lone surrogates as
// U+FFFD), in steps; false when `stop()` said so. A one-byte string's ASCII pieces are
// passed as they are read.
template <typename Stop, typename Visit>
bool ForEachUtf8Piece(v8::Isolate* isolate, v8::Local<v8::String> text, Stop stop, Visit visit) {
  std::string piece;
  if (text->IsOneByte()) {
    return ForEachLatin1Piece(isolate, text, stop, [&](const uint8_t* bytes, size_t n) {
      size_t size = Utf8LengthOfLatin1(bytes, n);
      if (size == n) return visit(reinterpret_cast<const char*>(bytes), n);
      piece.resize(size);
      EncodeLatin1(bytes, n, piece.data());
      visit(piece.data(), size);
    });
  }
  return ForEachUtf16Piece(isolate, text, stop, [&](const uint16_t* units, size_t n) {
    piece.resize(Utf8LengthOfUtf16(units, n));
    EncodeUtf16(units, n, piece.data());
    visit(piece.data(), piece.size());
    return true;
  });
}

// The UTF-8 of `text` (lone surrogates as U+FFFD) in `out`, in steps; false when `stop()` said so.
template <typename Stop>
bool Utf8InSteps(v8::Isolate* isolate, v8::Local<v8::String> text, Stop stop, std::string* out) {
  if (static_cast<size_t>(text->Length()) <= kStepUnits) {
    // One step: V8's own encoder.
    out->resize(static_cast<size_t>(text->Utf8Length(isolate)));
    text->WriteUtf8(isolate, out->data(), static_cast<int>(out->size()), nullptr,
                    v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
    return true;
  }
  size_t length = 0;
  if (!Utf8LengthInSteps(isolate, text, stop, &length)) return false;
  // Reserved, not resized: the pages are touched only as far as the encoding gets.
  out->clear();
  out->reserve(length);
  return ForEachUtf8Piece(isolate, text, stop, [&](const char* utf8, size_t size) { out->append(utf8, size); });
}

}  // namespace pyruntime
