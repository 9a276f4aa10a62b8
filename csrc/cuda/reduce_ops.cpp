// The reduction ops on CUDA: PyTorch's dtype rules around the generated kernels of cuda/reduce.cpp.
#include <cmath>

#include "cpu/reduce.h"  // the argument checks shared with the CPU reductions
#include "cuda/device.h"
#include "cuda/elementwise.h"
#include "cuda/reduce.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

// Runs `op` over dims and shapes the result as the user asked (keepdim or not).
Tensor reduced(const std::string& op, const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim,
               DType out_dtype, DType acc, double param = 0, const char* name = "reduction") {
  ReduceDims rd = make_reduce_dims(self, dims, keepdim, name);
  Tensor out = reduce(op, self, rd.mask, out_dtype, acc, param);
  return reshape(out, keepdim ? rd.out_shape : rd.kept_shape);
}

Tensor unary(const char* op, const Tensor& t, std::initializer_list<double> params = {}) {
  TensorIterator it = TensorIteratorConfig(op).add_output(Tensor()).add_input(t).promote_integer_inputs_to_float(true)
                          .build();
  launch_elementwise(it, op, params);
  return it.output();
}

Tensor sum_cuda(const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim, std::optional<DType> dtype) {
  Tensor x = dtype ? to_dtype(self, *dtype) : self;
  DType out = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : DType::Int64);
  return reduced("sum", x, dims, keepdim, out, acc_for(x.dtype()), 0, "sum");
}

Tensor mean_cuda(const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim, std::optional<DType> dtype) {
  DType d = dtype.value_or(self.dtype());
  VT_CHECK_TYPE(is_floating(d), "mean(): could not infer output dtype. Input dtype must be either a floating point "
                "or complex dtype. Got: ", dtype_name(d));
  Tensor x = to_dtype(self, d);
  ReduceDims rd = make_reduce_dims(x, dims, keepdim, "mean");
  int64_t n = 1;
  for (int64_t i = 0; i < x.dim(); i++)
    if (rd.mask[i]) n *= x.sizes()[i];
  Tensor out = reduce("sumdiv", x, rd.mask, d, acc_for(d), double(n));  // n = 0: 0 / 0 = nan, like PyTorch
  return reshape(out, keepdim ? rd.out_shape : rd.kept_shape);
}

Tensor prod_cuda(const Tensor& self, std::optional<int64_t> dim, bool keepdim, std::optional<DType> dtype) {
  Tensor x = dtype ? to_dtype(self, *dtype) : self;
  DType out = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : DType::Int64);
  std::optional<IntArrayRef> dims;
  DimVec one;
  if (dim) {
    one.push_back(*dim);
    dims = IntArrayRef(one);
  }
  return reduced("prod", x, dims, keepdim, out, acc_for(x.dtype()), 0, "prod");
}

void check_nonempty(const Tensor& self, const char* op) {
  VT_CHECK_INDEX(self.numel() > 0, op, "(): Expected reduction dim to be specified for input.numel() == 0. Specify "
                 "the reduction dim with the 'dim' argument.");
}

Tensor amax_cuda(const Tensor& self, IntArrayRef dims, bool keepdim) {
  ::vt::reduce::check_nonempty(self, dims, "amax");  // no identity: an empty reduced dim is an error
  return reduced("amax", self, dims, keepdim, self.dtype(), acc_for(self.dtype()), 0, "amax");
}
Tensor amin_cuda(const Tensor& self, IntArrayRef dims, bool keepdim) {
  ::vt::reduce::check_nonempty(self, dims, "amin");
  return reduced("amin", self, dims, keepdim, self.dtype(), acc_for(self.dtype()), 0, "amin");
}
Tensor max_all_cuda(const Tensor& self) {
  check_nonempty(self, "max");
  return reduced("amax", self, std::nullopt, false, self.dtype(), acc_for(self.dtype()));
}
Tensor min_all_cuda(const Tensor& self) {
  check_nonempty(self, "min");
  return reduced("amin", self, std::nullopt, false, self.dtype(), acc_for(self.dtype()));
}

