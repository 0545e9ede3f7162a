// BackgroundAccount: a task in progress counts as far as it got, the account never goes back,
// and work V8 does on its worker threads for a runtime's isolate is charged to it alone.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>

#include "background_cpu.h"
#include "check.h"
#include "runtime.h"

using pyruntime::BackgroundAccount;
using pyruntime::IsolateLimits;
using pyruntime::Outcome;
using pyruntime::Runtime;
using pyruntime::Status;

namespace {

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void Spin(double ms) {
  double until = ThreadCpuMs() + ms;
  volatile double sink = 0;
  while (ThreadCpuMs() < until) sink = sink + 1;
}

void TestATaskInProgressCounts() {
  BackgroundAccount account;
  std::atomic<int> step{0};
  std::thread worker([&] {
    clockid_t clock{};
    pthread_getcpuclockid(pthread_self(), &clock);
    account.Posted();
    account.Started(clock);
    Spin(30);
    step = 1;
    while (step != 2) std::this_thread::yield();
    account.Ended(clock);
    account.Gone();
  });
  while (step != 1) std::this_thread::yield();
  CHECK(account.InFlight() == 1);
  double seen = account.CpuMs();
  CHECK(seen >= 30);
  step = 2;
  worker.join();
  CHECK(account.CpuMs() >= seen);  // the task's end never counts less than was seen
  CHECK(account.CpuMs() < seen + 1000);
  CHECK(account.InFlight() == 0);
}

void TestWorkerThreadsChargeTheirIsolate() {
  IsolateLimits limits;
  limits.timeout_ms = 0;
  limits.cpu_limit_ms = 0;
  Runtime idle(limits);
  Runtime busy(limits);
  double idle_before = idle.BackgroundCpuMs();
  // Churning objects makes V8 mark the heap concurrently, on its worker threads.
  Outcome out = busy.Eval(
      "const keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ i, text: 'x' + i });"
      " if (keep.length > 2e5) keep.length = 0; } keep.length",
      "churn.js");
  CHECK(out.status == Status::kOk);
  CHECK(busy.BackgroundCpuMs() > 0);
  CHECK(busy.CallCpuMs() >= busy.BackgroundCpuMs() - busy.UnbilledBackgroundMs());
  CHECK(idle.BackgroundCpuMs() == idle_before);
  // The marking job's handle outlives its work; once the work is done nothing is in flight
  // (a host watching for in-flight work would otherwise watch forever).
  for (int i = 0; i < 1000 && busy.BackgroundInFlight() > 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(busy.BackgroundInFlight() == 0);
}

}  // namespace

int main() {
  TestATaskInProgressCounts();
  TestWorkerThreadsChargeTheirIsolate();
  return TEST_EXIT_CODE();
}
