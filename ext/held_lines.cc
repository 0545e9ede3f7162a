#include "held_lines.h"

#include <atomic>
#include <cstring>
#include <mutex>

#include <unistd.h>

namespace pyruntime {

namespace {
char g_data[kHeldLinesCapacity];
// Bytes of g_data that hold lines; published after they are copied, for WriteHeldLines.
std::atomic<size_t> g_length{0};
// Orders HoldLines and TakeHeldLines between threads (WriteHeldLines does without).
std::mutex g_mutex;
}  // namespace

bool HoldLines(const char* data, size_t size) {
  std::lock_guard<std::mutex> lock(g_mutex);
  size_t length = g_length.load(std::memory_order_relaxed);
  if (size > kHeldLinesCapacity - length) return false;
  std::memcpy(g_data + length, data, size);
  g_length.store(length + size, std::memory_order_release);
  return true;
}

std::string TakeHeldLines() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::string lines(g_data, g_length.load(std::memory_order_relaxed));
  g_length.store(0, std::memory_order_release);
  return lines;
}

void WriteHeldLines(int fd) {
  size_t length = g_length.load(std::memory_order_acquire);
  size_t done = 0;
  while (done < length) {
    ssize_t n = write(fd, g_data + done, length - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

}  // namespace pyruntime
