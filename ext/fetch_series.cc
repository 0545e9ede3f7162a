#include "fetch_series.h"

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

bool LeavesIsolateFree(const Outcome& outcome, double max_slice_ms, size_t release_bytes) {
  if (!outcome.ops.empty() || outcome.unhandled_rejections != 0 || outcome.cpu_ms > max_slice_ms) return false;
  if (outcome.status == Status::kJsError) return true;
  if (outcome.status != Status::kOk) return false;
  const HostValue& value = outcome.value;
  if (value.kind != HostValue::Kind::kList || value.items.size() != 6) return false;
  return SmallBody(value.items[3], release_bytes) && Falsy(value.items[4]) && Falsy(value.items[5]);
}

std::vector<Outcome> RunFetchSeries(Runtime& runtime, const std::string& function,
                                    const std::vector<std::vector<HostValue>>& calls, double max_slice_ms,
                                    size_t release_bytes, bool* went_on) {
  size_t console_bytes = 0;
  size_t judged = 0;  // calls the rule was applied to (not one that ended the isolate)
  bool last_verdict = false;
  std::vector<Outcome> outcomes = runtime.CallInternalSeries(function, calls, [&](const Outcome& outcome) {
    for (const ConsoleLine& line : outcome.console) console_bytes += line.text.size();
    ++judged;
    last_verdict = console_bytes <= kSeriesConsoleBytes && LeavesIsolateFree(outcome, max_slice_ms, release_bytes);
    return last_verdict;
  });
  *went_on = judged == calls.size() && last_verdict;
  return outcomes;
}

}  // namespace pyruntime
