#include "ops/iterator.h"

#include <algorithm>
#include <numeric>

#include "core/parallel.h"
#include "dispatch/dispatcher.h"

namespace vt {

// ---- type promotion ---------------------------------------------------------------------------------
namespace {
int promote_slot(int slot, DType d) { return slot < 0 ? int(d) : int(promote_types(DType(slot), d)); }
int combine_categories(int higher, int lower) {
  if (higher < 0) return lower;
  if (lower < 0) return higher;
  DType h = DType(higher), l = DType(lower);
  if (is_floating(h)) return higher;
  if (h == DType::Bool || is_floating(l)) return int(promote_types(h, l));
  return higher;
}
}  // namespace

void ResultTypeState::update(const Tensor& t) {
  if (!t.defined()) return;
  DType d = t.dtype();
  if (t.is_wrapped_number()) wrapped = promote_slot(wrapped, is_floating(d) ? kDefaultFloat : d);
  else if (t.dim() == 0) zero = promote_slot(zero, d);
  else dim = promote_slot(dim, d);
}
void ResultTypeState::update(const Scalar& s) { wrapped = promote_slot(wrapped, s.promotion_dtype()); }
DType ResultTypeState::result() const {
  int r = combine_categories(dim, combine_categories(zero, wrapped));
  return r < 0 ? kDefaultFloat : DType(r);
}

DType result_type(std::initializer_list<Tensor> ts) {
  ResultTypeState s;
  for (const Tensor& t : ts) s.update(t);
  return s.result();
}

bool can_cast(DType from, DType to) {
  if (is_floating(from) && is_integral(to, true)) return false;
  if (from != DType::Bool && to == DType::Bool) return false;
  return true;
}

// ---- overlap checks ---------------------------------------------------------------------------------
void check_writable(const Tensor& out, const char* op) {
  VT_CHECK(out.impl()->storage()->writable(), op, ": cannot write into a read-only tensor (its memory comes ",
           "from a read-only array or file); clone() it first");
  for (int64_t d = 0; d < out.dim(); d++)
    VT_CHECK(out.strides()[d] != 0 || out.sizes()[d] <= 1, op,
             ": unsupported operation: more than one element of the written-to tensor refers to a single "
             "memory location (it is expanded along dim ", d, "). Please clone() the tensor before writing.");
}

namespace {
std::pair<uintptr_t, uintptr_t> byte_range(const Tensor& t) {
  uintptr_t b = reinterpret_cast<uintptr_t>(t.data()), e = b;
  if (t.numel() == 0) return {b, b};
  for (int64_t d = 0; d < t.dim(); d++) e += uintptr_t((t.sizes()[d] - 1) * t.strides()[d]) * t.itemsize();
  return {b, e + t.itemsize()};
}
}  // namespace

void check_no_partial_overlap(const Tensor& out, const Tensor& in, const char* op) {
  if (!in.defined() || in.is_same(out) || in.impl()->storage().get() != out.impl()->storage().get()) return;
  auto [ob, oe] = byte_range(out);
  auto [ib, ie] = byte_range(in);
  if (oe <= ib || ie <= ob) return;  // disjoint
  if (ob == ib && out.dtype() == in.dtype() && out.sizes() == in.sizes() && out.strides() == in.strides()) return;
  VT_THROW(Error, op, ": unsupported operation: some elements of the input tensor and the written-to tensor "
           "refer to a single memory location. Please clone() the input before writing.");
}

// ---- build --------------------------------------------------------------------------------------------
TensorIterator TensorIteratorConfig::build() {
  TensorIterator it;
  it.name_ = name_;
  it.noutputs_ = int(outputs_.size());
  for (const Tensor& t : outputs_) it.ops_.push_back(IterOperand{t, Tensor(), {}, nullptr, true});
  for (const Tensor& t : inputs_) {
    VT_CHECK_TYPE(t.defined(), name_, ": expected a tensor, got None");
    it.ops_.push_back(IterOperand{t, Tensor(), {}, nullptr, false});
  }
  it.compute_types(*this);
  it.compute_shape(*this);
  std::vector<int> perm = it.compute_permutation();
  it.allocate_outputs(*this, perm);
  it.apply_permutation_and_coalesce(perm);
  return it;
}

void TensorIterator::compute_types(TensorIteratorConfig& c) {
  static TypedOp<Tensor(const Tensor&, std::optional<DType>, std::optional<Device>, bool)> to_copy("_to_copy");
  // Devices: everything on one device, except Python numbers (0-d CPU wrapped tensors).
  Device dev;
  bool have_dev = false;
  for (auto& op : ops_) {
    if (!op.tensor.defined() || op.tensor.is_wrapped_number()) continue;
    if (!have_dev) { dev = op.tensor.device(); have_dev = true; continue; }
    VT_CHECK_TYPE(op.tensor.device() == dev || (op.tensor.dim() == 0 && op.tensor.device().is_cpu() && !op.is_output),
                  name_, ": expected all tensors to be on the same device, but found ", dev.str(), " and ",
                  op.tensor.device().str());
  }
  ResultTypeState st;
  for (int i = noutputs_; i < ntensors(); i++) st.update(ops_[i].tensor);
  common_ = st.result();
  if (c.int_to_float_ && !is_floating(common_)) common_ = kDefaultFloat;
  if (c.has_compute_dtype_) common_ = c.compute_dtype_;
  DType out_dtype = c.has_out_dtype_ ? c.out_dtype_ : common_;

  if (c.promote_) {
    for (int i = noutputs_; i < ntensors(); i++) {
      Tensor& t = ops_[i].tensor;
      if (t.dtype() == common_ && !t.is_wrapped_number()) continue;
      if (t.is_wrapped_number() || (t.dim() == 0 && t.device().is_cpu() && have_dev && !dev.is_cpu()))
        t = scalar_tensor(item(t), common_);  // tiny: read once by the loop
      else if (t.dtype() != common_ &&
               !(c.cast_on_load_ && t.device().is_cuda() && is_floating(t.dtype()) && is_floating(common_)))
        t = to_copy(t, common_, std::nullopt, false);
    }
  }
  for (int i = 0; i < noutputs_; i++) {
    IterOperand& op = ops_[i];
    if (!op.tensor.defined()) continue;
    if (!c.reduction_) check_writable(op.tensor, name_);
    if (op.tensor.dtype() != out_dtype) {
      VT_CHECK_TYPE(can_cast(out_dtype, op.tensor.dtype()), name_, ": result type ", dtype_name(out_dtype),
                    " can't be cast to the desired output type ", dtype_name(op.tensor.dtype()));
      op.original = op.tensor;
      op.tensor = Tensor();  // computed in out_dtype, copied back by finish()
    }
  }
  c.out_dtype_ = out_dtype;
}

void TensorIterator::compute_shape(const TensorIteratorConfig& c) {
  // Inputs broadcast together, and (except for reductions) with the outputs given, whose shape must be the result.
  bool first = true;
  auto merge = [&](const Tensor& t) {
    shape_ = first ? t.sizes() : broadcast_shapes(shape_, t.sizes(), name_);
    first = false;
  };
  for (int i = noutputs_; i < ntensors(); i++) merge(ops_[i].tensor);
  for (int i = 0; i < noutputs_; i++) {
    const Tensor& t = ops_[i].tensor.defined() ? ops_[i].tensor : ops_[i].original;
    if (t.defined() && (first || !c.reduction_)) merge(t);
  }
  for (int i = 0; i < noutputs_; i++) {
    const Tensor& t = ops_[i].tensor.defined() ? ops_[i].tensor : ops_[i].original;
    if (!t.defined()) continue;
    VT_CHECK_VALUE(t.sizes() == shape_, name_, ": output with shape ", shape_str(t.sizes()),
                   " doesn't match the broadcast shape ", shape_str(shape_));
    for (int j = noutputs_; j < ntensors(); j++) check_no_partial_overlap(t, ops_[j].tensor, name_);
  }
  numel_ = 1;
  for (int64_t s : shape_) numel_ *= s;
  // Byte strides in the broadcast shape (original dim order for now).
  size_t n = shape_.size();
  for (auto& op : ops_) {
    if (!op.tensor.defined()) continue;
    const Tensor& t = op.tensor;
    op.strides = DimVec(n, 0);
    size_t off = n - size_t(t.dim());
    for (size_t d = 0; d < size_t(t.dim()); d++)
      op.strides[off + d] = t.sizes()[d] == 1 ? 0 : t.strides()[d] * int64_t(t.itemsize());
  }
}

std::vector<int> TensorIterator::compute_permutation() const {
  int n = int(shape_.size());
  std::vector<int> perm(n);
  for (int i = 0; i < n; i++) perm[i] = n - 1 - i;  // innermost first
  auto should_swap = [&](int d0, int d1) {          // d0 is currently inside d1
    for (const auto& op : ops_) {
      if (op.strides.empty()) continue;
      int64_t s0 = op.strides[d0], s1 = op.strides[d1];
      if (s0 == 0 || s1 == 0) continue;
      if (s0 < s1) return -1;
      if (s0 > s1) return 1;
      if (shape_[d0] > shape_[d1]) return 1;
    }
    return 0;
  };
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0; j--) {
      int c = should_swap(perm[j - 1], perm[j]);
      if (c > 0) std::swap(perm[j - 1], perm[j]);
      else if (c < 0) break;
    }
  return perm;
}

