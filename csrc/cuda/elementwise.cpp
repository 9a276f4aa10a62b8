#include "cuda/elementwise.h"

#include "cuda/kernel_library.h"

namespace vt::cuda {

namespace {
constexpr int64_t kBlock = 1024;  // elements per program; the generator uses the same constant

// 'v': a host scalar passed by value, 'c': dense along the single iteration dim, 's': the same element
// everywhere (a broadcast scalar in device memory), 'g': anything else.
char flat_kind(const TensorIterator& it, int i) {
  if (it.operand(i).tensor.device().is_cpu()) return 'v';
  if (it.is_scalar(i)) return 's';
  if (it.ndim() <= 1 && it.operand(i).strides[0] == int64_t(itemsize(it.dtype(i)))) return 'c';
  return 'g';
}
}  // namespace

void launch_elementwise(TensorIterator& it, std::string_view op, std::span<const double> params) {
  VT_CHECK(it.noutputs() == 1, "launch_elementwise: expected one output, got ", it.noutputs());
  int nt = it.ntensors();
  if (it.numel() > 0) {
    std::string kinds;
    bool flat = flat_kind(it, 0) == 'c' || it.numel() == 1;
    for (int i = 1; i < nt; i++) {
      char k = flat_kind(it, i);
      if (k == 'g') flat = false;
      kinds += k;
    }
    int nd = it.ndim();
    if (!flat)  // strided: inputs are 't' (tensor with strides) or 'v' (host value)
      for (char& k : kinds) k = k == 'v' ? 'v' : 't';
    // strided layouts split each index into coordinates: 'f' by IntDivider (32-bit) while every index of the
    // launch, masked lanes included, stays below 2^31; 'g' by 64-bit division beyond that
    const bool fast = !flat && fast_positions(it.numel(), kBlock);
    std::string layout = (flat ? std::string("c") : (fast ? "f" : "g") + std::to_string(nd)) + kinds;
    std::string key = "ew|" + std::string(op) + "|";
    for (int i = 1; i < nt; i++) key += std::string(i > 1 ? "," : "") + dtype_name(it.dtype(i));
    key += "|" + std::string(dtype_name(it.dtype(0))) + "|" + layout + "|" + std::to_string(params.size());
    if (flat) {  // the aligned form when the output, every dense input and the element count allow 16-byte access
      bool aligned = multiples_of_16({address(it.operand(0).data), uint64_t(it.numel())});
      for (int i = 1; i < nt && aligned; i++)
        if (kinds[size_t(i - 1)] == 'c') aligned = multiples_of_16({address(it.operand(i).data)});
      if (aligned) key += kAlignedSuffix;
    }
    const Kernel& k = kernel(key);

    std::vector<KernelArg> args;
    for (int i = 0; i < nt; i++) {
      if (i > 0 && kinds[size_t(i - 1)] == 'v') {  // host scalars travel by value: f64 for floats, else i64
        Scalar v = item(it.operand(i).tensor);
        args.push_back(is_floating(it.dtype(i)) ? KernelArg::f64v(v.to_double()) : KernelArg::i64v(v.to_int()));
      } else {
        args.push_back(KernelArg::ptr(it.operand(i).data));
      }
    }
    args.push_back(KernelArg::i64v(it.numel()));
    for (double p : params) args.push_back(KernelArg::f64v(p));
    if (!flat) {
      for (int d = 0; d < nd; d++) push_size(args, it.shape()[d], fast);  // elementwise.py, layout f or g
      for (int i = 0; i < nt; i++) {
        if (i > 0 && kinds[size_t(i - 1)] == 'v') continue;
        for (int d = 0; d < nd; d++)
          args.push_back(KernelArg::i64v(it.operand(i).strides[d] / int64_t(itemsize(it.dtype(i)))));
      }
    }
    int device = it.output().device().index;
    int64_t blocks = (it.numel() + kBlock - 1) / kBlock;
    VT_CHECK(blocks < (int64_t(1) << 31), "elementwise: tensor too large for one launch (", it.numel(), " elements)");
    k.launch(uint32_t(blocks), 1, 1, args, current_stream(device));
  }
  it.finish();
}

}  // namespace vt::cuda
