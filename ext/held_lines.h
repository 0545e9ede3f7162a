// Log lines the host holds for a moment before writing them together: the request lines of
// one pass of a server's event loop (pyruntime/server/logs.py, JsonLogger.write_record_soon).
// They are held here, not in Python, so that a process ending at once still writes them:
// process_guard.cc's EndProcess writes what is held to stdout before its own line, so a
// worker that the guard or V8 ends loses no line of a request it already answered.
//
// One buffer per process, for stdout. Append and Take may be called from any thread;
// WriteHeldLines takes no lock and may run in a signal handler.
#pragma once

#include <cstddef>
#include <string>

namespace pyruntime {

constexpr size_t kHeldLinesCapacity = 64 * 1024;

// Adds `size` bytes; false (nothing added) if they do not fit beside what is held.
bool HoldLines(const char* data, size_t size);
// What is held, which is then no longer held.
std::string TakeHeldLines();
// Async-signal-safe: writes what is held to `fd`. For the process's last moments; a line
// taken at the same moment may be written twice, never lost.
void WriteHeldLines(int fd);

}  // namespace pyruntime
