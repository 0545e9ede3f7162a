// The server's JS pass in the core: requests run back to back in one entry into the isolate
// (Runtime::CallInternalSeries), for as long as each ends at once and leaves the isolate
// free. pyruntime/engine/app_isolate.py (AppIsolate.fetch_series) is its one caller; the
// rule below is the one it applied in Python between two requests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "framed_answer.h"
#include "host_interface.h"
#include "host_value.h"
#include "runtime.h"

namespace pyruntime {

// Whether a request's call (internal dispatchFetch, ext/js/90_worker.js) leaves the isolate
// to the next request at once: it ended in its first slice (not waiting, not stopped at its
// deadline, no host operation started, no unhandled rejection: the rule of
// pyruntime/engine/async_isolate.py's ended_in_first_slice) within `max_slice_ms` of CPU,
// and either its handler threw or it gave a whole result ([status, statusText, headers,
// bytes, streamId, waitUntil]) with no stream, no waitUntil work and at most `release_bytes`
// of body.
bool LeavesIsolateFree(const Outcome& outcome, double max_slice_ms, size_t release_bytes);

// The console output a series holds for the host, at most: past it the series ends (the
// next request begins in the caller's next series). Without it, each request of a pass could
// hold HostInterface::kMaxConsoleBytes until the whole pass ran; now a series holds about
// what one call may.
constexpr size_t kSeriesConsoleBytes = HostInterface::kMaxConsoleBytes;

// Runs internal `function` once per argument list of `calls`, by that rule and while the
// outcomes hold at most kSeriesConsoleBytes of console text; `went_on` says whether the
// series went on past its last call (it made every call, and the last one met the rule and
// the bound too). `frames`, one per call or none: the answer of each call that met the rule
// with a whole result goes in `framed` (one per outcome) as h1 writes it (framed_answer.h).
std::vector<Outcome> RunFetchSeries(Runtime& runtime, const std::string& function,
                                    const std::vector<std::vector<HostValue>>& calls, double max_slice_ms,
                                    size_t release_bytes, const std::vector<AnswerFrame>& frames,
                                    std::string_view date_line, std::vector<FramedAnswer>* framed, bool* went_on);

}  // namespace pyruntime
