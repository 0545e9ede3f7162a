// A minimal check macro for the C++ unit tests: prints the failing expression and
// makes the test binary exit non-zero, which ctest reports.
#pragma once

#include <cstdio>

inline int g_failures = 0;

#define CHECK(expr)                                                              \
  do {                                                                           \
    if (!(expr)) {                                                               \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
      ++g_failures;                                                              \
    }                                                                            \
  } while (0)

#define TEST_EXIT_CODE() (g_failures == 0 ? 0 : 1)
