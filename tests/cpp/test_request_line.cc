// A request's log line: the bytes for each field's form, escapes, null app and CPU, and the
// times that are refused.
#include <string>

#include "check.h"
#include "request_line.h"

using pyruntime::kRequestLineMaxMicros;
using pyruntime::RequestLine;
using pyruntime::WriteRequestLine;

namespace {

RequestLine Hello() {
  RequestLine line;
  line.timestamp = "2026-12-05T12:00:01.234Z";
  line.pid = 3185;
  line.app = "shop";
  line.request_id = "fa85810124374e9d0000000000000001";
  line.method = "GET";
  line.path = "/hello";
  line.status = 200;
  line.duration_us = 5396;
  line.cpu_us = 918;
  return line;
}

std::string Written(const RequestLine& line) {
  std::string out;
  CHECK(WriteRequestLine(line, &out));
  return out;
}

std::string Millis(int64_t micros) {
  RequestLine line = Hello();
  line.duration_us = micros;
  std::string out = Written(line);
  size_t start = out.find("\"duration_ms\":") + 14;
  return out.substr(start, out.find(',', start) - start);
}

}  // namespace

int main() {
  CHECK(Written(Hello()) ==
        "{\"timestamp\":\"2026-12-05T12:00:01.234Z\",\"level\":\"info\",\"event\":\"request\",\"pid\":3185,"
        "\"app\":\"shop\",\"request_id\":\"fa85810124374e9d0000000000000001\",\"method\":\"GET\","
        "\"path\":\"/hello\",\"status\":200,\"duration_ms\":5.396,\"cpu_ms\":0.918}\n");

  // No app ran (a 404) and no CPU counted: both null.
  RequestLine unrouted = Hello();
  unrouted.has_app = false;
  unrouted.cpu_us = -1;
  std::string line = Written(unrouted);
  CHECK(line.find("\"app\":null,") != std::string::npos);
  CHECK(line.find("\"cpu_ms\":null}\n") != std::string::npos);

  // Milliseconds as Python's repr of a float: trailing zeros dropped, one kept after the point.
  CHECK(Millis(0) == "0.0");
  CHECK(Millis(1) == "0.001");
  CHECK(Millis(17) == "0.017");
  CHECK(Millis(1000) == "1.0");
  CHECK(Millis(1230) == "1.23");
  CHECK(Millis(1200) == "1.2");
  CHECK(Millis(60000000) == "60000.0");
  CHECK(Millis(kRequestLineMaxMicros - 1) == "999999999999.999");

  // Escapes: quote, backslash, the short forms, \u00XX for other control bytes; DEL, `/`
  // and UTF-8 (U+2028 too) as they are.
  RequestLine odd = Hello();
  odd.path = "/a\"b\\c\b\t\n\f\r\x01\x1f\x7f/\xc3\xa9\xe2\x80\xa8";
  line = Written(odd);
  CHECK(line.find("\"path\":\"/a\\\"b\\\\c\\b\\t\\n\\f\\r\\u0001\\u001f\x7f/\xc3\xa9\xe2\x80\xa8\",") !=
        std::string::npos);
  RequestLine nul = Hello();
  nul.method = std::string_view("G\0T", 3);
  CHECK(Written(nul).find("\"method\":\"G\\u0000T\",") != std::string::npos);

  // Appended to what `out` holds.
  std::string out = "x";
  CHECK(WriteRequestLine(Hello(), &out));
  CHECK(out == "x" + Written(Hello()));

  // A time orjson would write in another form, or a negative one: refused, nothing appended.
  for (int64_t micros : {kRequestLineMaxMicros, int64_t{-1}}) {
    RequestLine far = Hello();
    far.duration_us = micros;
    std::string refused = "x";
    CHECK(!WriteRequestLine(far, &refused));
    CHECK(refused == "x");
    RequestLine cpu = Hello();
    cpu.cpu_us = micros == -1 ? -1 : micros;  // -1 is "no CPU": written as null
    std::string kept;
    CHECK(WriteRequestLine(cpu, &kept) == (micros == -1));
  }
  return TEST_EXIT_CODE();
}
