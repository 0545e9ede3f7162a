#include "utf8.h"

#include <cstdint>

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
