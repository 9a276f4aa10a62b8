#include "cpu/index_checks.h"

#include "cpu/index_utils.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt {

namespace {
int64_t nonempty_dim(const Tensor& t) { return std::max<int64_t>(t.dim(), 1); }

// An index lives with the data, or on the CPU for CUDA data (PyTorch copies it over, and so do we).
void check_index_device(const Tensor& self, const Tensor& index, const char* op) {
  VT_CHECK_VALUE(index.device() == self.device() || (self.device().is_cuda() && index.device().is_cpu()), op,
                 ": expected the index on ", self.device().str(), ", got ", index.device().str());
}
}  // namespace

void check_index_vector(const Tensor& index, const char* op) {
  VT_CHECK_TYPE(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, op,
                ": Expected dtype int32 or int64 for index, got ", dtype_name(index.dtype()));
  VT_CHECK_INDEX(index.dim() <= 1, op, ": Index is supposed to be a vector, got ", index.dim(), " dims");
}

DimIndexArgs prepare_index_select(const Tensor& self, int64_t dim, const Tensor& index) {
  check_index_vector(index, "index_select()");
  check_index_device(self, index, "index_select()");
  dim = wrap_dim(dim, self.dim(), "index_select()");
  int64_t n = index.numel();
  VT_CHECK_INDEX(self.dim() > 0 || n == 1, "index_select(): Index to scalar can have only 1 value, got ", n, " value(s)");
  return {at_least_1d(self), Tensor(), dim, n};
}

DimIndexArgs prepare_index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  check_index_vector(index, "index_add_()");
  check_index_device(self, index, "index_add_()");
  dim = wrap_dim(dim, self.dim(), "index_add_()");
  check_writable(self, "index_add_()");
  VT_CHECK_TYPE(source.dtype() == self.dtype(), "index_add_(): self (", dtype_name(self.dtype()), ") and source (",
                dtype_name(source.dtype()), ") must have the same scalar type");
  VT_CHECK_VALUE(source.device() == self.device(), "index_add_(): self (", self.device().str(), ") and source (",
                 source.device().str(), ") must be on the same device");
  Tensor dst = at_least_1d(self), src = at_least_1d(unaliased(source, self));
  bool same = src.dim() == dst.dim();
  for (int64_t d = 0; same && d < dst.dim(); d++) same = d == dim || src.sizes()[d] == dst.sizes()[d];
  VT_CHECK_VALUE(same, "index_add_(): source tensor shape must match self tensor shape, excluding the specified "
                 "dimension. Got self.shape = ", shape_str(self.sizes()), " source.shape = ", shape_str(source.sizes()));
  int64_t n = index.numel();
  VT_CHECK_VALUE(n == src.sizes()[dim], "index_add_(): Number of indices (", n,
                 ") should be equal to source.size(dim): (", src.sizes()[dim], "), for dim: ", dim);
  return {dst, src, dim, n};
}

void check_embedding(const Tensor& weight, const Tensor& indices) {
  VT_CHECK_VALUE(weight.dim() == 2, "embedding: 'weight' must be 2-D, got a tensor of shape ", shape_str(weight.sizes()));
  VT_CHECK_TYPE(indices.dtype() == DType::Int64 || indices.dtype() == DType::Int32,
                "embedding: expected indices of dtype int64 or int32, got ", dtype_name(indices.dtype()));
  check_index_device(weight, indices, "embedding");
}

GatherArgs prepare_gather(const Tensor& self, int64_t dim, const Tensor& index) {
  VT_CHECK_TYPE(index.dtype() == DType::Int64, "gather(): Expected dtype int64 for index, got ", dtype_name(index.dtype()));
  dim = wrap_dim(dim, self.dim(), "gather()");
  check_index_device(self, index, "gather()");
  VT_CHECK_VALUE(nonempty_dim(self) == nonempty_dim(index),
                 "gather(): Index tensor must have the same number of dimensions as input tensor");
  Tensor s = at_least_1d(self), idx = at_least_1d(index);
  for (int64_t d = 0; d < s.dim(); d++)
    VT_CHECK_VALUE(d == dim || idx.sizes()[d] <= s.sizes()[d], "gather(): Size does not match at dimension ", d,
                   " expected index ", shape_str(index.sizes()), " to be no larger than self ", shape_str(self.sizes()),
                   " apart from dimension ", dim);
  return {s, idx, Tensor(), dim, false};
}

Reduce parse_reduce(std::optional<std::string_view> r) {
  if (!r) return Reduce::None;
  if (*r == "add") return Reduce::Add;
  if (*r == "multiply") return Reduce::Multiply;
  VT_THROW(ValueError, "scatter(): reduce argument must be either add or multiply, got '", *r, "'");
}

GatherArgs prepare_scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src_in, const char* name) {
  bool scalar = src_in.is_wrapped_number();
  VT_CHECK_TYPE(index.dtype() == DType::Int64, name, ": Expected dtype int64 for index, got ", dtype_name(index.dtype()));
  VT_CHECK_VALUE(nonempty_dim(self) == nonempty_dim(index), name,
                 ": Index tensor must have the same number of dimensions as self tensor");
  if (!scalar) {
    VT_CHECK_TYPE(src_in.dtype() == self.dtype(), name, ": Expected self.dtype to be equal to src.dtype, got ",
                  dtype_name(self.dtype()), " and ", dtype_name(src_in.dtype()));
    VT_CHECK_VALUE(nonempty_dim(src_in) == nonempty_dim(index), name,
                   ": Index tensor must have the same number of dimensions as src tensor");
  }
  dim = wrap_dim(dim, self.dim(), name);
  check_index_device(self, index, name);
  VT_CHECK_VALUE(scalar || src_in.device() == self.device(), name, ": expected src on ", self.device().str(), ", got ",
                 src_in.device().str());
  check_writable(self, name);
  Tensor s = at_least_1d(self), idx = at_least_1d(unaliased(index, self));
  Tensor src = scalar ? scalar_tensor(host_item(src_in), self.dtype()) : at_least_1d(unaliased(src_in, self));
  bool fits = true;
  for (int64_t d = 0; d < s.dim(); d++)
    fits &= (d == dim || idx.sizes()[d] <= s.sizes()[d]) && (scalar || idx.sizes()[d] <= src.sizes()[d]);
  VT_CHECK_VALUE(fits, name, ": Expected index ", shape_str(index.sizes()), " to be no larger than self ",
                 shape_str(self.sizes()), " apart from dimension ", dim,
                 scalar ? "" : " and to be no larger size than src ", scalar ? "" : shape_str(src_in.sizes()));
  return {s, idx, src, dim, scalar};
}

DimVec masked_select_shape(const Tensor& self, const Tensor& mask) {
  VT_CHECK_TYPE(mask.dtype() == DType::Bool, "masked_select: expected BoolTensor for mask, got ", dtype_name(mask.dtype()));
  check_index_device(self, mask, "masked_select");
  return broadcast_shapes(self.sizes(), mask.sizes(), "masked_select");
}

void check_one_hot(const Tensor& self, int64_t num_classes) {
  VT_CHECK_TYPE(self.dtype() == DType::Int64, "one_hot is only applicable to index tensor of type LongTensor, got ",
                dtype_name(self.dtype()));
  VT_CHECK_VALUE(num_classes >= -1, "one_hot: num_classes should be -1 or non-negative, got ", num_classes);
  VT_CHECK_VALUE(self.numel() > 0 || num_classes != -1, "Can not infer total number of classes from empty tensor.");
}

}  // namespace vt