void TensorIterator::allocate_outputs(const TensorIteratorConfig& c, const std::vector<int>& perm) {
  Device dev;
  for (int i = noutputs_; i < ntensors(); i++)
    if (!ops_[i].tensor.is_wrapped_number() && ops_[i].tensor.dim() > 0) { dev = ops_[i].tensor.device(); break; }
  for (int i = noutputs_; i < ntensors() && dev.is_cpu(); i++)
    if (!ops_[i].tensor.is_wrapped_number()) dev = ops_[i].tensor.device();
  for (int i = 0; i < noutputs_; i++) {
    IterOperand& op = ops_[i];
    if (op.tensor.defined()) continue;
    // Lay the new output out in the iteration order, so `x.t() + 1` keeps x.t()'s memory order.
    DimVec strides(shape_.size());
    int64_t s = 1;
    for (int d : perm) {
      strides[d] = s;
      s *= std::max<int64_t>(shape_[d], 1);
    }
    DType dt = c.out_dtype_;
    op.tensor = empty_strided(shape_, strides, dt, op.original.defined() ? op.original.device() : dev);
    op.strides = DimVec(shape_.size());
    for (size_t d = 0; d < shape_.size(); d++)
      op.strides[d] = shape_[d] == 1 ? 0 : strides[d] * int64_t(itemsize(dt));
  }
}

