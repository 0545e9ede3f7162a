#include "fetch_series.h"

namespace pyruntime {

bool LeavesIsolateFree(const Outcome& outcome, double max_slice_ms, size_t release_bytes) {
  if (!outcome.ops.empty() || outcome.unhandled_rejections != 0 || outcome.cpu_ms > max_slice_ms) return false;
  if (outcome.status == Status::kJsError) return true;
  if (outcome.status != Status::kOk) return false;
  return WholeFetchResult(outcome.value, release_bytes);
}

std::vector<Outcome> RunFetchSeries(Runtime& runtime, const std::string& function,
                                    const std::vector<std::vector<HostValue>>& calls, double max_slice_ms,
                                    size_t release_bytes, const std::vector<AnswerFrame>& frames,
                                    std::string_view date_line, std::vector<FramedAnswer>* framed, bool* went_on) {
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
  framed->assign(outcomes.size(), FramedAnswer{});
  for (size_t i = 0; i < outcomes.size() && i < frames.size(); ++i) {
    const Outcome& outcome = outcomes[i];
    if (frames[i].wanted && outcome.status == Status::kOk && LeavesIsolateFree(outcome, max_slice_ms, release_bytes)) {
      FrameFetchResult(outcome.value, frames[i], date_line, &(*framed)[i]);
    }
  }
  return outcomes;
}

}  // namespace pyruntime
