// IsValidUtf8 against the WHATWG decoder's rules.
#include <string>

#include "check.h"
#include "utf8.h"

using pyruntime::IsValidUtf8;

int main() {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("\xC3\xA9"));              // é
  CHECK(IsValidUtf8("\xE2\x82\xAC"));          // €
  CHECK(IsValidUtf8("\xF0\x9F\x98\x80"));      // 😀
  CHECK(IsValidUtf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
  CHECK(!IsValidUtf8("\xC0\xAF"));             // overlong '/'
  CHECK(!IsValidUtf8("\xE0\x80\xAF"));         // overlong, 3 bytes
  CHECK(!IsValidUtf8("\xED\xA0\x80"));         // encoded surrogate U+D800
  CHECK(!IsValidUtf8("\xF4\x90\x80\x80"));     // past U+10FFFF
  CHECK(!IsValidUtf8("\xF5\x80\x80\x80"));     // invalid lead byte
  CHECK(!IsValidUtf8("\x80"));                 // lone continuation
  CHECK(!IsValidUtf8("\xE2\x82"));             // truncated at end
  CHECK(!IsValidUtf8("\xE2\x82x"));            // truncated before ASCII
  CHECK(!IsValidUtf8(std::string("\xFF", 1)));
  return TEST_EXIT_CODE();
}
