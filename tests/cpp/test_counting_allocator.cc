// CountingAllocator refuses past its budget and gives the bytes back on Free.
#include "check.h"
#include "counting_allocator.h"

using pyruntime::CountingAllocator;

int main() {
  CountingAllocator allocator(1024);
  void* a = allocator.Allocate(600);
  CHECK(a != nullptr);
  CHECK(allocator.used_bytes() == 600);
  CHECK(allocator.Allocate(600) == nullptr);  // 1200 > 1024
  CHECK(allocator.refused());
  allocator.ClearRefused();
  void* b = allocator.AllocateUninitialized(424);
  CHECK(b != nullptr);
  CHECK(allocator.used_bytes() == 1024);
  allocator.Free(a, 600);
  allocator.Free(b, 424);
  CHECK(allocator.used_bytes() == 0);
  CHECK(!allocator.refused());
  CHECK(allocator.Allocate(size_t{1} << 40) == nullptr);  // far past the limit, never attempted
  void* zero = allocator.Allocate(0);
  CHECK(zero != nullptr);
  allocator.Free(zero, 0);
  return TEST_EXIT_CODE();
}
