// matmul, outer and linear: Composite kernels made of mm/bmm/dot/addmm/mul/add and views, all called
// through the dispatcher so autograd and overrides see the pieces. matmul follows PyTorch's rules:
//   1-D @ 1-D -> dot;  2-D @ 1-D -> matrix-vector;  1-D @ 2-D -> vector-matrix;  2-D @ 2-D -> mm;
//   N-D @ 1-D/2-D -> the batch folded into the rows of one mm;  otherwise batch dims broadcast -> bmm.
#include "core/tensor.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt {
namespace {

using BinaryOp = TypedOp<Tensor(const Tensor&, const Tensor&)>;

const BinaryOp& mm_op() { static BinaryOp op("mm"); return op; }
const BinaryOp& bmm_op() { static BinaryOp op("bmm"); return op; }
const BinaryOp& dot_op() { static BinaryOp op("dot"); return op; }
const BinaryOp& mul_op() { static BinaryOp op("mul"); return op; }
const BinaryOp& matmul_op() { static BinaryOp op("matmul"); return op; }

Tensor add(const Tensor& a, const Tensor& b) {
  static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> op("add");
  return op(a, b, Scalar(int64_t(1)));
}
Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2) {
  static TypedOp<Tensor(const Tensor&, const Tensor&, const Tensor&, Scalar, Scalar)> op("addmm");
  return op(self, m1, m2, Scalar(int64_t(1)), Scalar(int64_t(1)));
}

// a's sizes but the last, and the shape of a with those folded into the rows of one matrix.
DimVec leading_sizes(const Tensor& a) { return DimVec(IntArrayRef(a.sizes().data(), size_t(a.dim() - 1))); }
DimVec rows_shape(const Tensor& a) {
  return DimVec{numel_of(leading_sizes(a)), a.sizes()[a.dim() - 1]};  // not -1: k may be 0
}

// Matrix (n x k) times vector (k): PyTorch's mv, with its size message.
Tensor matrix_vector(const Tensor& mat, const Tensor& vec) {
  VT_CHECK_VALUE(mat.sizes()[1] == vec.sizes()[0], "size mismatch, got input (", mat.sizes()[0], "), mat (",
                 mat.sizes()[0], "x", mat.sizes()[1], "), vec (", vec.sizes()[0], ")");
  return squeeze(mm_op()(mat, unsqueeze(vec, 1)), DimVec{1});
}

// Batched case: broadcast the batch dims, flatten them into one, bmm, and restore the shape.
Tensor batched_matmul(const Tensor& a, const Tensor& b) {
  const int64_t da = a.dim(), db = b.dim();
  const int64_t n = da > 1 ? a.sizes()[da - 2] : 1, k1 = a.sizes()[da - 1];
  const int64_t k2 = db > 1 ? b.sizes()[db - 2] : b.sizes()[0], p = db > 1 ? b.sizes()[db - 1] : 1;
  const IntArrayRef batch_a(a.sizes().data(), size_t(std::max<int64_t>(da - 2, 0)));
  const IntArrayRef batch_b(b.sizes().data(), size_t(std::max<int64_t>(db - 2, 0)));
  const DimVec batch = broadcast_shapes(batch_a, batch_b, "matmul");
  const int64_t nbatch = numel_of(batch);
  DimVec shape_a = batch, shape_b = batch, out_shape = batch;
  shape_a.push_back(n);
  shape_a.push_back(k1);
  shape_b.push_back(k2);
  shape_b.push_back(p);
  if (da > 1) out_shape.push_back(n);
  if (db > 1) out_shape.push_back(p);
  // A 1-D left operand expands as a 1 x k row; a 1-D right operand becomes a k x 1 column.
  Tensor a3 = reshape(expand(a, shape_a), DimVec{nbatch, n, k1});
  Tensor b3 = reshape(expand(db == 1 ? unsqueeze(b, 1) : b, shape_b), DimVec{nbatch, k2, p});
  return reshape(bmm_op()(a3, b3), out_shape);
}

Tensor matmul_k(const Tensor& a, const Tensor& b) {
  const int64_t da = a.dim(), db = b.dim();
  VT_CHECK_VALUE(da > 0 && db > 0, "both arguments to matmul need to be at least 1D, but they are ", da, "D and ",
                 db, "D");
  if (da == 1 && db == 1) return dot_op()(a, b);
  if (da == 2 && db == 1) return matrix_vector(a, b);
  if (da == 1 && db == 2) return squeeze(mm_op()(unsqueeze(a, 0), b), DimVec{0});
  if (da == 2 && db == 2) return mm_op()(a, b);
  if (da >= 3 && db <= 2) {
    // Fold the batch into the rows: one large GEMM instead of many small ones, and no copy of b.
    DimVec out_shape = leading_sizes(a);
    Tensor rows = reshape(a, rows_shape(a));
    if (db == 1) return reshape(matrix_vector(rows, b), out_shape);
    out_shape.push_back(b.sizes()[1]);
    return reshape(mm_op()(rows, b), out_shape);
  }
  return batched_matmul(a, b);
}

Tensor outer_k(const Tensor& self, const Tensor& vec2) {
  VT_CHECK_VALUE(self.dim() == 1, "outer: Expected 1-D argument self, but got ", self.dim(), "-D");
  VT_CHECK_VALUE(vec2.dim() == 1, "outer: Expected 1-D argument vec2, but got ", vec2.dim(), "-D");
  return mul_op()(unsqueeze(self, 1), vec2);
}

// y = input @ weight^T + bias. With a bias, one addmm (the bias fused into the GEMM); an input of more
// dims is folded into its rows first, as PyTorch does for contiguous input. It takes matmul + add only where
// the fold needs a copy, for a bias of more than one dim (addmm would broadcast it over the folded rows, not
// over the input's leading dims), or for a 1-D weight (which matmul contracts away; addmm refuses it).
Tensor linear_k(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  static TypedOp<Tensor(const Tensor&)> t_op("t");
  Tensor wt = t_op(weight);
  if (!bias.defined()) return matmul_op()(input, wt);
  VT_CHECK_TYPE(bias.dtype() == weight.dtype(), "linear: bias and weight must have the same dtype, but got ",
                dtype_name(bias.dtype()), " and ", dtype_name(weight.dtype()));
  if (input.dim() == 2 && weight.dim() == 2 && bias.dim() <= 1) return addmm(bias, input, wt);
  if (input.dim() > 2 && bias.dim() <= 1 && weight.dim() == 2) {
    const DimVec rows = rows_shape(input);
    if (view_strides(input.sizes(), input.strides(), rows)) {
      Tensor out = addmm(bias, view(input, rows), wt);
      DimVec out_shape = leading_sizes(input);
      out_shape.push_back(out.sizes()[1]);
      return view(out, out_shape);
    }
  }
  return add(matmul_op()(input, wt), bias);
}

VT_REGISTER_KERNELS(Composite, m) {
  m.impl("matmul", &matmul_k);
  m.impl("outer", &outer_k);
  m.impl("linear", &linear_k);
}

}  // namespace
}  // namespace vt
