// Matrix products: mm, bmm, addmm and dot, for both devices. Validation follows PyTorch (its messages where
// they are clear). On CPU the arithmetic is the GEMM engine in gemm.h, which reads operands at any strides, so
// transposed and broadcast (stride-0) inputs are never copied first; CUDA tensors go to cuda/blas.h
// (cuBLASLt, or a generated Triton kernel), floating dtypes only, as in PyTorch.
#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cuda/blas.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt {
namespace {

// PyTorch's ScalarType names, used in its "expected scalar type" messages.
const char* scalar_type_name(DType d) {
  static constexpr const char* names[] = {"Bool", "Byte", "Char", "Short", "Int",
                                          "Long", "Half", "BFloat16", "Float", "Double"};
  return names[int(d)];
}

void check_not_bool(DType d, const char* op) {
  VT_CHECK_TYPE(d != DType::Bool, "\"", op, "\" not implemented for 'Bool'");
}

// PyTorch's CUDA GEMMs exist for floating dtypes only; `kernel` is its kernel's name ("addmm_cuda").
void check_cuda_floating(DType d, const char* kernel) {
  VT_CHECK_TYPE(is_floating(d), "\"", kernel, "\" not implemented for '", scalar_type_name(d), "'");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  VT_CHECK_VALUE(a.device() == b.device(), op, ": expected all tensors to be on the same device, but found ",
                 a.device().str(), " and ", b.device().str());
}

// The matrix in t's last two dims; for a 3-D t, the one at index `batch` of dim 0.
template <class T> gemm::MatRef<T> mat(const Tensor& t, int64_t batch = 0) {
  const int64_t d = t.dim() - 2;
  T* p = static_cast<T*>(t.data()) + (d > 0 ? batch * t.strides()[0] : 0);
  return {p, t.strides()[d], t.strides()[d + 1]};
}

// out = alpha * a @ b + beta * out for 2-D tensors of out's dtype (beta == 0: out is not read).
void gemm_into(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta, const char* op) {
  VT_DISPATCH_NUMERIC(out.dtype(), op, [&] {
    using S = gemm::scalar_of<scalar_t>;
    gemm::gemm<scalar_t>(out.sizes()[0], out.sizes()[1], a.sizes()[1], alpha.to<S>(), mat<const scalar_t>(a),
                         mat<const scalar_t>(b), beta.to<S>(), mat<scalar_t>(out));
  });
}

// The checks mm and addmm share: two matrices of one dtype whose inner sizes agree.
void check_mm_args(const Tensor& m1, const Tensor& m2, const char* name1, const char* op) {
  VT_CHECK_VALUE(m1.dim() == 2, name1, " must be a matrix");
  VT_CHECK_VALUE(m2.dim() == 2, "mat2 must be a matrix");
  check_same_device(m1, m2, op);
  VT_CHECK_TYPE(m1.dtype() == m2.dtype(), "expected m1 and m2 to have the same dtype, but got: ",
                dtype_name(m1.dtype()), " != ", dtype_name(m2.dtype()));
  VT_CHECK_VALUE(m1.sizes()[1] == m2.sizes()[0], "mat1 and mat2 shapes cannot be multiplied (", m1.sizes()[0], "x",
                 m1.sizes()[1], " and ", m2.sizes()[0], "x", m2.sizes()[1], ")");
  check_not_bool(m1.dtype(), op);
}

Tensor mm_k(const Tensor& self, const Tensor& mat2) {
  check_mm_args(self, mat2, "self", "mm");
  if (self.device().is_cuda()) {
    check_cuda_floating(self.dtype(), "addmm_cuda");
    return cuda::mm(self, mat2);
  }
  Tensor out = empty(DimVec{self.sizes()[0], mat2.sizes()[1]}, self.dtype(), self.device());
  gemm_into(out, self, mat2, Scalar(int64_t(1)), Scalar(int64_t(0)), "mm");
  return out;
}

Tensor addmm_k(const Tensor& self, const Tensor& mat1, const Tensor& mat2, Scalar beta, Scalar alpha) {
  check_mm_args(mat1, mat2, "mat1", "addmm");
  check_same_device(self, mat1, "addmm");
  VT_CHECK_TYPE(self.dtype() == mat2.dtype(), "self and mat2 must have the same dtype, but got ",
                scalar_type_name(self.dtype()), " and ", scalar_type_name(mat2.dtype()));
  const DimVec shape{mat1.sizes()[0], mat2.sizes()[1]};
  Tensor bias = expand(self, shape);  // validates that self broadcasts to the result
  if (mat1.device().is_cuda()) {
    check_cuda_floating(mat1.dtype(), "addmm_cuda");
    return cuda::addmm(self, mat1, mat2, beta.to_double(), alpha.to_double());
  }
  Tensor out = empty(shape, mat1.dtype(), mat1.device());
  // beta == 0 must not read self at all: NaN/inf there do not reach the result (PyTorch semantics).
  const bool use_self = beta.to_double() != 0.0;
  if (use_self && out.numel() > 0) copy_(out, bias);
  gemm_into(out, mat1, mat2, alpha, use_self ? beta : Scalar(int64_t(0)), "addmm");
  return out;
}

Tensor bmm_k(const Tensor& self, const Tensor& mat2) {
  VT_CHECK_VALUE(self.dim() == 3, "batch1 must be a 3D tensor");
  VT_CHECK_VALUE(mat2.dim() == 3, "batch2 must be a 3D tensor");
  check_same_device(self, mat2, "bmm");
  const int64_t batch = self.sizes()[0], m = self.sizes()[1], k = self.sizes()[2], n = mat2.sizes()[2];
  VT_CHECK_VALUE(mat2.sizes()[0] == batch && mat2.sizes()[1] == k,
                 "Expected size for first two dimensions of batch2 tensor to be: [", batch, ", ", k,
                 "] but got: [", mat2.sizes()[0], ", ", mat2.sizes()[1], "].");
  VT_CHECK_TYPE(self.dtype() == mat2.dtype(), "expected scalar type ", scalar_type_name(self.dtype()),
                " but found ", scalar_type_name(mat2.dtype()));
  check_not_bool(self.dtype(), "bmm");
  if (self.device().is_cuda()) {
    check_cuda_floating(self.dtype(), "bmm_cuda");
    return cuda::bmm(self, mat2);
  }
  Tensor out = empty(DimVec{batch, m, n}, self.dtype(), self.device());
  if (out.numel() == 0) return out;
  // Many small products: one whole GEMM per thread. Few large ones: each GEMM splits over the threads.
  const int64_t macs = m * n * k;
  const int64_t grain = batch > 1 && macs < 4 * gemm::kParallelMacs
                            ? std::max<int64_t>(1, gemm::kParallelMacs / 2 / std::max<int64_t>(macs, 1))
                            : batch;
  VT_DISPATCH_NUMERIC(self.dtype(), "bmm", [&] {
    parallel_for(0, batch, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; b++)
        gemm::gemm<scalar_t>(m, n, k, 1, mat<const scalar_t>(self, b), mat<const scalar_t>(mat2, b), 0,
                             mat<scalar_t>(out, b));
    });
  });
  return out;
}

