#include "background_cpu.h"

#include <pthread.h>

#include <ctime>
#include <iterator>
#include <utility>

#include <v8-isolate.h>
#include <v8-version.h>

namespace pyruntime {

namespace {

using Account = std::shared_ptr<BackgroundAccount>;

// The account of the task this worker thread runs now: what it posts is charged there too
// (a compile job's follow-up units, a sweeper's next step).
thread_local const Account* running_for = nullptr;

int64_t CpuNsOf(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// The account work posted from this thread now is charged to, or none.
Account PostingAccount() {
  if (running_for != nullptr) return *running_for;
  v8::Isolate* isolate = v8::Isolate::TryGetCurrent();
  if (isolate == nullptr) return nullptr;
  auto* held = static_cast<Account*>(isolate->GetData(kBackgroundAccountSlot));
  return held != nullptr ? *held : nullptr;
}

// Runs `run` on this thread charged to `account`.
template <typename Run>
void Charged(const Account& account, Run&& run) {
  const Account* outer = running_for;
  if (outer != nullptr && *outer == account) {  // within its own task (a job joined inline)
    run();
    return;
  }
  clockid_t clock{};
  pthread_getcpuclockid(pthread_self(), &clock);
  // Within another isolate's task, the time is this one's alone: the outer account pauses.
  if (outer != nullptr) (*outer)->Ended(clock);
  running_for = &account;
  account->Started(clock);
  run();
  account->Ended(clock);
  running_for = outer;
  if (outer != nullptr) (*outer)->Started(clock);
}

class ChargedTask final : public v8::Task {
 public:
  ChargedTask(std::unique_ptr<v8::Task> task, Account account)
      : task_(std::move(task)), account_(std::move(account)) {
    account_->Posted();
  }
  ~ChargedTask() override { account_->Gone(); }
  void Run() override { Charged(account_, [this] { task_->Run(); }); }

 private:
  std::unique_ptr<v8::Task> task_;
  const Account account_;
};

// V8 keeps some jobs' handles between bursts of work (concurrent marking's stays after the
// marking ends), so a job is in flight while it has work, not while it exists: from its
// posting until a run ends with none left, and again from its next run.
class ChargedJob final : public v8::JobTask {
 public:
  ChargedJob(std::unique_ptr<v8::JobTask> job, Account account) : job_(std::move(job)), account_(std::move(account)) {
    account_->Posted();
  }
  ~ChargedJob() override {
    if (pending_.load()) account_->Gone();
  }
  void Run(v8::JobDelegate* delegate) override {
    if (!pending_.exchange(true)) account_->Posted();
    Charged(account_, [this, delegate] { job_->Run(delegate); });
    // Counts the items in progress too: zero once no worker has any left.
    if (job_->GetMaxConcurrency(0) == 0 && pending_.exchange(false)) account_->Gone();
  }
  size_t GetMaxConcurrency(size_t worker_count) const override { return job_->GetMaxConcurrency(worker_count); }

 private:
  std::unique_ptr<v8::JobTask> job_;
  const Account account_;
  std::atomic<bool> pending_{true};
};

std::unique_ptr<v8::Task> Charge(std::unique_ptr<v8::Task> task) {
  Account account = PostingAccount();
  if (account == nullptr) return task;
  return std::make_unique<ChargedTask>(std::move(task), std::move(account));
}

std::unique_ptr<v8::JobTask> Charge(std::unique_ptr<v8::JobTask> job) {
  Account account = PostingAccount();
  if (account == nullptr) return job;
  return std::make_unique<ChargedJob>(std::move(job), std::move(account));
}

// Everything but the worker-thread work is V8's default platform's.
class ChargingPlatform final : public v8::Platform {
 public:
  explicit ChargingPlatform(v8::Platform* inner) : inner_(inner) {}

  v8::PageAllocator* GetPageAllocator() override { return inner_->GetPageAllocator(); }
  v8::ZoneBackingAllocator* GetZoneBackingAllocator() override { return inner_->GetZoneBackingAllocator(); }
  void OnCriticalMemoryPressure() override { inner_->OnCriticalMemoryPressure(); }
  int NumberOfWorkerThreads() override { return inner_->NumberOfWorkerThreads(); }
  std::shared_ptr<v8::TaskRunner> GetForegroundTaskRunner(v8::Isolate* isolate) override {
    return inner_->GetForegroundTaskRunner(isolate);
  }
  void CallOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallOnWorkerThread(Charge(std::move(task)));
  }
  void CallBlockingTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallBlockingTaskOnWorkerThread(Charge(std::move(task)));
  }
  void CallLowPriorityTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallLowPriorityTaskOnWorkerThread(Charge(std::move(task)));
  }
  void CallDelayedOnWorkerThread(std::unique_ptr<v8::Task> task, double delay_in_seconds) override {
    inner_->CallDelayedOnWorkerThread(Charge(std::move(task)), delay_in_seconds);
  }
  bool IdleTasksEnabled(v8::Isolate* isolate) override { return inner_->IdleTasksEnabled(isolate); }
  std::unique_ptr<v8::JobHandle> PostJob(v8::TaskPriority priority, std::unique_ptr<v8::JobTask> job) override {
    return inner_->PostJob(priority, Charge(std::move(job)));
  }
#if V8_MAJOR_VERSION >= 11
  std::unique_ptr<v8::JobHandle> CreateJob(v8::TaskPriority priority, std::unique_ptr<v8::JobTask> job) override {
    return inner_->CreateJob(priority, Charge(std::move(job)));
  }
  std::unique_ptr<v8::ScopedBlockingCall> CreateBlockingScope(v8::BlockingType type) override {
    return inner_->CreateBlockingScope(type);
  }
  int64_t CurrentClockTimeMilliseconds() override { return inner_->CurrentClockTimeMilliseconds(); }
  double CurrentClockTimeMillisecondsHighResolution() override {
    return inner_->CurrentClockTimeMillisecondsHighResolution();
  }
#else
  bool OnCriticalMemoryPressure(size_t length) override { return inner_->OnCriticalMemoryPressure(length); }
#endif
  double MonotonicallyIncreasingTime() override { return inner_->MonotonicallyIncreasingTime(); }
  double CurrentClockTimeMillis() override { return inner_->CurrentClockTimeMillis(); }
  StackTracePrinter GetStackTracePrinter() override { return inner_->GetStackTracePrinter(); }
  v8::TracingController* GetTracingController() override { return inner_->GetTracingController(); }
  void DumpWithoutCrashing() override { inner_->DumpWithoutCrashing(); }
  v8::HighAllocationThroughputObserver* GetHighAllocationThroughputObserver() override {
    return inner_->GetHighAllocationThroughputObserver();
  }

 private:
  v8::Platform* const inner_;
};

}  // namespace

int64_t BackgroundAccount::CpuNs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t total = ended_ns_;
  for (const auto& [clock, start] : running_) total += CpuNsOf(clock) - start;
  return total;
}

void BackgroundAccount::Started(clockid_t thread_clock) {
  std::lock_guard<std::mutex> lock(mutex_);
  running_.emplace_back(thread_clock, CpuNsOf(thread_clock));
}

void BackgroundAccount::Ended(clockid_t thread_clock) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    if (it->first == thread_clock) {
      ended_ns_ += CpuNsOf(thread_clock) - it->second;
      running_.erase(std::next(it).base());
      return;
    }
  }
}

void AttachBackgroundAccount(v8::Isolate* isolate, Account* account) {
  isolate->SetData(kBackgroundAccountSlot, account);
}

std::unique_ptr<v8::Platform> NewChargingPlatform(v8::Platform* inner) {
  return std::make_unique<ChargingPlatform>(inner);
}

}  // namespace pyruntime
