// The server's JS pass in the core: requests run back to back in one entry into the isolate
// (Runtime::CallInternalSeries), for as long as each ends at once and leaves the isolate
// free. pyruntime/engine/app_isolate.py (AppIsolate.fetch_series) is its one caller; the
// rule below is the one it applied in Python between two requests.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "host_value.h"
#include "runtime.h"

namespace pyruntime {

// Whether a request's call (internal dispatchFetch, ext/js/90_worker.js) leaves the isolate
// to the next request at once: it ended in its first slice (not waiting, not stopped at its
// deadline, no host operation started, no unhandled rejection) within `max_slice_ms` of CPU,
// and either its handler threw or it gave a whole result ([status, statusText, headers,
// bytes, streamId, waitUntil]) with no stream, no waitUntil work and at most `release_bytes`
// of body.
bool LeavesIsolateFree(const Outcome& outcome, double max_slice_ms, size_t release_bytes);

// Runs internal `function` once per argument list of `calls`, by that rule; `left_free`
// says whether the last call made left the isolate free too.
std::vector<Outcome> RunFetchSeries(Runtime& runtime, const std::string& function,
                                    const std::vector<std::vector<HostValue>>& calls, double max_slice_ms,
                                    size_t release_bytes, bool* left_free);

}  // namespace pyruntime
