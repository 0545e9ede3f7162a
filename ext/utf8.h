// UTF-8 per the WHATWG Encoding Standard, on plain buffers (no V8): validation for
// TextDecoder's `fatal` mode, encoding of UTF-16, and where a byte buffer may be cut into
// pieces that decode independently. ext/utf8_natives.cc uses them to encode and decode in steps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pyruntime {

// No overlongs, surrogates or code points past U+10FFFF.
bool IsValidUtf8(std::string_view bytes);

// The UTF-8 length of UTF-16 `units`, a lone surrogate counting as U+FFFD (3 bytes).
size_t Utf8LengthOfUtf16(const uint16_t* units, size_t count);

// Writes the UTF-8 of `units` (lone surrogates as U+FFFD) at `out`, which holds
// Utf8LengthOfUtf16(units, count) bytes; returns the end of what it wrote.
char* EncodeUtf16(const uint16_t* units, size_t count, char* out);

// The UTF-8 length of Latin-1 `bytes` (what V8 keeps a one-byte string as): one byte for
// each below 0x80, two for each other.
size_t Utf8LengthOfLatin1(const uint8_t* bytes, size_t count);

// Writes the UTF-8 of Latin-1 `bytes` at `out`, which holds Utf8LengthOfLatin1(bytes, count)
// bytes; returns the end of what it wrote.
char* EncodeLatin1(const uint8_t* bytes, size_t count, char* out);

// A cut point at or below `limit` (limit <= bytes.size()) such that bytes before and after it
// decode, and validate, exactly as the whole does: it never falls inside a UTF-8 sequence.
size_t Utf8CutBefore(std::string_view bytes, size_t limit);

}  // namespace pyruntime
