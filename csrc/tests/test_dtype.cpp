// Half/bfloat16 conversions and PyTorch's promotion table.
#include <cmath>
#include <cstring>
#include <string>

#include "check.h"
#include "core/dtype.h"

using namespace vt;

TEST(half_round_trips_every_value) {
  for (uint32_t bits = 0; bits < 65536; bits++) {
    Half h;
    h.x = uint16_t(bits);
    float f = float(h);
    Half back(f);
    if (std::isnan(f)) CHECK(std::isnan(float(back)));
    else CHECK(back.x == h.x);
  }
}

TEST(half_rounds_to_nearest_even) {
  CHECK(Half(1.0f + 1.0f / 2048).x == Half(1.0f).x);       // halfway between 1 and the next: even (1)
  CHECK(Half(1.0f + 3.0f / 2048).x == Half(1.0f).x + 2);   // halfway, odd below: rounds up
  CHECK(std::isinf(float(Half(65520.0f))));                // past the largest half
  CHECK(float(Half(65504.0f)) == 65504.0f);
  CHECK(float(Half(5.96046448e-08f)) == 5.96046448e-08f);   // smallest subnormal
  CHECK(float(Half(1e-9f)) == 0.0f);
}

TEST(bfloat16_round_trips_and_rounds) {
  for (uint32_t bits = 0; bits < 65536; bits++) {
    BFloat16 b;
    b.x = uint16_t(bits);
    float f = float(b);
    if (!std::isnan(f)) CHECK(BFloat16(f).x == b.x);
  }
  CHECK(float(BFloat16(1.00390625f)) == 1.0f);     // halfway, ties to even
  CHECK(float(BFloat16(1.01171875f)) == 1.015625f);
  CHECK(std::isnan(float(BFloat16(NAN))));
}

TEST(promotion_is_symmetric_and_matches_torch) {
  for (int a = 0; a < kNumDTypes; a++)
    for (int b = 0; b < kNumDTypes; b++) CHECK(promote_types(DType(a), DType(b)) == promote_types(DType(b), DType(a)));
  CHECK(promote_types(DType::UInt8, DType::Int8) == DType::Int16);
  CHECK(promote_types(DType::Float16, DType::BFloat16) == DType::Float32);
  CHECK(promote_types(DType::Int64, DType::Float16) == DType::Float16);
  CHECK(promote_types(DType::Bool, DType::UInt8) == DType::UInt8);
}

TEST(dtype_names_and_an_out_of_range_value) {
  CHECK(std::string(dtype_name(DType::BFloat16)) == "bfloat16");
  CHECK(std::string(dtype_name(DType::Float64)) == "float64");
  CHECK(std::string(dtype_name(DType(kNumDTypes))) == "invalid");  // no read past the name table
  CHECK(std::string(dtype_name(DType(255))) == "invalid");
}
