// The head of a plain HTTP/1.1 request, read in one pass: for h1's common request
// (pyruntime/server/h1_server.py), which llhttp's parser hands to Python piece by piece, a
// Python call per header. Only a strict subset is read here, all of which llhttp accepts
// alike: anything else (a body, an upgrade, Connection: close, an unusual character, a head
// not yet whole) is left to llhttp, which judges it as before.
#pragma once

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace pyruntime {

struct Http1Head {
  std::string_view method;  // uppercase letters
  std::string_view path;    // origin form: from its "/" to any "?"
  std::string_view query;   // after the "?", without it
  bool http10 = false;      // HTTP/1.0 (with Connection: keep-alive); else HTTP/1.1
  // In their order; values without the whitespace before them (llhttp keeps what follows).
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  int host = -1;        // index of the first Host header, or -1
  int request_id = -1;  // index of the first X-Request-ID header, or -1
};

// Reads the request head at the start of `data`: its length in bytes (through the blank
// line), or 0 when this is not a plain head that keeps the connection open, with no body:
// - request line: a method of 1 to 20 uppercase letters (not CONNECT), a target starting
//   with "/" of RFC 3986 characters, and HTTP/1.1 or HTTP/1.0;
// - header lines: a token, ":", a value of visible characters, spaces, tabs and bytes past
//   ASCII; no folded lines; at most `max_headers` of them;
// - none of Content-Length, Transfer-Encoding, Upgrade or Expect; a Connection without
//   "close" or "upgrade" (HTTP/1.0 needs its "keep-alive");
// - the blank line within `max_bytes`.
// Views in `head` point into `data`.
size_t ReadHttp1Head(std::string_view data, size_t max_headers, size_t max_bytes, Http1Head* head);

}  // namespace pyruntime
