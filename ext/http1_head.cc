#include "http1_head.h"

#include <algorithm>
#include <array>

#include "ascii.h"

namespace pyruntime {
namespace {

// The methods read here: those of a plain request, all of which llhttp knows.
constexpr std::array<std::string_view, 7> kMethods = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};

bool IsAlnum(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// RFC 9110's tchar.
bool IsTokenChar(unsigned char c) {
  return IsAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 3986's pchar, "/" and "?": an origin-form target without a fragment.
bool IsTargetChar(unsigned char c) {
  return IsAlnum(c) || std::string_view("-._~%!$&'()*+,;=:@/?").find(c) != std::string_view::npos;
}

// A field value's characters: visible ones, space, tab, and bytes past ASCII (obs-text).
bool IsValueChar(unsigned char c) { return c == '\t' || (c >= ' ' && c != 0x7F); }

struct ConnectionTokens {
  bool refused = false;     // close or upgrade: left to llhttp
  bool keep_alive = false;  // HTTP/1.0's keep-alive
};

void ReadConnection(std::string_view value, ConnectionTokens* tokens) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view token = TrimSpaces(value.substr(0, comma));
    if (EqualsLower(token, "close") || EqualsLower(token, "upgrade")) tokens->refused = true;
    if (EqualsLower(token, "keep-alive")) tokens->keep_alive = true;
    if (comma == value.npos) break;
    value.remove_prefix(comma + 1);
  }
}

// Headers that make a request more than a plain head: a body, or another protocol.
bool LeftToLlhttp(std::string_view name) {
  return EqualsLower(name, "content-length") || EqualsLower(name, "transfer-encoding") ||
         EqualsLower(name, "upgrade") || EqualsLower(name, "expect");
}

}  // namespace

size_t ReadHttp1Head(std::string_view data, size_t max_headers, size_t max_bytes, Http1Head* head) {
  size_t blank = data.substr(0, max_bytes).find("\r\n\r\n");
  if (blank == data.npos) return 0;
  const size_t length = blank + 4;
  std::string_view rest = data.substr(0, blank + 2);  // every line with its CRLF

  size_t space = rest.find(' ');
  if (space == rest.npos) return 0;
  head->method = rest.substr(0, space);
  bool known = false;
  for (std::string_view method : kMethods) known = known || head->method == method;
  if (!known) return 0;
  rest.remove_prefix(space + 1);

  size_t target_end = 0;
  while (target_end < rest.size() && IsTargetChar(static_cast<unsigned char>(rest[target_end]))) ++target_end;
  std::string_view target = rest.substr(0, target_end);
  if (target.empty() || target[0] != '/') return 0;
  rest.remove_prefix(target_end);
  constexpr std::string_view kHttp11 = " HTTP/1.1\r\n", kHttp10 = " HTTP/1.0\r\n";
  head->http10 = rest.substr(0, kHttp10.size()) == kHttp10;
  if (!head->http10 && rest.substr(0, kHttp11.size()) != kHttp11) return 0;
  rest.remove_prefix(kHttp11.size());
  size_t question = target.find('?');
  head->path = target.substr(0, question);
  head->query = question == target.npos ? std::string_view() : target.substr(question + 1);

  head->headers.clear();
  head->host = head->request_id = -1;
  ConnectionTokens connection;
  while (!rest.empty()) {
    size_t line_end = rest.find("\r\n");  // the last line ends with one: never npos
    std::string_view line = rest.substr(0, line_end);
    rest.remove_prefix(line_end + 2);
    size_t colon = 0;
    while (colon < line.size() && IsTokenChar(static_cast<unsigned char>(line[colon]))) ++colon;
    if (colon == 0 || colon == line.size() || line[colon] != ':') return 0;  // also a folded line
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    for (char c : value) {
      if (!IsValueChar(static_cast<unsigned char>(c))) return 0;
    }
    value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));  // llhttp keeps trailing ones
    if (LeftToLlhttp(name) || head->headers.size() == max_headers) return 0;
    if (EqualsLower(name, "connection")) ReadConnection(value, &connection);
    const int index = static_cast<int>(head->headers.size());
    if (head->host < 0 && EqualsLower(name, "host")) head->host = index;
    if (head->request_id < 0 && EqualsLower(name, "x-request-id")) head->request_id = index;
    head->headers.emplace_back(name, value);
  }
  if (connection.refused || (head->http10 && !connection.keep_alive)) return 0;
  return length;
}

}  // namespace pyruntime
