#include "utf8.h"

#include <cstdint>
#include <cstring>

namespace pyruntime {

bool IsValidUtf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* end = p + bytes.size();
  while (p < end) {
    uint8_t lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    int needed;
    uint8_t lower = 0x80;
    uint8_t upper = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      needed = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      needed = 2;
      if (lead == 0xE0) lower = 0xA0;
      if (lead == 0xED) upper = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      needed = 3;
      if (lead == 0xF0) lower = 0x90;
      if (lead == 0xF4) upper = 0x8F;
    } else {
      return false;
    }
    if (end - p <= needed) return false;
    for (int i = 1; i <= needed; ++i) {
      uint8_t next = p[i];
      if (next < lower || next > upper) return false;
      lower = 0x80;
      upper = 0xBF;
    }
    p += needed + 1;
  }
  return true;
}

}  // namespace pyruntime

namespace pyruntime {

namespace {
bool IsHigh(uint16_t unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
bool IsLow(uint16_t unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }
}  // namespace

size_t Utf8LengthOfUtf16(const uint16_t* units, size_t count) {
  size_t length = 0;
  for (size_t i = 0; i < count; ++i) {
    uint16_t unit = units[i];
    if (unit < 0x80) {
      length += 1;
    } else if (unit < 0x800) {
      length += 2;
    } else if (IsHigh(unit) && i + 1 < count && IsLow(units[i + 1])) {
      length += 4;
      ++i;
    } else {
      length += 3;  // the BMP, and a lone surrogate as U+FFFD
    }
  }
  return length;
}

size_t Utf8LengthOfLatin1(const uint8_t* bytes, size_t count) {
  // Eight bytes at a time: each byte's high bit, moved to its low bit, summed by a multiply
  // into the top byte (a portable count: no popcount instruction is assumed).
  size_t high = 0;
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    high += static_cast<size_t>((((word & 0x8080808080808080ULL) >> 7) * 0x0101010101010101ULL) >> 56);
  }
  for (; i < count; ++i) high += bytes[i] >> 7;
  return count + high;
}

char* EncodeLatin1(const uint8_t* bytes, size_t count, char* out) {
  for (size_t i = 0; i < count; ++i) {
    uint8_t byte = bytes[i];
    if (byte < 0x80) {
      *out++ = static_cast<char>(byte);
    } else {
      *out++ = static_cast<char>(0xC0 | (byte >> 6));
      *out++ = static_cast<char>(0x80 | (byte & 0x3F));
    }
  }
  return out;
}

char* EncodeUtf16(const uint16_t* units, size_t count, char* out) {
  auto put = [&](uint32_t byte) { *out++ = static_cast<char>(byte); };
  for (size_t i = 0; i < count; ++i) {
    uint32_t c = units[i];
    if (IsHigh(units[i]) && i + 1 < count && IsLow(units[i + 1])) {
      c = 0x10000 + ((c - 0xD800) << 10) + (units[++i] - 0xDC00);
    } else if (IsHigh(units[i]) || IsLow(units[i])) {
      c = 0xFFFD;
    }
    if (c < 0x80) {
      put(c);
    } else if (c < 0x800) {
      put(0xC0 | (c >> 6));
      put(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      put(0xE0 | (c >> 12));
      put(0x80 | ((c >> 6) & 0x3F));
      put(0x80 | (c & 0x3F));
    } else {
      put(0xF0 | (c >> 18));
      put(0x80 | ((c >> 12) & 0x3F));
      put(0x80 | ((c >> 6) & 0x3F));
      put(0x80 | (c & 0x3F));
    }
  }
  return out;
}

size_t Utf8CutBefore(std::string_view bytes, size_t limit) {
  if (limit >= bytes.size()) return bytes.size();
  // A byte that is not a continuation byte (10xxxxxx) starts a new sequence whatever came
  // before. After four continuation bytes in a row no sequence (four bytes at most) is open.
  for (size_t cut = limit; cut > 0 && cut + 4 > limit; --cut) {
    if ((static_cast<uint8_t>(bytes[cut]) & 0xC0) != 0x80) return cut;
  }
  return limit;
}

}  // namespace pyruntime
