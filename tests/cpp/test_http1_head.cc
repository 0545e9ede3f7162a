// A plain request head read in one pass (ext/http1_head.h): what is read, and what is left to llhttp.
#include <string>

#include "check.h"
#include "http1_head.h"

using pyruntime::Http1Head;
using pyruntime::ReadHttp1Head;

namespace {

size_t Read(const std::string& data, Http1Head* head, size_t max_headers = 128, size_t max_bytes = 65536) {
  return ReadHttp1Head(data, max_headers, max_bytes, head);
}

bool LeftToLlhttp(const std::string& data) {
  Http1Head head;
  return Read(data, &head) == 0;
}

}  // namespace

int main() {
  Http1Head head;
  const std::string wrk = "GET /hello?x=1&y=%20 HTTP/1.1\r\nHost: 127.0.0.1:8787\r\nX-Request-ID:  abc \r\n"
                          "Accept: */*\r\nHost: second\r\n\r\nGET /next";
  CHECK(Read(wrk, &head) == wrk.find("GET /next"));
  CHECK(head.method == "GET" && head.path == "/hello" && head.query == "x=1&y=%20" && !head.http10);
  CHECK(head.headers.size() == 4);
  CHECK(head.headers[0].first == "Host" && head.headers[0].second == "127.0.0.1:8787");
  CHECK(head.host == 0 && head.request_id == 1);  // the first of each
  CHECK(head.headers[1].second == "abc ");        // without the spaces before it, as llhttp gives it
  CHECK(head.headers[3].second == "second");

  // No headers at all, an empty value, a value with tabs and bytes past ASCII, no query.
  CHECK(Read("DELETE /a HTTP/1.1\r\n\r\n", &head) == 22 && head.headers.empty() && head.host == -1);
  const std::string texts = "GET / HTTP/1.1\r\nX-Empty:\r\nX-Text: a\tb \xC3\xA9\r\n\r\n";  // the head views it
  CHECK(Read(texts, &head) > 0);
  CHECK(head.headers[0].second.empty() && head.headers[1].second == "a\tb \xC3\xA9" && head.query.empty());
  CHECK(Read("GET / HTTP/1.1\r\nX-Blank: \t \r\n\r\n", &head) > 0 && head.headers[0].second.empty());
  CHECK(Read("GET /? HTTP/1.1\r\n\r\n", &head) > 0 && head.path == "/" && head.query.empty());

  // HTTP/1.0 only with its keep-alive; HTTP/1.1 only without close or upgrade.
  CHECK(LeftToLlhttp("GET / HTTP/1.0\r\nHost: a\r\n\r\n"));
  CHECK(Read("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &head) > 0 && head.http10);
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  CHECK(Read("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", &head) > 0);

  // A body, an upgrade or an expectation: llhttp's.
  CHECK(LeftToLlhttp("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
  CHECK(LeftToLlhttp("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"));
  CHECK(LeftToLlhttp("PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"));

  // Unusual or broken request lines.
  CHECK(LeftToLlhttp("CONNECT a:443 HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("get / HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("BREW / HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("GET http://a/ HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("GET * HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("GET /a#frag HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("GET /a\"b HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("GET /  HTTP/1.1\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/2.0\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\n"));  // not whole yet

  // Broken or unusual header lines.
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nHost : a\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\n: a\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nNoColon\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nX-A: a\x01z\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nX-A: a\x7Fz\r\n\r\n"));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nX-A: a\rz\r\n\r\n"));
  CHECK(LeftToLlhttp(std::string("GET / HTTP/1.1\r\nX-A: a\0z\r\n\r\n", 29)));
  CHECK(LeftToLlhttp("GET / HTTP/1.1\r\nX\xC3\xA9: a\r\n\r\n"));

  // The bounds: headers and bytes.
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 3; ++i) many += "X-A: 1\r\n";
  many += "\r\n";
  CHECK(Read(many, &head, 3) > 0);
  CHECK(Read(many, &head, 2) == 0);
  CHECK(Read(many, &head, 128, many.size()) == many.size());
  CHECK(Read(many, &head, 128, many.size() - 1) == 0);
  return TEST_EXIT_CODE();
}
