// h1's answers framed in the JS pass: a request whose handler gave a whole result leaves the
// core as the HTTP/1.1 bytes h1 writes, with no conversion of the result to Python objects and
// back (FetchResult, then http1_answer's arguments). RunFetchSeries (fetch_series.h) frames
// them; the results it does not frame take the host's path, which answers them the same way.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "host_value.h"

namespace pyruntime {

// What the server knows of one request for framing its answer.
struct AnswerFrame {
  bool wanted = false;  // false: the host frames this request's answer itself
  std::string request_id;
  bool head_request = false;
  bool keep_alive = true;
  bool http10 = false;
};

struct FramedAnswer {
  int status = 0;
  std::string data;  // the response after its status line; empty when not framed
};

// Whether dispatchFetch's result ([status, statusText, headers, bytes, streamId, waitUntil],
// ext/js/90_worker.js) is a whole answer: no stream, no waitUntil work, and bytes (or a
// text) of at most `release_bytes`, or no body.
bool WholeFetchResult(const HostValue& result, size_t release_bytes);

// Frames dispatchFetch's result by WriteHttp1Answer's rules (http1_response.h), less the status line,
// whose reason phrase is the server's. False, with `out` untouched, for a result the host
// frames itself: one that is not a whole answer (WholeFetchResult), a body given as text, a status outside
// 100-999, a header past ASCII (the host sends it as Latin-1), or one WriteHttp1Answer refuses
// (a line break: the host answers a 500 and logs why).
bool FrameFetchResult(const HostValue& result, const AnswerFrame& frame, std::string_view date_line,
                      FramedAnswer* out);

}  // namespace pyruntime
