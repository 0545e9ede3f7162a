#include "process_guard.h"

#include <csignal>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <v8-version.h>

#include "held_lines.h"

namespace pyruntime {

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Formatting with no allocation and no locale, so that it is safe in a signal handler.
class LineBuffer {
 public:
  void Append(const char* text) {
    while (*text != '\0' && length_ < sizeof(data_) - 2) data_[length_++] = *text++;
  }
  void AppendEscaped(const char* text) {
    for (; *text != '\0'; ++text) {
      char c = *text;
      if (c == '"' || c == '\\') {
        Append(c == '"' ? "\\\"" : "\\\\");
      } else if (static_cast<unsigned char>(c) < 0x20) {
        Append(" ");
      } else {
        char one[2] = {c, '\0'};
        Append(one);
      }
    }
  }
  void AppendNumber(uint64_t value, int width = 0) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0 || n < width);
    while (n > 0) {
      char one[2] = {digits[--n], '\0'};
      Append(one);
    }
  }
  // RFC 3339 UTC with milliseconds, as pyruntime/logs.py writes it.
  void AppendTimestamp() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t days = now.tv_sec / 86400;
    int64_t seconds = now.tv_sec % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    days += 719468;
    int64_t era = days / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    AppendNumber(year, 4);
    Append("-");
    AppendNumber(month, 2);
    Append("-");
    AppendNumber(day, 2);
    Append("T");
    AppendNumber(seconds / 3600, 2);
    Append(":");
    AppendNumber(seconds / 60 % 60, 2);
    Append(":");
    AppendNumber(seconds % 60, 2);
    Append(".");
    AppendNumber(now.tv_nsec / 1000000, 3);
    Append("Z");
  }
  void WriteTo(int fd) {
    data_[length_++] = '\n';
    size_t done = 0;
    while (done < length_) {
      ssize_t n = write(fd, data_ + done, length_ - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }

 private:
  char data_[1024];
  size_t length_ = 0;
};

std::atomic<bool> g_enabled{false};
// Set by StopForExit.
std::atomic<bool> g_exiting{false};

// One JSON line, then the process ends without running destructors or atexit handlers
// (other threads may be inside V8). stdout is the server's log stream; an embedding host
// that did not enable the guard gets the line on stderr instead. Log lines the host held
// for a moment (held_lines.h) go to stdout first: they are about requests already answered.
[[noreturn]] void EndProcess(const char* event, const char* reason, int exit_code) {
  WriteHeldLines(STDOUT_FILENO);
  LineBuffer line;
  line.Append("{\"timestamp\": \"");
  line.AppendTimestamp();
  line.Append("\", \"level\": \"error\", \"event\": \"");
  line.Append(event);
  line.Append("\", \"reason\": \"");
  line.AppendEscaped(reason);
  line.Append("\", \"pid\": ");
  line.AppendNumber(static_cast<uint64_t>(getpid()));
  line.Append(", \"exit_code\": ");
  line.AppendNumber(static_cast<uint64_t>(exit_code));
  line.Append("}");
  line.WriteTo(g_enabled ? STDOUT_FILENO : STDERR_FILENO);
  _exit(exit_code);
}

// The process's resident size, from an open /proc/self/statm (read again from its start:
// the guard reads it a hundred times a second, and opening it each time was most of an idle
// worker's CPU).
size_t ReadRssBytes(int statm_fd) {
  char buffer[128];
  ssize_t n = pread(statm_fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return 0;
  buffer[n] = '\0';
  const char* resident = std::strchr(buffer, ' ');
  if (resident == nullptr) return 0;
  return std::strtoull(resident + 1, nullptr, 10) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void EndForOutOfMemory(const char* location, bool is_heap_oom) {
  std::string reason = std::string(is_heap_oom ? "V8 ran out of JavaScript heap memory" : "V8 ran out of process memory") +
                       " in " + (location != nullptr ? location : "an unknown place") +
                       " (a builtin kept allocating after termination was requested)";
  EndProcess("v8_fatal", reason.c_str(), kV8FatalExitCode);
}

// V8 11 passes the details in a struct (Debian 13's libnode115), V8 10 a flag (Debian 12's).
#if V8_MAJOR_VERSION >= 11
void OnOutOfMemory(const char* location, const v8::OOMDetails& details) {
  EndForOutOfMemory(location, details.is_heap_oom);
}
#else
void OnOutOfMemory(const char* location, bool is_heap_oom) { EndForOutOfMemory(location, is_heap_oom); }
#endif

void OnFatalError(const char* location, const char* message) {
  std::string reason = std::string("V8 fatal error in ") + (location != nullptr ? location : "an unknown place") +
                       ": " + (message != nullptr ? message : "");
  EndProcess("v8_fatal", reason.c_str(), kV8FatalExitCode);
}

// A failed V8 CHECK ends in abort() or a trap instruction, without a callback.
void OnFatalSignal(int signal) {
  EndProcess("v8_fatal",
             signal == SIGABRT ? "the process aborted (SIGABRT), usually a failed V8 check; stderr has V8's message"
                               : "the process hit a trap instruction, usually a failed V8 check; stderr has V8's message",
             kV8FatalExitCode);
}

}  // namespace

class ProcessGuard {
 public:
  static ProcessGuard& Instance() {
    static auto* guard = new ProcessGuard();  // never destroyed: its thread outlives main()
    return *guard;
  }

  void Add(GuardedIsolate* isolate) {
    std::lock_guard<std::mutex> lock(mutex_);
    isolates_.push_back(isolate);
  }

  void Remove(GuardedIsolate* isolate) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = isolates_.begin(); it != isolates_.end(); ++it) {
      if (*it == isolate) {
        isolates_.erase(it);
        return;
      }
    }
  }

  // See StopForExit (process_guard.h). Termination is repeated at each look, in case V8
  // re-entered JS from a callback.
  bool StopAll(double wait_ms) {
    g_exiting = true;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(wait_ms);
    for (;;) {
      bool running = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (GuardedIsolate* guarded : isolates_) {
          if (!guarded->in_slice_) continue;
          running = true;
          if (v8::Isolate* isolate = guarded->isolate_) isolate->TerminateExecution();
        }
      }
      if (!running) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Under the lock, so that StopAll never terminates an isolate being disposed.
  void Attach(GuardedIsolate* guarded, v8::Isolate* isolate) {
    std::lock_guard<std::mutex> lock(mutex_);
    guarded->isolate_ = isolate;
  }

  void Enable(size_t allowance_bytes, double grace_ms) {
    std::lock_guard<std::mutex> lock(mutex_);
    allowance_bytes_ = allowance_bytes;
    grace_ns_ = static_cast<int64_t>(grace_ms * 1e6);
    if (thread_.joinable()) return;
    statm_fd_ = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    base_rss_bytes_ = ReadRssBytes(statm_fd_);
    g_enabled = true;
    struct sigaction action {};
    action.sa_handler = OnFatalSignal;
    sigemptyset(&action.sa_mask);
    for (int signal : {SIGABRT, SIGTRAP, SIGILL}) sigaction(signal, &action, nullptr);
    thread_ = std::thread([this] { Run(); });
    thread_.detach();
  }

 private:
  void Run() {
    int64_t over_since = 0;
    bool running = false;
    for (;;) {
      std::this_thread::sleep_for(running ? kPollInterval : kIdlePollInterval);
      int64_t now = NowNs();
      size_t bound = 0;
      int64_t stuck_ns = 0;
      running = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        bound = base_rss_bytes_ + allowance_bytes_;
        for (GuardedIsolate* isolate : isolates_) {
          bound += isolate->memory_limit_bytes_;
          running = running || isolate->in_slice_.load();
          int64_t requested = isolate->stop_requested_ns_.load();
          if (isolate->in_slice_.load() && requested != 0 && now - requested > grace_ns_) {
            stuck_ns = now - requested;
          }
        }
      }
      if (stuck_ns != 0) {
        std::string reason = "isolate did not stop " + std::to_string(stuck_ns / 1000000) +
                             " ms after termination was requested (grace " + std::to_string(grace_ns_ / 1000000) +
                             " ms): JS was inside a builtin, native code, a regex or the GC";
        EndProcess("worker_abort", reason.c_str(), kWorkerAbortExitCode);
      }
      size_t rss = ReadRssBytes(statm_fd_);
      if (rss <= bound) {
        over_since = 0;
      } else if (over_since == 0) {
        over_since = now;
      } else if (now - over_since > std::chrono::nanoseconds(kRssWindow).count()) {
        std::string reason = "process resident memory " + std::to_string(rss >> 20) + " MB stayed above its bound of " +
                             std::to_string(bound >> 20) + " MB (start-up size, the isolates' memory limits and a " +
                             std::to_string(allowance_bytes_ >> 20) + " MB allowance) for " +
                             std::to_string((now - over_since) / 1000000) + " ms";
        EndProcess("worker_abort", reason.c_str(), kWorkerAbortExitCode);
      }
    }
  }

  std::mutex mutex_;
  std::vector<GuardedIsolate*> isolates_;
  size_t allowance_bytes_ = 0;
  size_t base_rss_bytes_ = 0;
  int statm_fd_ = -1;  // open for the process's life, as the thread that reads it
  int64_t grace_ns_ = 0;
  std::thread thread_;
};

