// TensorIterator: the device-generic half of every elementwise and reduction kernel.
//
// It works out the result dtype (PyTorch's promotion, Python numbers included), broadcasts shapes,
// allocates outputs in the inputs' memory order, checks in-place writes for overlap and castability, and
// turns N-d strided operands into as few dimensions as possible (reordered so the innermost dimension
// is the one with the smallest strides, then coalesced). Device loops (csrc/cpu/loops.h) only walk it.
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "core/tensor.h"

namespace vt {

// PyTorch's result_type: dimensioned tensors outrank 0-d tensors, which outrank Python numbers, but a
// lower-priority operand of a higher category (bool < integer < floating) still lifts the result.
struct ResultTypeState {
  int dim = -1, zero = -1, wrapped = -1;  // -1: none seen
  void update(const Tensor& t);
  void update(const Scalar& s);
  DType result() const;
};
DType result_type(std::initializer_list<Tensor> ts);
bool can_cast(DType from, DType to);  // no float->integral, no non-bool->bool, like torch.can_cast

struct IterOperand {
  Tensor tensor;       // what the loop reads or writes (already cast to the computation dtype)
  Tensor original;     // for an output that is computed in another dtype, the tensor to copy back into
  DimVec strides;      // in bytes, iteration order (innermost first)
  char* data = nullptr;
  bool is_output = false;
};

class TensorIterator;

class TensorIteratorConfig {
 public:
  explicit TensorIteratorConfig(const char* op_name) : name_(op_name) {}
  TensorIteratorConfig& add_output(const Tensor& t) { outputs_.push_back(t); return *this; }
  TensorIteratorConfig& add_input(const Tensor& t) { inputs_.push_back(t); return *this; }
  // Inputs are cast to the promoted dtype (default on).
  TensorIteratorConfig& promote_inputs(bool v) { promote_ = v; return *this; }
  // On CUDA, floating inputs of another floating dtype than the common one are not copied to it first: the
  // elementwise kernel converts each input as it loads it (it computes in float32 or float64 from any float
  // input), as PyTorch's does; a bfloat16 + float32 add was a copy kernel then the add. CPU kernels take one dtype.
  TensorIteratorConfig& cast_floats_on_load(bool v) { cast_on_load_ = v; return *this; }
  // Integral/bool results become the default float dtype (div, sqrt, exp ...).
  TensorIteratorConfig& promote_integer_inputs_to_float(bool v) { int_to_float_ = v; return *this; }
  // Outputs get this dtype regardless of the inputs (comparisons produce bool).
  TensorIteratorConfig& output_dtype(DType d) { out_dtype_ = d; has_out_dtype_ = true; return *this; }
  // Computation dtype override (e.g. a reduction accumulating in float64); inputs are cast to it.
  TensorIteratorConfig& compute_dtype(DType d) { compute_dtype_ = d; has_compute_dtype_ = true; return *this; }
  // A reduction: the output has stride 0 along reduced dims and is not broadcast-checked.
  TensorIteratorConfig& is_reduction(bool v) { reduction_ = v; return *this; }
  TensorIterator build();

 private:
  friend class TensorIterator;
  const char* name_;
  std::vector<Tensor> outputs_, inputs_;
  bool promote_ = true, int_to_float_ = false, has_out_dtype_ = false, has_compute_dtype_ = false;
  bool reduction_ = false, cast_on_load_ = false;
  DType out_dtype_ = DType::Float32, compute_dtype_ = DType::Float32;
};

class TensorIterator {
 public:
  // loop(data pointers (outputs first), byte strides of each operand along the run, run length)
  using Loop = std::function<void(char** data, const int64_t* strides, int64_t n)>;

  int ntensors() const { return int(ops_.size()); }
  int noutputs() const { return noutputs_; }
  int ndim() const { return int(shape_.size()); }
  int64_t numel() const { return numel_; }
  const DimVec& shape() const { return shape_; }  // iteration order, innermost first
  const IterOperand& operand(int i) const { return ops_[i]; }
  DType dtype(int i) const { return ops_[i].tensor.dtype(); }
  DType common_dtype() const { return common_; }
  Tensor output(int i = 0) const { return ops_[i].original.defined() ? ops_[i].original : ops_[i].tensor; }
  bool is_contiguous() const;  // every operand contiguous along one coalesced dim
  // True when operand i is the same value for every element (stride 0 everywhere).
  bool is_scalar(int i) const;

  // Runs loop over [begin, end) of the flattened iteration space, serially.
  void serial_for_each(const Loop& loop, int64_t begin, int64_t end) const;
  // Runs loop over everything, split over threads when large (grain in elements).
  void for_each(const Loop& loop, int64_t grain = 0) const;
  // Copies outputs computed in another dtype back into the caller's tensors (called by kernels at the end).
  void finish();

 private:
  friend class TensorIteratorConfig;
  void compute_shape(const TensorIteratorConfig& c);
  void compute_types(TensorIteratorConfig& c);
  void allocate_outputs(const TensorIteratorConfig& c, const std::vector<int>& perm);
  std::vector<int> compute_permutation() const;
  void apply_permutation_and_coalesce(const std::vector<int>& perm);

  std::vector<IterOperand> ops_;
  int noutputs_ = 0;
  DimVec shape_;
  int64_t numel_ = 1;
  DType common_ = DType::Float32;
  const char* name_ = "";
};

// Reduction plumbing shared by the reduction kernels: the result shape and the "restrided" output
// (stride 0 along reduced dims) that the iterator writes through.
struct ReduceDims {
  std::vector<bool> mask;  // per input dim: reduced?
  DimVec out_shape;        // with keepdim
  DimVec kept_shape;       // as returned to the user
};
ReduceDims make_reduce_dims(const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim, const char* op);
// `out` has rd.out_shape (keepdim); the view has self's shape with stride 0 along the reduced dims.
Tensor restride_for_reduction(const Tensor& out, const Tensor& self, const ReduceDims& rd);

// Checks for writing into `out` while reading `in`: no internal overlap (stride-0 writes), and in/out either
// identical or disjoint. Raises a clear error otherwise.
void check_writable(const Tensor& out, const char* op);
void check_no_partial_overlap(const Tensor& out, const Tensor& in, const char* op);

}  // namespace vt
