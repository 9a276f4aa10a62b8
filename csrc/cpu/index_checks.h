// Argument validation of the indexing ops, shared by the CPU kernels (cpu/index*.cpp, gather_scatter.cpp)
// and the CUDA ones (cuda/index*.cpp): everything that needs no index values (dtypes, dims, shapes), with
// PyTorch's wording. Each prepare_* returns the views both backends then work on. Index ranges are checked
// by the kernels: on the host before any write (CPU), or in the kernel through cuda/error_flag.h (CUDA).
#pragma once
#include <optional>
#include <string_view>

#include "core/tensor.h"

namespace vt {

// An int32/int64 index of at most one dim (index_select, index_add).
void check_index_vector(const Tensor& index, const char* op);

struct DimIndexArgs {
  Tensor self;  // at_least_1d(self) (index_add: the destination)
  Tensor src;   // index_add: at_least_1d(source), not aliasing self; otherwise undefined
  int64_t dim;  // wrapped
  int64_t n;    // number of indices
};
DimIndexArgs prepare_index_select(const Tensor& self, int64_t dim, const Tensor& index);
DimIndexArgs prepare_index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source);
void check_embedding(const Tensor& weight, const Tensor& indices);

struct GatherArgs {
  Tensor self, index, src;  // at_least_1d views; src: scatter's source (a 0-d self-dtype tensor when scalar)
  int64_t dim;
  bool scalar = false;  // scatter with a Python-number source
};
GatherArgs prepare_gather(const Tensor& self, int64_t dim, const Tensor& index);

enum class Reduce { None, Add, Multiply };
Reduce parse_reduce(std::optional<std::string_view> r);
// scatter/scatter_add into `self` (checked writable); src may be a wrapped Python number.
GatherArgs prepare_scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, const char* name);

// masked_select: the broadcast shape of self and a bool mask.
DimVec masked_select_shape(const Tensor& self, const Tensor& mask);
// one_hot's checks that need no data; the class range needs the values.
void check_one_hot(const Tensor& self, int64_t num_classes);

}  // namespace vt
