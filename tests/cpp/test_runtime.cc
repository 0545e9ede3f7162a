// The Runtime's limits and event loop, driven directly from C++ (no Python).
#include <chrono>
#include <string>

#include "check.h"
#include "host_interface.h"
#include "runtime.h"

using pyruntime::IsolateLimits;
using pyruntime::Outcome;
using pyruntime::Runtime;
using pyruntime::Status;

namespace {

IsolateLimits Limits(double timeout_ms, double cpu_ms, size_t memory_mb) {
  IsolateLimits limits;
  limits.timeout_ms = timeout_ms;
  limits.cpu_limit_ms = cpu_ms;
  limits.memory_limit_bytes = memory_mb * 1024 * 1024;
  return limits;
}

void TestValues() {
  Runtime runtime(Limits(1000, 1000, 64));
  Outcome out = runtime.Eval("[1, 2.5, 'é', null, {a: true}]", "values.js");
  CHECK(out.status == Status::kOk);
  CHECK(out.value.items.size() == 5);
  CHECK(out.value.items[0].integer == 1);
  CHECK(out.value.items[1].number == 2.5);
  CHECK(out.value.items[2].text == "\xC3\xA9");
  CHECK(out.value.items[4].entries[0].first == "a");
  out = runtime.Eval("const o = {}; o.self = o; o", "cycle.js");
  CHECK(out.status == Status::kConversionError);
}

void TestTimeLimit() {
  Runtime runtime(Limits(50, 0, 64));
  auto start = std::chrono::steady_clock::now();
  Outcome out = runtime.Eval("try { while (true) {} } catch (e) {}", "loop.js");
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CHECK(out.status == Status::kTimeout);
  CHECK(ms >= 50);
  CHECK(runtime.Eval("6 * 7", "after.js").value.integer == 42);
}

void TestCpuLimit() {
  Runtime runtime(Limits(0, 30, 64));
  Outcome out = runtime.Eval("function f() { Promise.resolve().then(f) } f()", "flood.js");
  CHECK(out.status == Status::kCpuLimit);
  CHECK(out.cpu_ms >= 30);
  CHECK(runtime.Eval("1 + 1", "after.js").value.integer == 2);
}

// The host's total deadline stops a slice whatever its own limits are, with a status of its
// own, and does not outlive the call it was set for.
void TestCallDeadline() {
  Runtime runtime(Limits(0, 0, 64));
  runtime.SetCallDeadline(50);
  auto start = std::chrono::steady_clock::now();
  Outcome out = runtime.Eval("try { while (true) {} } catch (e) {}", "spin.js");
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CHECK(out.status == Status::kDeadline);
  CHECK(out.error_name == "TimeLimitExceeded");
  CHECK(ms >= 50);
  runtime.ClearTerminate();
  out = runtime.Eval("const until = Date.now() + 100; while (Date.now() < until) {} 7", "after.js");
  CHECK(out.status == Status::kOk && out.value.integer == 7);

  Runtime limited(Limits(10000, 0, 64));
  limited.SetCallDeadline(50);
  CHECK(limited.Eval("while (true) {}", "nearer.js").status == Status::kDeadline);
  Runtime short_wall(Limits(50, 0, 64));
  short_wall.SetCallDeadline(60000);
  CHECK(short_wall.Eval("while (true) {}", "own.js").status == Status::kTimeout);
}

void TestMemoryLimit() {
  Runtime runtime(Limits(0, 0, 32));
  Outcome out = runtime.Eval("const a = []; while (true) a.push({x: a.length})", "hog.js");
  CHECK(out.status == Status::kMemoryLimit);
  CHECK(!runtime.alive());
  CHECK(runtime.Eval("1", "after.js").status == Status::kClosed);
  Runtime fresh(Limits(0, 0, 32));
  CHECK(fresh.Eval("1", "fresh.js").value.integer == 1);
}

void TestEventLoop() {
  Runtime runtime(Limits(1000, 1000, 64));
  Outcome out = runtime.Eval("new Promise(() => {})", "never.js");
  CHECK(out.status == Status::kUnsettled);
  out = runtime.Eval("Promise.reject(new RangeError('no'))", "reject.js");
  CHECK(out.status == Status::kJsError);
  CHECK(out.error_name == "RangeError");
}

void TestConsoleIsCappedPerCall() {
  Runtime runtime(Limits(0, 0, 64));
  Outcome out = runtime.Eval("for (let i = 0; i < 100; i++) console.log('x'.repeat(1e5))", "flood.js");
  CHECK(out.status == Status::kOk);
  size_t bytes = 0;
  for (const auto& line : out.console) bytes += line.text.size();
  CHECK(bytes <= pyruntime::HostInterface::kMaxConsoleBytes);
  CHECK(out.console.back().text.find("console output truncated") != std::string::npos);
  out = runtime.Eval("console.log('next call')", "next.js");
  CHECK(out.console.size() == 1 && out.console[0].text == "next call");
}

void TestBuiltinGuardsRefuseFatalInputs() {
  Runtime runtime(Limits(1000, 1000, 64));
  Outcome out = runtime.Eval("new Array(2 ** 32 - 1).fill(0)", "fill.js");
  CHECK(out.status == Status::kJsError);
  CHECK(out.error_name == "RangeError");
  out = runtime.Eval("'x'.repeat(2 ** 27 + 16).match(/x/g)", "match.js");
  CHECK(out.error_name == "RangeError");
  CHECK(runtime.Eval("'a,b'.split(',').length", "after.js").value.integer == 2);
}

}  // namespace

int main() {
  TestValues();
  TestTimeLimit();
  TestCpuLimit();
  TestCallDeadline();
  TestMemoryLimit();
  TestEventLoop();
  TestConsoleIsCappedPerCall();
  TestBuiltinGuardsRefuseFatalInputs();
  return TEST_EXIT_CODE();
}
