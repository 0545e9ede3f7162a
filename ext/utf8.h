// UTF-8 validation per the WHATWG Encoding Standard (no overlongs, surrogates or code
// points past U+10FFFF), for TextDecoder's `fatal` mode.
#pragma once

#include <string_view>

namespace pyruntime {

bool IsValidUtf8(std::string_view bytes);

}  // namespace pyruntime
