#include "http_headers.h"

namespace pyruntime {

namespace {

bool IsLowercaseTokenChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsEdgeWhitespace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0'; }

}  // namespace

bool IsPlainHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!IsLowercaseTokenChar(c)) return false;
  }
  return true;
}

bool IsPlainHeaderValue(std::string_view value) {
  if (value.empty()) return true;
  if (IsEdgeWhitespace(value.front()) || IsEdgeWhitespace(value.back())) return false;
  for (unsigned char c : value) {
    if (c == '\0' || c == '\n' || c == '\r') return false;
  }
  return true;
}

}  // namespace pyruntime