std::tuple<Tensor, Tensor> arg_dim(const char* op, const Tensor& self, int64_t dim, bool keepdim) {
  int64_t d = wrap_dim(dim, self.dim(), op);
  DimVec one{d};
  ReduceDims rd = make_reduce_dims(self, IntArrayRef(one), keepdim, op);
  VT_CHECK_INDEX(self.dim() == 0 || self.sizes()[d] > 0, op, "(): Expected reduction dim ", d,
                 " to have non-zero size.");
  auto [v, i] = reduce_arg(op, self, rd.mask);
  DimVec shape = keepdim ? rd.out_shape : rd.kept_shape;
  return {reshape(v, shape), reshape(i, shape)};
}
std::tuple<Tensor, Tensor> max_dim_cuda(const Tensor& self, int64_t dim, bool keepdim) {
  return arg_dim("argmax", self, dim, keepdim);
}
std::tuple<Tensor, Tensor> min_dim_cuda(const Tensor& self, int64_t dim, bool keepdim) {
  return arg_dim("argmin", self, dim, keepdim);
}
Tensor argmax_cuda(const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  if (dim) return std::get<1>(arg_dim("argmax", self, *dim, keepdim));
  check_nonempty(self, "argmax");
  Tensor r = std::get<1>(arg_dim("argmax", reshape(self, DimVec{self.numel()}), 0, false));
  return keepdim ? reshape(r, DimVec(size_t(self.dim()), 1)) : r;
}
Tensor argmin_cuda(const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  if (dim) return std::get<1>(arg_dim("argmin", self, *dim, keepdim));
  check_nonempty(self, "argmin");
  Tensor r = std::get<1>(arg_dim("argmin", reshape(self, DimVec{self.numel()}), 0, false));
  return keepdim ? reshape(r, DimVec(size_t(self.dim()), 1)) : r;
}

Tensor logical(const char* op, const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  DimVec one;
  std::optional<IntArrayRef> dims;
  if (dim) {
    one.push_back(*dim);
    dims = IntArrayRef(one);
  }
  DType out = self.dtype() == DType::UInt8 ? DType::UInt8 : DType::Bool;
  return reduced(op, self, dims, keepdim, out, DType::Int32, 0, op);
}
Tensor any_cuda(const Tensor& s, std::optional<int64_t> d, bool k) { return logical("any", s, d, k); }
Tensor all_cuda(const Tensor& s, std::optional<int64_t> d, bool k) { return logical("all", s, d, k); }

Tensor norm_cuda(const Tensor& self, std::optional<Scalar> p, std::optional<IntArrayRef> dims, bool keepdim,
                 std::optional<DType> dtype) {
  Tensor x = dtype ? to_dtype(self, *dtype) : self;
  VT_CHECK_TYPE(is_floating(x.dtype()), "norm(): input dtype should be floating point, got ", dtype_name(x.dtype()));
  double pv = p ? p->to_double() : 2.0;
  DType acc = acc_for(x.dtype());
  if (std::isinf(pv)) return reduced(pv > 0 ? "absmax" : "absmin", x, dims, keepdim, x.dtype(), acc, 0, "norm");
  if (pv == 0) return reduced("nonzero", x, dims, keepdim, x.dtype(), acc, 0, "norm");
  if (pv == 1) return reduced("sumabs", x, dims, keepdim, x.dtype(), acc, 0, "norm");
  if (pv == 2) return unary("sqrt", reduced("sumsq", x, dims, keepdim, acc, acc, 0, "norm"));
  Tensor s = reduced("sumpow", x, dims, keepdim, acc, acc, pv, "norm");
  TensorIterator it = TensorIteratorConfig("norm").add_output(Tensor()).add_input(s)
                          .add_input(wrap_number(Scalar(1.0 / pv))).build();
  launch_elementwise(it, "pow");
  return to_dtype(it.output(), x.dtype());
}

Tensor softmax_impl(const char* op, const Tensor& self, int64_t dim, std::optional<DType> dtype) {
  Tensor x = dtype ? to_dtype(self, *dtype) : self;
  VT_CHECK_TYPE(is_floating(x.dtype()), op, "(): expected a floating point tensor, got ", dtype_name(x.dtype()));
  if (x.dim() == 0) return view(softmax_rows(op, reshape(x, DimVec{1}), x.dtype()), DimVec{});
  int64_t d = wrap_dim(dim, x.dim(), op);
  Tensor moved = d == x.dim() - 1 ? x : movedim(x, DimVec{d}, DimVec{x.dim() - 1});
  Tensor out = softmax_rows(op, contiguous(moved), x.dtype());
  return d == x.dim() - 1 ? out : movedim(out, DimVec{x.dim() - 1}, DimVec{d});
}
Tensor softmax_cuda(const Tensor& s, int64_t d, std::optional<DType> t) { return softmax_impl("softmax", s, d, t); }
Tensor log_softmax_cuda(const Tensor& s, int64_t d, std::optional<DType> t) {
  return softmax_impl("log_softmax", s, d, t);
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("sum", &sum_cuda);
  m.impl("mean", &mean_cuda);
  m.impl("prod", &prod_cuda);
  m.impl("amax", &amax_cuda);
  m.impl("amin", &amin_cuda);
  m.impl("max", &max_all_cuda);
  m.impl("min", &min_all_cuda);
  m.impl("max.dim", &max_dim_cuda);
  m.impl("min.dim", &min_dim_cuda);
  m.impl("argmax", &argmax_cuda);
  m.impl("argmin", &argmin_cuda);
  m.impl("any", &any_cuda);
  m.impl("all", &all_cuda);
  m.impl("norm", &norm_cuda);
  m.impl("softmax", &softmax_cuda);
  m.impl("log_softmax", &log_softmax_cuda);
}

}  // namespace
}  // namespace vt::cuda
