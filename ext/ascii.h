// ASCII rules of HTTP: header names and tokens compare without case, whatever the locale, and
// values lose the spaces and tabs around them.
#pragma once

#include <string_view>

namespace pyruntime {

inline char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// Whether every byte of `text` is ASCII.
inline bool AllAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Whether `text` equals `lower` (given in lowercase) without regard to ASCII case.
inline bool EqualsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (AsciiLower(text[i]) != lower[i]) return false;
  }
  return true;
}

// `text` without the spaces and tabs around it (HTTP's optional whitespace).
inline std::string_view TrimSpaces(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == text.npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t") + 1 - begin);
}

}  // namespace pyruntime