// ---- dot ----------------------------------------------------------------------------------------------
// Floating dots accumulate in double and integer dots in wrapping uint64; long vectors split into a fixed
// number of chunks whose partial sums are added in order, so the result does not depend on timing.
template <class T, class Acc>
Acc dot_range(const T* a, int64_t sa, const T* b, int64_t sb, int64_t begin, int64_t end) {
  Acc acc[4] = {};
  int64_t i = begin;
  auto val = [](T v) {
    if constexpr (std::is_integral_v<T>) return Acc(int64_t(v));
    else return Acc(opmath_t<T>(v));
  };
  for (; i + 4 <= end; i += 4)
    for (int u = 0; u < 4; u++) acc[u] += val(a[(i + u) * sa]) * val(b[(i + u) * sb]);
  for (; i < end; i++) acc[0] += val(a[i * sa]) * val(b[i * sb]);
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

Tensor dot_k(const Tensor& self, const Tensor& other) {
  VT_CHECK_VALUE(self.dim() == 1 && other.dim() == 1, "1D tensors expected, but got ", self.dim(), "D and ",
                 other.dim(), "D tensors");
  check_same_device(self, other, "dot");
  const int64_t n = self.sizes()[0];
  VT_CHECK_VALUE(n == other.sizes()[0], "inconsistent tensor size, expected tensor [", n, "] and src [",
                 other.sizes()[0], "] to have the same number of elements, but got ", n, " and ",
                 other.sizes()[0], " elements respectively");
  VT_CHECK_TYPE(self.dtype() == other.dtype(), "dot : expected both vectors to have same dtype, but found ",
                scalar_type_name(self.dtype()), " and ", scalar_type_name(other.dtype()));
  check_not_bool(self.dtype(), "dot");
  if (self.device().is_cuda()) {
    check_cuda_floating(self.dtype(), "dot_cuda");
    return cuda::dot(self, other);
  }
  Tensor out = empty(DimVec{}, self.dtype(), self.device());
  VT_DISPATCH_NUMERIC(self.dtype(), "dot", [&] {
    using Acc = std::conditional_t<std::is_integral_v<scalar_t>, uint64_t, double>;
    const scalar_t* a = self.data_as<scalar_t>();
    const scalar_t* b = other.data_as<scalar_t>();
    const int64_t sa = self.strides()[0], sb = other.strides()[0];
    // Memory-bound: a thread pays for its wake-up (~40 us) from about half a million elements.
    const int64_t nchunks = std::clamp<int64_t>(n / (kParallelGrain * 16), 1, get_num_threads());
    std::vector<Acc> partial(size_t(nchunks), Acc(0));
    parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; c++)
        partial[c] = dot_range<scalar_t, Acc>(a, sa, b, sb, n * c / nchunks, n * (c + 1) / nchunks);
    });
    Acc total = 0;
    for (Acc p : partial) total += p;
    *out.data_as<scalar_t>() = scalar_t(opmath_t<scalar_t>(total));
  });
  return out;
}

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("mm", &mm_k);
  m.impl("bmm", &bmm_k);
  m.impl("addmm", &addmm_k);
  m.impl("dot", &dot_k);
}

}  // namespace
}  // namespace vt
