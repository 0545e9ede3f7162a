// The header shapes JS adopts without append(): each side of the line against append()'s rules.
#include "check.h"
#include "http_headers.h"

using pyruntime::IsPlainHeaderName;
using pyruntime::IsPlainHeaderValue;

int main() {
  CHECK(IsPlainHeaderName("content-type"));
  CHECK(IsPlainHeaderName("x-a1!#$%&'*+-.^_`|~"));
  CHECK(!IsPlainHeaderName(""));
  CHECK(!IsPlainHeaderName("Content-Type"));  // append() lowercases it: JS's path
  CHECK(!IsPlainHeaderName("bad name"));
  CHECK(!IsPlainHeaderName("x:y"));
  CHECK(!IsPlainHeaderName("caf\xe9"));
  CHECK(!IsPlainHeaderName(std::string_view("x\0y", 3)));

  CHECK(IsPlainHeaderValue(""));
  CHECK(IsPlainHeaderValue("text/plain; charset=utf-8"));
  CHECK(IsPlainHeaderValue("a\tb  c"));  // inner tabs and spaces stay
  CHECK(IsPlainHeaderValue("caf\xe9"));  // bytes above 0x7f are kept as Latin-1
  CHECK(IsPlainHeaderValue("x"));
  CHECK(!IsPlainHeaderValue(" padded"));  // append() strips it: JS's path
  CHECK(!IsPlainHeaderValue("padded\t"));
  CHECK(!IsPlainHeaderValue("a\r\nb"));
  CHECK(!IsPlainHeaderValue("a\nb"));
  CHECK(!IsPlainHeaderValue("a\rb"));
  CHECK(!IsPlainHeaderValue(std::string_view("a\0b", 3)));
  CHECK(!IsPlainHeaderValue(std::string_view("\0", 1)));
  return TEST_EXIT_CODE();
}
