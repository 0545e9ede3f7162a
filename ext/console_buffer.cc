#include "console_buffer.h"

#include "host_interface.h"

namespace pyruntime {

void ConsoleBuffer::BeginCall() {
  call_bytes_ = 0;
  dropped_ = 0;
  truncation_told_ = false;
}

void ConsoleBuffer::Print(std::string level, std::string text) {
  size_t bytes = text.size() + level.size() + sizeof(ConsoleLine);
  if (call_bytes_ + bytes > HostInterface::kMaxConsoleBytes || !memory_->Hold(bytes)) return Drop();
  call_bytes_ += bytes;
  held_bytes_ += bytes;
  lines_.push_back(ConsoleLine{std::move(level), std::move(text)});
}

void ConsoleBuffer::Drop() {
  call_bytes_ = HostInterface::kMaxConsoleBytes;
  ++dropped_;
}

std::vector<ConsoleLine> ConsoleBuffer::Take() {
  if (dropped_ > 0 && !truncation_told_) {
    truncation_told_ = true;
    lines_.push_back(ConsoleLine{"warn", "console output truncated: more than " +
                                             std::to_string(HostInterface::kMaxConsoleBytes >> 20) +
                                             " MB in one call; further lines of this call are dropped"});
  }
  std::vector<ConsoleLine> lines = std::move(lines_);
  lines_.clear();
  memory_->Release(held_bytes_);
  held_bytes_ = 0;
  return lines;
}

}  // namespace pyruntime
