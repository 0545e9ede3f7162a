#include "framed_answer.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "ascii.h"
#include "http1_response.h"

namespace pyruntime {
namespace {

// Python's truth of the small values a result array holds (a count, an id, null).
bool Falsy(const HostValue& value) {
  switch (value.kind) {
    case HostValue::Kind::kNull:
    case HostValue::Kind::kUndefined:
      return true;
    case HostValue::Kind::kBool:
      return !value.boolean;
    case HostValue::Kind::kInt:
      return value.integer == 0;
    case HostValue::Kind::kFloat:
      return value.number == 0;
    default:
      return false;
  }
}

bool SmallBody(const HostValue& body, size_t release_bytes) {
  switch (body.kind) {
    case HostValue::Kind::kNull:
    case HostValue::Kind::kUndefined:
      return true;
    case HostValue::Kind::kBytes:
    case HostValue::Kind::kString:
      return body.text.size() <= release_bytes;
    default:
      return false;
  }
}

}  // namespace

bool WholeFetchResult(const HostValue& result, size_t release_bytes) {
  if (result.kind != HostValue::Kind::kList || result.items.size() != 6) return false;
  return SmallBody(result.items[3], release_bytes) && Falsy(result.items[4]) && Falsy(result.items[5]);
}

bool FrameFetchResult(const HostValue& result, const AnswerFrame& frame, std::string_view date_line,
                      FramedAnswer* out) {
  if (!WholeFetchResult(result, SIZE_MAX)) return false;
  const HostValue& status = result.items[0];
  const HostValue& headers = result.items[2];
  const HostValue& body = result.items[3];
  if (status.kind != HostValue::Kind::kInt || status.integer < 100 || status.integer > 999) return false;
  if (headers.kind != HostValue::Kind::kList || headers.items.size() % 2 != 0) return false;
  bool no_body = body.kind == HostValue::Kind::kNull || body.kind == HostValue::Kind::kUndefined;
  if (!no_body && body.kind != HostValue::Kind::kBytes) return false;
  Http1Answer answer;
  answer.status = static_cast<int>(status.integer);
  answer.date_line = date_line;
  answer.headers.reserve(headers.items.size() / 2);
  for (size_t i = 0; i < headers.items.size(); i += 2) {
    const HostValue& name = headers.items[i];
    const HostValue& value = headers.items[i + 1];
    if (name.kind != HostValue::Kind::kString || value.kind != HostValue::Kind::kString || !AllAscii(name.text) ||
        !AllAscii(value.text)) {
      return false;
    }
    answer.headers.emplace_back(name.text, value.text);
  }
  answer.request_id = frame.request_id;
  if (!no_body) answer.body = body.text;
  answer.head_request = frame.head_request;
  answer.keep_alive = frame.keep_alive;
  answer.http10 = frame.http10;
  std::string data;
  std::string error;
  if (!WriteHttp1Answer(answer, &data, &error)) return false;
  out->status = answer.status;
  out->data = std::move(data);
  return true;
}

}  // namespace pyruntime
