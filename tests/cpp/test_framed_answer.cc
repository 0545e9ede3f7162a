// h1's answers framed in the JS pass (framed_answer.h): the bytes of a whole result, and the
// results left to the host, which frames them itself.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "framed_answer.h"

using pyruntime::AnswerFrame;
using pyruntime::FramedAnswer;
using pyruntime::FrameFetchResult;
using pyruntime::HostValue;
using pyruntime::WholeFetchResult;

namespace {

constexpr char kDateLine[] = "date: Sat, 05 Dec 2026 09:00:00 GMT\r\n";

HostValue List(std::vector<HostValue> items) {
  HostValue value;
  value.kind = HostValue::Kind::kList;
  value.items = std::move(items);
  return value;
}

HostValue Headers(std::vector<const char*> flat) {
  std::vector<HostValue> items;
  for (const char* text : flat) items.push_back(HostValue::String(text));
  return List(std::move(items));
}

// dispatchFetch's result: [status, statusText, headers, bytes, streamId, waitUntil].
HostValue Result(int64_t status, HostValue headers, HostValue body, int64_t stream_id = 0, int64_t wait_until = 0) {
  return List({HostValue::Int(status), HostValue::String(""), std::move(headers), std::move(body),
               HostValue::Int(stream_id), HostValue::Int(wait_until)});
}

AnswerFrame Frame() {
  AnswerFrame frame;
  frame.wanted = true;
  frame.request_id = "abc";
  return frame;
}

bool Framed(const HostValue& result, const AnswerFrame& frame, FramedAnswer* out) {
  return FrameFetchResult(result, frame, kDateLine, out);
}

void TestAWholeAnswerIsFramedAfterItsStatusLine() {
  FramedAnswer out;
  CHECK(Framed(Result(201, Headers({"Content-Type", "text/plain", "content-length", "99"}), HostValue::Bytes("hello")),
               Frame(), &out));
  CHECK(out.status == 201);
  CHECK(out.data == std::string(kDateLine) +
                        "content-type: text/plain\r\nx-request-id: abc\r\ncontent-length: 5\r\n\r\nhello");

  AnswerFrame head = Frame();
  head.head_request = true;
  head.keep_alive = false;
  CHECK(Framed(Result(200, Headers({"date", "yesterday"}), HostValue::Bytes("hello")), head, &out));
  CHECK(out.data == "date: yesterday\r\nx-request-id: abc\r\ncontent-length: 5\r\nconnection: close\r\n\r\n");

  AnswerFrame http10 = Frame();
  http10.http10 = true;
  CHECK(Framed(Result(204, Headers({}), HostValue::Null()), http10, &out));
  CHECK(out.status == 204);
  CHECK(out.data == std::string(kDateLine) + "x-request-id: abc\r\nconnection: keep-alive\r\n\r\n");
}

void TestWhatTheHostFramesItself() {
  const HostValue plain = Headers({"content-type", "text/plain"});
  FramedAnswer out;
  CHECK(!Framed(Result(200, plain, HostValue::Null(), 7), Frame(), &out));     // a stream
  CHECK(!Framed(Result(200, plain, HostValue::Null(), 0, 1), Frame(), &out));  // waitUntil work
  CHECK(!Framed(Result(200, plain, HostValue::String("text")), Frame(), &out));
  CHECK(!Framed(Result(99, plain, HostValue::Null()), Frame(), &out));
  CHECK(!Framed(Result(1000, plain, HostValue::Null()), Frame(), &out));
  CHECK(!Framed(Result(200, Headers({"content-type"}), HostValue::Null()), Frame(), &out));
  CHECK(!Framed(Result(200, Headers({"x-name", "caf\xc3\xa9"}), HostValue::Null()), Frame(), &out));  // Latin-1 é
  CHECK(!Framed(Result(200, Headers({"x-name", "a\r\nset-cookie: b"}), HostValue::Null()), Frame(), &out));
  CHECK(!Framed(List({HostValue::Int(200)}), Frame(), &out));
  CHECK(!Framed(HostValue::Null(), Frame(), &out));
  CHECK(out.status == 0 && out.data.empty());  // untouched by every refusal
}

void TestWholeResults() {
  const HostValue none = Headers({});
  CHECK(WholeFetchResult(Result(200, none, HostValue::Bytes("1234")), 4));
  CHECK(WholeFetchResult(Result(200, none, HostValue::String("1234")), 4));
  CHECK(WholeFetchResult(Result(200, none, HostValue::Null()), 0));
  CHECK(!WholeFetchResult(Result(200, none, HostValue::Bytes("12345")), 4));
  CHECK(!WholeFetchResult(Result(200, none, HostValue::Null(), 1), 4));
  CHECK(!WholeFetchResult(Result(200, none, HostValue::Null(), 0, 2), 4));
  CHECK(!WholeFetchResult(Result(200, none, none), 4));  // a body of no known kind
}

}  // namespace

int main() {
  TestAWholeAnswerIsFramedAfterItsStatusLine();
  TestWhatTheHostFramesItself();
  TestWholeResults();
  return TEST_EXIT_CODE();
}
