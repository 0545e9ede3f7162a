// HoldLines, TakeHeldLines and WriteHeldLines: order, the capacity bound, writes to a file
// descriptor without taking, and several threads holding at once.
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "check.h"
#include "held_lines.h"

using pyruntime::HoldLines;
using pyruntime::kHeldLinesCapacity;
using pyruntime::TakeHeldLines;
using pyruntime::WriteHeldLines;

namespace {

bool Hold(const std::string& text) { return HoldLines(text.data(), text.size()); }

// What WriteHeldLines writes, read back through a pipe.
std::string Written() {
  int fds[2];
  if (pipe(fds) != 0) return "no pipe";
  WriteHeldLines(fds[1]);
  close(fds[1]);
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<size_t>(n));
  close(fds[0]);
  return out;
}

}  // namespace

int main() {
  CHECK(TakeHeldLines().empty());
  CHECK(Written().empty());

  CHECK(Hold("{\"n\":1}\n"));
  CHECK(Hold("{\"n\":2}\n"));
  CHECK(Written() == "{\"n\":1}\n{\"n\":2}\n");  // written, still held
  CHECK(TakeHeldLines() == "{\"n\":1}\n{\"n\":2}\n");
  CHECK(TakeHeldLines().empty());

  // Up to the capacity, then refused whole: nothing of a refused line is kept.
  std::string half(kHeldLinesCapacity / 2, 'a');
  CHECK(Hold(half));
  CHECK(Hold(half));
  CHECK(!Hold("b"));
  CHECK(TakeHeldLines() == half + half);
  CHECK(!Hold(std::string(kHeldLinesCapacity + 1, 'c')));
  CHECK(TakeHeldLines().empty());

  // Several threads holding whole lines: every line is kept whole, none twice.
  std::vector<std::thread> threads;
  for (char mark = 'p'; mark < 't'; ++mark) {
    threads.emplace_back([mark] {
      for (int i = 0; i < 200; ++i) Hold(std::string(9, mark) + "\n");
    });
  }
  for (auto& thread : threads) thread.join();
  std::string all = TakeHeldLines();
  CHECK(all.size() == 4 * 200 * 10);
  for (size_t at = 0; at + 10 <= all.size(); at += 10) {
    CHECK(all.substr(at, 10) == std::string(9, all[at]) + "\n");
  }

  return TEST_EXIT_CODE();
}
