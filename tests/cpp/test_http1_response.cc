// A whole HTTP/1.1 response from h1's JS pass: the bytes on the wire for each framing rule.
#include <string>

#include "check.h"
#include "http1_response.h"

using pyruntime::Http1Answer;
using pyruntime::WriteHttp1Answer;

namespace {

Http1Answer Hello() {
  Http1Answer answer;
  answer.status_line = "HTTP/1.1 200 OK\r\n";
  answer.date_line = "date: Sat, 05 Dec 2026 09:00:00 GMT\r\n";
  answer.headers = {{"content-type", "text/plain"}};
  answer.request_id = "abc";
  answer.body = "hello";
  return answer;
}

std::string Written(const Http1Answer& answer) {
  std::string out, error;
  CHECK(WriteHttp1Answer(answer, &out, &error));
  CHECK(error.empty());
  return out;
}

const char kHelloHead[] =
    "HTTP/1.1 200 OK\r\ndate: Sat, 05 Dec 2026 09:00:00 GMT\r\ncontent-type: text/plain\r\n"
    "x-request-id: abc\r\ncontent-length: 5\r\n";

}  // namespace

int main() {
  CHECK(Written(Hello()) == std::string(kHelloHead) + "\r\nhello");

  // The server owns the framing headers and the request id: the app's are dropped, in any case.
  Http1Answer owned = Hello();
  owned.headers = {{"Content-Type", "text/plain"}, {"Content-Length", "99"}, {"transfer-encoding", "chunked"},
                   {"Connection", "close"}, {"keep-alive", "timeout=5"}, {"upgrade", "h2c"},
                   {"X-Request-ID", "theirs"}};
  CHECK(Written(owned) == std::string(kHelloHead) + "\r\nhello");

  // The app's Date is the one; others keep their order.
  Http1Answer dated = Hello();
  dated.headers = {{"x-a", "1"}, {"date", "Mon, 01 Jan 2024 00:00:00 GMT"}, {"x-b", "2"}};
  CHECK(Written(dated) ==
        "HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\nx-b: 2\r\nx-request-id: abc\r\n"
        "content-length: 5\r\n\r\nhello");

  // HEAD: the length of the body a GET gets, no body.
  Http1Answer head = Hello();
  head.head_request = true;
  CHECK(Written(head) == std::string(kHelloHead) + "\r\n");
  // A HEAD's body is never copied: only the head is written (and its room reserved).
  std::string large(1 << 20, 'x');
  head.body = large;
  std::string head_out, head_error;
  CHECK(WriteHttp1Answer(head, &head_out, &head_error));
  CHECK(head_out.find("content-length: 1048576\r\n\r\n") != std::string::npos);
  CHECK(head_out.size() < 1024 && head_out.capacity() < 4096);
  head.body = "";
  head.headers = {{"content-length", " 0042\t"}};
  CHECK(Written(head) == "HTTP/1.1 200 OK\r\ndate: Sat, 05 Dec 2026 09:00:00 GMT\r\nx-request-id: abc\r\n"
                         "content-length: 42\r\n\r\n");
  head.headers = {{"content-length", "1, 2"}};  // not one length: the body's, none
  CHECK(Written(head).find("content-length: 0\r\n") != std::string::npos);
  head.headers = {{"content-length", "1234567890123456789"}};  // past 18 digits
  CHECK(Written(head).find("content-length: 0\r\n") != std::string::npos);
  head.headers = {{"content-length", " \t "}};  // blank: no length given
  CHECK(Written(head).find("content-length: 0\r\n") != std::string::npos);

  // 204: no length, no body; 304: the app's length, no body.
  Http1Answer empty = Hello();
  empty.status = 204;
  empty.status_line = "HTTP/1.1 204 No Content\r\n";
  empty.headers = {};
  empty.body = "";
  CHECK(Written(empty) ==
        "HTTP/1.1 204 No Content\r\ndate: Sat, 05 Dec 2026 09:00:00 GMT\r\nx-request-id: abc\r\n\r\n");
  Http1Answer unchanged = empty;
  unchanged.status = 304;
  unchanged.status_line = "HTTP/1.1 304 Not Modified\r\n";
  CHECK(Written(unchanged).find("content-length") == std::string::npos);
  unchanged.headers = {{"content-length", "5"}};
  CHECK(Written(unchanged) == "HTTP/1.1 304 Not Modified\r\ndate: Sat, 05 Dec 2026 09:00:00 GMT\r\n"
                              "x-request-id: abc\r\ncontent-length: 5\r\n\r\n");

  // The connection's end, and HTTP/1.0's keep-alive, are said after the headers.
  Http1Answer closing = Hello();
  closing.keep_alive = false;
  CHECK(Written(closing) == std::string(kHelloHead) + "connection: close\r\n\r\nhello");
  Http1Answer old = Hello();
  old.http10 = true;
  CHECK(Written(old) == std::string(kHelloHead) + "connection: keep-alive\r\n\r\nhello");
  old.keep_alive = false;
  CHECK(Written(old) == std::string(kHelloHead) + "connection: close\r\n\r\nhello");

  // A line break or NUL in a name or value: refused, nothing written.
  for (std::string_view bad : {std::string_view("a\r\nx-evil: 1"), std::string_view("a\nb"),
                               std::string_view("a\rb"), std::string_view("a\0b", 3)}) {
    Http1Answer broken = Hello();
    broken.headers = {{"x-ok", "1"}, {"x-bad", bad}};
    std::string out, error;
    CHECK(!WriteHttp1Answer(broken, &out, &error));
    CHECK(out.empty());
    CHECK(error.find("x-bad") != std::string::npos);
    broken.headers = {{bad, "1"}};
    CHECK(!WriteHttp1Answer(broken, &out, &error));
  }
  return TEST_EXIT_CODE();
}
