// Console output of one isolate until the host takes it. At most
// HostInterface::kMaxConsoleBytes per call: past it the rest of the call is dropped (output
// stays a prefix, never a sample) and one line says so. Lines count against the memory limit
// while held.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "limit_enforcer.h"

namespace pyruntime {

struct ConsoleLine {
  std::string level;
  std::string text;
};

class ConsoleBuffer {
 public:
  explicit ConsoleBuffer(LimitEnforcer* memory) : memory_(memory) {}
  ~ConsoleBuffer() { memory_->Release(held_bytes_); }
  ConsoleBuffer(const ConsoleBuffer&) = delete;
  ConsoleBuffer& operator=(const ConsoleBuffer&) = delete;

  void BeginCall();
  void Print(std::string level, std::string text);
  void Drop();
  // The lines since the last Take (and the truncation notice, once per call).
  std::vector<ConsoleLine> Take();

 private:
  LimitEnforcer* const memory_;
  std::vector<ConsoleLine> lines_;
  size_t call_bytes_ = 0;  // this call's output so far (the cap)
  size_t held_bytes_ = 0;  // of which not yet taken (the budget)
  size_t dropped_ = 0;     // lines past the cap in this call
  bool truncation_told_ = false;
};

}  // namespace pyruntime
