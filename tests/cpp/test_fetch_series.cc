// The rule of the server's JS pass in the core: which request outcomes leave the isolate to
// the next request of a series (fetch_series.h), and a series run on a real isolate.
#include <string>
#include <vector>

#include "check.h"
#include "fetch_series.h"
#include "runtime.h"

using pyruntime::HostValue;
using pyruntime::IsolateLimits;
using pyruntime::LeavesIsolateFree;
using pyruntime::Outcome;
using pyruntime::Runtime;
using pyruntime::Status;

namespace {

constexpr double kMaxSliceMs = 1.0;
constexpr size_t kReleaseBytes = 16;

HostValue List(std::vector<HostValue> items) {
  HostValue value;
  value.kind = HostValue::Kind::kList;
  value.items = std::move(items);
  return value;
}

// dispatchFetch's result: [status, statusText, headers, bytes, streamId, waitUntil].
Outcome Answered(HostValue body, HostValue stream_id = HostValue::Int(0), HostValue wait_until = HostValue::Int(0)) {
  Outcome out;
  out.value = List({HostValue::Int(200), HostValue::String(""), List({}), std::move(body), std::move(stream_id),
                    std::move(wait_until)});
  out.cpu_ms = 0.05;
  return out;
}

void TestWholeSmallAnswersLeaveTheIsolateFree() {
  CHECK(LeavesIsolateFree(Answered(HostValue::Bytes("hello")), kMaxSliceMs, kReleaseBytes));
  CHECK(LeavesIsolateFree(Answered(HostValue::Null()), kMaxSliceMs, kReleaseBytes));
  CHECK(LeavesIsolateFree(Answered(HostValue::Bytes(std::string(kReleaseBytes, 'x'))), kMaxSliceMs, kReleaseBytes));
  CHECK(LeavesIsolateFree(Answered(HostValue::Bytes("x"), HostValue::Float(0), HostValue::Undefined()), kMaxSliceMs,
                          kReleaseBytes));
  Outcome thrown;
  thrown.status = Status::kJsError;
  CHECK(LeavesIsolateFree(thrown, kMaxSliceMs, kReleaseBytes));
}

void TestWhatKeepsTheIsolate() {
  CHECK(!LeavesIsolateFree(Answered(HostValue::Bytes(std::string(kReleaseBytes + 1, 'x'))), kMaxSliceMs,
                           kReleaseBytes));
  CHECK(!LeavesIsolateFree(Answered(HostValue::Null(), HostValue::Int(3)), kMaxSliceMs, kReleaseBytes));
  CHECK(!LeavesIsolateFree(Answered(HostValue::Null(), HostValue::Int(0), HostValue::Int(1)), kMaxSliceMs,
                           kReleaseBytes));
  CHECK(!LeavesIsolateFree(Answered(List({})), kMaxSliceMs, kReleaseBytes));  // a body of no known kind
  Outcome slow = Answered(HostValue::Null());
  slow.cpu_ms = kMaxSliceMs * 2;
  CHECK(!LeavesIsolateFree(slow, kMaxSliceMs, kReleaseBytes));
  Outcome started = Answered(HostValue::Null());
  started.ops.push_back(pyruntime::HostOp{});
  CHECK(!LeavesIsolateFree(started, kMaxSliceMs, kReleaseBytes));
  Outcome rejected = Answered(HostValue::Null());
  rejected.unhandled_rejections = 1;
  CHECK(!LeavesIsolateFree(rejected, kMaxSliceMs, kReleaseBytes));
  Outcome short_array;
  short_array.value = List({HostValue::Int(200)});
  CHECK(!LeavesIsolateFree(short_array, kMaxSliceMs, kReleaseBytes));
  for (Status status : {Status::kPending, Status::kTimeout, Status::kCpuLimit, Status::kMemoryLimit,
                        Status::kTerminated, Status::kDeadline, Status::kClosed, Status::kConversionError}) {
    Outcome stopped = Answered(HostValue::Null());
    stopped.status = status;
    CHECK(!LeavesIsolateFree(stopped, kMaxSliceMs, kReleaseBytes));
  }
}

// A series on a real isolate: calls run in turn while `go_on` agrees, and a closed isolate
// answers kClosed.
void TestASeriesStopsWhereGoOnSays() {
  IsolateLimits limits;
  limits.timeout_ms = 10000;
  limits.cpu_limit_ms = 10000;
  limits.memory_limit_bytes = 64 * 1024 * 1024;
  Runtime runtime(limits);
  std::vector<std::vector<HostValue>> calls;
  for (const char* text : {"a", "b", "c", "d"}) calls.push_back({HostValue::String(text)});
  // internal.objectKeys is Object.keys: a string's keys are its indexes.
  auto short_keys = [](const Outcome& out) { return out.value.items.size() < 3; };
  std::vector<Outcome> outcomes = runtime.CallInternalSeries("objectKeys", calls, short_keys);
  CHECK(outcomes.size() == 4);
  for (const Outcome& out : outcomes) CHECK(out.status == Status::kOk && out.value.items.size() == 1);
  calls.insert(calls.begin() + 1, {HostValue::String("long")});
  outcomes = runtime.CallInternalSeries("objectKeys", calls, short_keys);
  CHECK(outcomes.size() == 2);
  CHECK(outcomes.back().value.items.size() == 4);
  runtime.Dispose();
  outcomes = runtime.CallInternalSeries("objectKeys", calls, [](const Outcome&) { return true; });
  CHECK(outcomes.size() == 1 && outcomes[0].status == Status::kClosed);
}

}  // namespace

int main() {
  TestWholeSmallAnswersLeaveTheIsolateFree();
  TestWhatKeepsTheIsolate();
  TestASeriesStopsWhereGoOnSays();
  return TEST_EXIT_CODE();
}
