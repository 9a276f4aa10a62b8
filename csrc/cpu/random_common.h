// What the CPU and CUDA random kernels share: argument validation (same checks, same messages on every
// device) and the host-side parameters both derive from the arguments. Defined in random_common.cpp.
#pragma once
#include <cstdint>
#include <utility>

#include "core/tensor.h"

namespace vt::rnd {

void check_floating(DType d, const char* op, const char* what);
// from/to finite in d, from <= to, and to - from representable in d.
void check_uniform_bounds(DType d, double from, double to, const char* op);
void check_normal_std(double stddev);
void check_p(double p, const char* op);      // a scalar probability in [0, 1]
void check_dropout_p(double p);

// The largest value of dtype d (floating) strictly below `to`, as its compute type (opmath) holds it:
// where uniform values that round up to `to` go. `from` when the range is empty.
double uniform_top(DType d, double from, double to);

// The integers each dtype holds exactly: its own range for integer types (bool: 0 and 1),
// [-2^digits, 2^digits] for floats.
std::pair<int64_t, int64_t> exact_int_range(DType d);
void check_randint_range(int64_t low, int64_t high, DType d);
void check_randperm(int64_t n, DType d);

// Checks multinomial's arguments (dims, dtype, sample count) and returns (rows, categories).
std::pair<int64_t, int64_t> check_multinomial(const Tensor& self, int64_t num_samples, bool replacement);

}  // namespace vt::rnd
