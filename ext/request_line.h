// A request's log line (the `request` event of pyruntime/server/observer.py), written in one
// call: building its dict and serialising it with orjson was a third of the line's cost, and
// the line is written for every request.
//
// The bytes are those orjson writes for observer.py's dict, fields in its order: strings
// escaped as orjson escapes them (", \ and control characters; the rest as UTF-8), times as
// the shortest decimal of whole microseconds in milliseconds. A test holds the two equal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pyruntime {

struct RequestLine {
  std::string_view timestamp;  // RFC 3339 with milliseconds, as logs.py `timestamp` writes it
  int64_t pid = 0;
  bool has_app = true;         // false: no app ran (a 404), and `app` is null
  std::string_view app;        // UTF-8, as are the strings below
  std::string_view request_id;
  std::string_view method;
  std::string_view path;
  int64_t status = 0;
  int64_t duration_us = 0;     // whole microseconds
  int64_t cpu_us = -1;         // whole microseconds of the app's CPU; negative: null
};

// Times from this many microseconds on (31 years) are written in another form by orjson.
constexpr int64_t kRequestLineMaxMicros = 1000000000000000;

// Appends the line, newline included, to `out`; false (nothing appended) for a time that is
// negative or not below kRequestLineMaxMicros.
bool WriteRequestLine(const RequestLine& line, std::string* out);

}  // namespace pyruntime
