#include "http1_response.h"

#include <array>
#include <cstdint>
#include <optional>

#include "ascii.h"

namespace pyruntime {
namespace {

// The headers the server owns: the app's values would contradict the framing it sends.
constexpr std::array<std::string_view, 6> kNotForwarded = {
    "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "x-request-id"};

bool Forwarded(std::string_view name) {
  for (std::string_view owned : kNotForwarded) {
    if (EqualsLower(name, owned)) return false;
  }
  return true;
}

bool HasLineBreak(std::string_view text) { return text.find_first_of(std::string_view("\r\n\0", 3)) != text.npos; }

// The app's Content-Length when it is one decimal number of at most 18 digits, spaces and tabs
// around it allowed: a list, a sign or a length no body has is not one.
std::optional<uint64_t> GivenLength(std::string_view value) {
  std::string_view digits = TrimSpaces(value);
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  uint64_t length = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    length = length * 10 + static_cast<uint64_t>(c - '0');
  }
  return length;
}

void AppendHeader(std::string* out, std::string_view name, std::string_view value) {
  size_t at = out->size();
  out->append(name);
  for (size_t i = at; i < out->size(); ++i) (*out)[i] = AsciiLower((*out)[i]);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

}  // namespace

bool WriteHttp1Answer(const Http1Answer& answer, std::string* out, std::string* error) {
  bool dated = false;
  std::optional<uint64_t> given;
  bool given_seen = false;
  // No body on a HEAD, a 204 or a 304: a HEAD's answer may hold a body of any size, never sent.
  bool has_body = answer.status >= 200 && answer.status != 204 && answer.status != 304 && !answer.head_request;
  size_t size = answer.status_line.size() + answer.date_line.size() + (has_body ? answer.body.size() : 0) + 96;
  for (const auto& [name, value] : answer.headers) {
    if (HasLineBreak(name) || HasLineBreak(value)) {
      *error = "response header " + std::string(name) + " has a line break";
      return false;
    }
    size += name.size() + value.size() + 4;
    if (!given_seen && EqualsLower(name, "content-length")) {
      given_seen = true;
      given = GivenLength(value);
    } else if (EqualsLower(name, "date")) {
      dated = true;
    }
  }
  out->reserve(out->size() + size);
  out->append(answer.status_line);
  if (!dated) out->append(answer.date_line);
  for (const auto& [name, value] : answer.headers) {
    if (Forwarded(name)) AppendHeader(out, name, value);
  }
  AppendHeader(out, "x-request-id", answer.request_id);
  std::optional<uint64_t> length;
  if (answer.status == 304) {
    length = given;
  } else if (answer.status != 204) {
    length = answer.head_request && answer.body.empty() ? given.value_or(0) : answer.body.size();
  }
  if (length) AppendHeader(out, "content-length", std::to_string(*length));
  if (!answer.keep_alive) {
    out->append("connection: close\r\n");
  } else if (answer.http10) {
    out->append("connection: keep-alive\r\n");
  }
  out->append("\r\n");
  if (has_body) out->append(answer.body);
  return true;
}

}  // namespace pyruntime