void TensorIterator::apply_permutation_and_coalesce(const std::vector<int>& perm) {
  size_t n = shape_.size();
  DimVec shape(n);
  for (size_t i = 0; i < n; i++) shape[i] = shape_[perm[i]];
  for (auto& op : ops_) {
    DimVec s(n);
    for (size_t i = 0; i < n; i++) s[i] = op.strides[perm[i]];
    op.strides = std::move(s);
    op.data = static_cast<char*>(op.tensor.data());
  }
  shape_ = std::move(shape);
  if (n <= 1) return;
  auto can_merge = [&](size_t d0, size_t d1) {
    if (shape_[d0] == 1 || shape_[d1] == 1) return true;
    for (auto& op : ops_)
      if (op.strides[d0] * shape_[d0] != op.strides[d1]) return false;
    return true;
  };
  size_t prev = 0;
  for (size_t d = 1; d < n; d++) {
    if (can_merge(prev, d)) {
      if (shape_[prev] == 1)
        for (auto& op : ops_) op.strides[prev] = op.strides[d];
      shape_[prev] *= shape_[d];
    } else {
      prev++;
      if (prev != d) {
        shape_[prev] = shape_[d];
        for (auto& op : ops_) op.strides[prev] = op.strides[d];
      }
    }
  }
  shape_.resize(prev + 1);
  for (auto& op : ops_) op.strides.resize(prev + 1);
}

