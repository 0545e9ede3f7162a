// IsValidUtf8 against the WHATWG decoder's rules; UTF-16 and Latin-1 encoding; where bytes may be cut.
#include <string>

#include "check.h"
#include "utf8.h"

using pyruntime::EncodeLatin1;
using pyruntime::EncodeUtf16;
using pyruntime::IsValidUtf8;
using pyruntime::Utf8CutBefore;
using pyruntime::Utf8LengthOfLatin1;
using pyruntime::Utf8LengthOfUtf16;

namespace {

std::string Encode(std::u16string text) {
  const auto* units = reinterpret_cast<const uint16_t*>(text.data());
  std::string out(Utf8LengthOfUtf16(units, text.size()), '\0');
  char* end = EncodeUtf16(units, text.size(), out.data());
  return end == out.data() + out.size() ? out : "length mismatch";
}

std::string EncodeBytes(const std::string& latin1) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(latin1.data());
  std::string out(Utf8LengthOfLatin1(bytes, latin1.size()), '\0');
  char* end = EncodeLatin1(bytes, latin1.size(), out.data());
  return end == out.data() + out.size() ? out : "length mismatch";
}

}  // namespace

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

  CHECK(Encode(u"a\u00e9\u20ac") == "a\xC3\xA9\xE2\x82\xAC");
  CHECK(Encode(u"\U0001F600") == "\xF0\x9F\x98\x80");                          // a surrogate pair
  CHECK(Encode(std::u16string(1, 0xD83D) + u"x") == "\xEF\xBF\xBDx");           // lone high -> U+FFFD
  CHECK(Encode(std::u16string(1, 0xDE00)) == "\xEF\xBF\xBD");                   // lone low
  CHECK(Encode(std::u16string{0xDE00, 0xD83D}) == "\xEF\xBF\xBD\xEF\xBF\xBD");  // reversed pair

  CHECK(EncodeBytes("") == "");
  CHECK(EncodeBytes("plain") == "plain");
  CHECK(EncodeBytes("caf\xE9") == "caf\xC3\xA9");                        // é
  CHECK(EncodeBytes(std::string("\x00\x7F\x80\xFF", 4)) == std::string("\x00\x7F\xC2\x80\xC3\xBF", 6));
  for (int byte = 0; byte < 256; ++byte) {  // as the UTF-16 encoder has it, for every Latin-1 character
    std::string one(1, static_cast<char>(byte));
    CHECK(EncodeBytes(one) == Encode(std::u16string(1, static_cast<char16_t>(byte))));
  }

  std::string text = "ab\xE2\x82\xAC" "cd\xF0\x9F\x98\x80";
  CHECK(Utf8CutBefore(text, 2) == 2);     // before the lead byte of the euro sign
  CHECK(Utf8CutBefore(text, 3) == 2);     // inside it: back to its lead
  CHECK(Utf8CutBefore(text, 4) == 2);
  CHECK(Utf8CutBefore(text, 5) == 5);
  CHECK(Utf8CutBefore(text, 10) == 7);    // inside the 4-byte sequence, three bytes in
  CHECK(Utf8CutBefore(text, 99) == text.size());
  std::string strays = "a\x80\x80\x80\x80\x80";
  CHECK(Utf8CutBefore(strays, 5) == 5);   // four continuation bytes: no sequence can be open
  for (size_t limit = 1; limit < text.size(); ++limit) {
    size_t cut = Utf8CutBefore(text, limit);
    CHECK(cut > 0 && cut <= limit);
    CHECK(IsValidUtf8(text.substr(0, cut)) && IsValidUtf8(text.substr(cut)));
  }
  return TEST_EXIT_CODE();
}