GuardedIsolate::GuardedIsolate(size_t memory_limit_bytes) : memory_limit_bytes_(memory_limit_bytes) {
  ProcessGuard::Instance().Add(this);
}

GuardedIsolate::~GuardedIsolate() { ProcessGuard::Instance().Remove(this); }

void GuardedIsolate::Attach(v8::Isolate* isolate) { ProcessGuard::Instance().Attach(this, isolate); }

void GuardedIsolate::SliceStarted() {
  stop_requested_ns_ = 0;
  in_slice_ = true;
  // A slice that passed RunSlice's check as StopForExit began: one of the two sees the other
  // (both atomics are sequentially consistent), so this slice is stopped either way.
  if (g_exiting) {
    if (v8::Isolate* isolate = isolate_) isolate->TerminateExecution();
  }
}

void GuardedIsolate::SliceEnded() {
  in_slice_ = false;
  stop_requested_ns_ = 0;
}

void GuardedIsolate::StopRequested() {
  if (!in_slice_) return;
  int64_t none = 0;
  stop_requested_ns_.compare_exchange_strong(none, NowNs());
}

void EnableProcessGuard(size_t allowance_bytes, double grace_ms) {
  ProcessGuard::Instance().Enable(allowance_bytes, grace_ms);
}

bool ProcessGuardEnabled() { return g_enabled; }

bool StopForExit(double wait_ms) { return ProcessGuard::Instance().StopAll(wait_ms); }

bool ProcessExiting() { return g_exiting; }

void InstallFatalErrorHandlers(v8::Isolate* isolate) {
  static std::once_flag once;
  std::call_once(once, [] { v8::V8::SetFatalMemoryErrorCallback(OnOutOfMemory); });
  isolate->SetOOMErrorHandler(OnOutOfMemory);
  isolate->SetFatalErrorHandler(OnFatalError);
}

}  // namespace pyruntime