// ---- loops ----------------------------------------------------------------------------------------------
bool TensorIterator::is_contiguous() const {
  if (numel_ <= 1) return true;
  if (shape_.size() != 1) return false;
  for (auto& op : ops_)
    if (op.strides[0] != int64_t(op.tensor.itemsize())) return false;
  return true;
}

bool TensorIterator::is_scalar(int i) const {
  for (int64_t s : ops_[i].strides)
    if (s != 0) return false;
  return true;
}

void TensorIterator::serial_for_each(const Loop& loop, int64_t begin, int64_t end) const {
  int nt = ntensors();
  char* ptrs[16];
  int64_t inner[16];
  VT_CHECK(nt <= 16, name_, ": too many operands");
  if (begin >= end) return;
  if (shape_.empty()) {
    for (int i = 0; i < nt; i++) { ptrs[i] = ops_[i].data; inner[i] = 0; }
    loop(ptrs, inner, 1);
    return;
  }
  size_t nd = shape_.size();
  DimVec counter(nd);
  int64_t rem = begin;
  for (size_t d = 0; d < nd; d++) {
    counter[d] = rem % shape_[d];
    rem /= shape_[d];
  }
  for (int i = 0; i < nt; i++) inner[i] = ops_[i].strides[0];
  while (begin < end) {
    for (int i = 0; i < nt; i++) {
      char* p = ops_[i].data;
      for (size_t d = 0; d < nd; d++) p += counter[d] * ops_[i].strides[d];
      ptrs[i] = p;
    }
    int64_t n = std::min(shape_[0] - counter[0], end - begin);
    loop(ptrs, inner, n);
    begin += n;
    counter[0] += n;
    for (size_t d = 0; d + 1 < nd && counter[d] == shape_[d]; d++) {
      counter[d] = 0;
      counter[d + 1]++;
    }
  }
}

void TensorIterator::for_each(const Loop& loop, int64_t grain) const {
  if (numel_ == 0) return;
  if (grain <= 0) grain = kParallelGrain;
  parallel_for(0, numel_, grain, [&](int64_t b, int64_t e) { serial_for_each(loop, b, e); });
}

void TensorIterator::finish() {
  static TypedOp<Tensor(const Tensor&, const Tensor&, bool)> copy("copy_");
  for (int i = 0; i < noutputs_; i++)
    if (ops_[i].original.defined()) {
      copy(ops_[i].original, ops_[i].tensor, false);
      ops_[i].tensor = ops_[i].original;
      ops_[i].original = Tensor();
    }
}

// ---- reductions -----------------------------------------------------------------------------------------
ReduceDims make_reduce_dims(const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim, const char* op) {
  int64_t nd = self.dim();
  ReduceDims r;
  r.mask.assign(size_t(nd), false);
  if (!dims || dims->empty()) {
    std::fill(r.mask.begin(), r.mask.end(), true);
  } else {
    for (int64_t d : *dims) {
      int64_t w = wrap_dim(d, nd, op);
      if (nd == 0) continue;
      VT_CHECK_VALUE(!r.mask[w], op, ": dim ", w, " appears multiple times in the list of dims");
      r.mask[w] = true;
    }
  }
  for (int64_t d = 0; d < nd; d++) {
    r.out_shape.push_back(r.mask[d] ? 1 : self.sizes()[d]);
    if (!r.mask[d] || keepdim) r.kept_shape.push_back(r.mask[d] ? 1 : self.sizes()[d]);
  }
  return r;
}

Tensor restride_for_reduction(const Tensor& out, const Tensor& self, const ReduceDims& rd) {
  DimVec strides = out.strides();
  for (size_t d = 0; d < rd.mask.size(); d++)
    if (rd.mask[d]) strides[d] = 0;
  return make_view(out, self.sizes(), strides, out.storage_offset());
}

}  // namespace vt
