// IntDivider (core/int_divider.h): the multiply-and-shift quotient equals n / d over its whole range.
#include <cstdint>
#include <random>

#include "check.h"
#include "core/int_divider.h"

using namespace vt;

TEST(small_divisors_and_dividends_exhaustively) {
  for (uint32_t d = 1; d <= 300; d++) {
    IntDivider div(d);
    for (uint32_t n = 0; n < 5000; n++) CHECK(div.div(n) == n / d);
  }
}

TEST(edges_of_the_range) {
  const uint32_t top = (uint32_t(1) << 31) - 1;
  for (uint32_t d : {1u, 2u, 3u, 7u, 255u, 256u, 257u, 65535u, 65536u, 1u << 30, (1u << 30) + 1, top - 1, top}) {
    IntDivider div(d);
    for (uint32_t n : {0u, 1u, d - 1, d, d + 1, top - d, top - 1, top}) CHECK(div.div(n) == n / d);
  }
}

TEST(random_dividends_and_divisors) {
  std::mt19937 gen(1234);
  std::uniform_int_distribution<uint32_t> any(0, (uint32_t(1) << 31) - 1);
  for (int i = 0; i < 200000; i++) {
    uint32_t d = std::max<uint32_t>(1, any(gen) >> (any(gen) % 31)), n = any(gen);
    CHECK(IntDivider(d).div(n) == n / d);
  }
}
