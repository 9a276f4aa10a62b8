// A minimal test harness for the C++ suite: CHECK(cond) records failures, main() runs every TEST.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace vt::test {
struct Case { const char* name; std::function<void()> fn; };
inline std::vector<Case>& cases() { static std::vector<Case> c; return c; }
inline int& failures() { static int f = 0; return f; }
struct Register { Register(const char* n, std::function<void()> f) { cases().push_back({n, std::move(f)}); } };
}  // namespace vt::test

#define TEST(name)                                                        \
  static void test_##name();                                              \
  static ::vt::test::Register reg_##name(#name, test_##name);             \
  static void test_##name()
#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
      ::vt::test::failures()++;                                                           \
    }                                                                                     \
  } while (0)
#define CHECK_THROWS(expr, Kind)                                                          \
  do {                                                                                    \
    bool thrown = false;                                                                  \
    try { (void)(expr); } catch (const Kind&) { thrown = true; }                          \
    CHECK(thrown && #expr " should throw " #Kind);                                        \
  } while (0)

int main() {
  for (auto& c : ::vt::test::cases()) {
    int before = ::vt::test::failures();
    try {
      c.fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: unexpected exception: %s\n", c.name, e.what());
      ::vt::test::failures()++;
    }
    std::printf("%s %s\n", ::vt::test::failures() == before ? "ok  " : "FAIL", c.name);
  }
  return ::vt::test::failures() ? 1 : 0;
}
