#include "cuda/index_launch.h"

#include "cpu/index_utils.h"
#include "cuda/device.h"
#include "cuda/kernel_library.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {

constexpr int64_t kRowBlock = 1024, kGatherBlock = 512, kCompactBlock = 1024;  // = kernels/triton/index.py

int64_t code_of(IndexOp op, int64_t dim) { return (int64_t(op) << 32) | dim; }

// The dtype atomics accumulate in: itself where the hardware adds it atomically, else a wider one.
DType atomic_dtype(DType t) {
  switch (t) {
    case DType::Float16: case DType::BFloat16: return DType::Float32;
    case DType::Bool: case DType::Int8: case DType::UInt8: case DType::Int16: return DType::Int32;
    default: return t;
  }
}

uint32_t grid_for(int64_t total, int64_t block, const char* what) {
  int64_t blocks = (total + block - 1) / block;
  VT_CHECK(blocks < (int64_t(1) << 31), what, ": too large for one launch (", total, " elements)");
  return uint32_t(blocks);
}

// Drops size-1 dims and merges neighbours that form one strided run in every stride list (row-major).
void coalesce(DimVec& sizes, const std::vector<DimVec*>& strides) {
  DimVec out;
  std::vector<DimVec> outst(strides.size());
  for (size_t d = 0; d < sizes.size(); d++) {
    if (sizes[d] == 1) continue;
    size_t last = out.size() - 1;
    bool merge = !out.empty();
    for (size_t i = 0; merge && i < strides.size(); i++) merge = outst[i][last] == (*strides[i])[d] * sizes[d];
    if (merge) {
      out[last] *= sizes[d];
      for (size_t i = 0; i < strides.size(); i++) outst[i][last] = (*strides[i])[d];
    } else {
      out.push_back(sizes[d]);
      for (size_t i = 0; i < strides.size(); i++) outst[i].push_back((*strides[i])[d]);
    }
  }
  sizes = out;
  for (size_t i = 0; i < strides.size(); i++) *strides[i] = outst[i];
}

// Strides of `t` broadcast to `shape` (aligned right; 0 along new and size-1 dims), in elements.
DimVec broadcast_strides(const Tensor& t, IntArrayRef shape) {
  DimVec st(shape.size(), 0);
  size_t off = shape.size() - size_t(t.dim());
  for (size_t d = 0; d < size_t(t.dim()); d++) st[off + d] = t.sizes()[d] == 1 ? 0 : t.strides()[d];
  return st;
}

void push_all(std::vector<KernelArg>& args, IntArrayRef xs) {
  for (int64_t x : xs) args.push_back(KernelArg::i64v(x));
}
void push_all(std::vector<KernelArg>& args, std::initializer_list<int64_t> xs) {
  push_all(args, IntArrayRef(xs.begin(), xs.size()));
}

// The sizes a kernel divides positions by (kernel_library.h, push_size).
void push_sizes(std::vector<KernelArg>& args, IntArrayRef sizes, bool fast) {
  for (int64_t x : sizes) push_size(args, x, fast);
}

void launch(const std::string& key, int64_t total, int64_t block, const std::vector<KernelArg>& args, Device dev,
            bool checks_indices) {
  const Kernel& k = kernel(key);
  Stream s = current_stream(dev.index);
  k.launch(grid_for(total, block, key.c_str()), 1, 1, args, s);
  if (checks_indices) note_index_launch(s);
}

}  // namespace

Tensor on_device(const Tensor& t, Device device, const char* op) {
  if (t.device() == device) return t;
  VT_CHECK_VALUE(t.device().is_cpu(), op, ": expected the index on ", device.str(), " or the CPU, got ", t.device().str());
  Tensor out = empty(t.sizes(), t.dtype(), device);
  copy_(out, t);
  return out;
}

void launch_rows(RowMode mode, const Tensor& indexed, int64_t first, const std::vector<RowIndex>& dims,
                 IntArrayRef bshape_in, const Tensor& other, Scalar alpha, bool wrap, IndexOp op) {
  const int64_t k = int64_t(dims.size()), nbd = int64_t(bshape_in.size());
  const Device dev = indexed.device();
  Tensor ix = indexed;
  if (mode == RowMode::Add && atomic_dtype(indexed.dtype()) != indexed.dtype())
    ix = to_dtype(indexed, atomic_dtype(indexed.dtype()));
  Tensor rx = drop_dims(ix, first, k), ro = drop_dims(other, first, nbd);
  VT_CHECK(rx.sizes() == ro.sizes(), "launch_rows: row shapes ", shape_str(rx.sizes()), " and ",
           shape_str(ro.sizes()), " differ");
  DimVec bshape(bshape_in), rshape = rx.sizes();
  int64_t total = numel_of(bshape) * numel_of(rshape);
  if (total == 0) return;
  activate(dev.index);

  std::vector<Tensor> idx;
  std::vector<DimVec> bst;
  for (const RowIndex& r : dims) {
    idx.push_back(on_device(r.index, dev, "index"));
    bst.push_back(broadcast_strides(idx.back(), bshape));
  }
  DimVec ost(IntArrayRef(other.strides()).subspan(size_t(first), size_t(nbd)));
  DimVec rxst = rx.strides(), rost = ro.strides();
  std::vector<DimVec*> bl{&ost};
  for (DimVec& b : bst) bl.push_back(&b);
  coalesce(bshape, bl);
  coalesce(rshape, {&rxst, &rost});
  const bool get = mode == RowMode::Get;
  const Tensor &dst = get ? other : ix, &src = get ? ix : other;
  const DimVec &dr = get ? rost : rxst, &sr = get ? rxst : rost;

  std::string key = std::string("ixr|") + (get ? "get" : mode == RowMode::Put ? "put" : "add") + "|" +
                    dtype_name(src.dtype()) + "|" + dtype_name(dst.dtype()) + "|";
  for (int64_t j = 0; j < k; j++) key += std::string(j ? "," : "") + dtype_name(idx[size_t(j)].dtype());
  const bool fast = fast_positions(total, kRowBlock);
  key += "|" + std::to_string(bshape.size()) + "|" + std::to_string(rshape.size()) + (fast ? "|f" : "");

  std::vector<KernelArg> args{KernelArg::ptr(dst.data()), KernelArg::ptr(src.data())};
  for (const Tensor& t : idx) args.push_back(KernelArg::ptr(t.data()));
  args.push_back(KernelArg::ptr(index_error_word(dev.index)));
  push_all(args, {total});
  const int64_t nr = numel_of(rshape);
  push_sizes(args, IntArrayRef(&nr, 1), fast);
  push_sizes(args, bshape, fast);
  push_sizes(args, rshape, fast);
  for (int64_t j = 0; j < k; j++) {
    push_all(args, {ix.sizes()[first + j], ix.strides()[first + j], code_of(op, dims[size_t(j)].dim)});
    push_all(args, bst[size_t(j)]);
  }
  push_all(args, ost);
  push_all(args, dr);
  push_all(args, sr);
  args.push_back(KernelArg::f64v(alpha.to_double()));
  args.push_back(KernelArg::i64v(ix.dtype() == DType::Bool || indexed.dtype() == DType::Bool
                                     ? int64_t(alpha.to_double() != 0) : alpha.to_int()));
  args.push_back(KernelArg::i64v(wrap ? 1 : 0));
  launch(key, total, kRowBlock, args, dev, true);
  if (!ix.is_same(indexed)) copy_(indexed, ix);
}

Tensor take_rows_cuda(const Tensor& src, int64_t first, const std::vector<RowIndex>& dims, IntArrayRef bshape,
                      bool wrap, IndexOp op) {
  DimVec shape;
  int64_t k = int64_t(dims.size());
  for (int64_t d = 0; d < first; d++) shape.push_back(src.sizes()[d]);
  for (int64_t s : bshape) shape.push_back(s);
  for (int64_t d = first + k; d < src.dim(); d++) shape.push_back(src.sizes()[d]);
  Tensor out = empty(shape, src.dtype(), src.device());
  launch_rows(RowMode::Get, src, first, dims, bshape, out, Scalar(int64_t(1)), wrap, op);
  return out;
}

void launch_gather(GatherMode mode, const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                   bool scalar, IndexOp op) {
  const Device dev = self.device();
  if (index.numel() == 0 || self.numel() == 0) return;
  activate(dev.index);
  Tensor idx = on_device(index, dev, "gather/scatter");
  const int64_t nd = idx.dim(), len = idx.sizes()[dim];
  // scatter_add over few long lines goes through atomics; everything else walks lines (ordered, no atomics).
  DimVec squashed = idx.sizes();
  squashed[dim] = 1;
  const bool atomic = mode == GatherMode::Add && len > 32 && numel_of(squashed) < 16384;
  const bool lines = mode != GatherMode::Gather && !atomic;
  Tensor target = self;
  if (atomic && atomic_dtype(self.dtype()) != self.dtype()) target = to_dtype(self, atomic_dtype(self.dtype()));
  DimVec pshape = lines ? squashed : idx.sizes();

  DimVec sst = target.strides();
  sst[dim] = 0;
  DimVec ost = scalar ? DimVec(size_t(nd), 0) : src.strides();
  std::string mode_name = mode == GatherMode::Gather ? "gather" : atomic ? "atomic"
                          : mode == GatherMode::Set  ? "set"    : mode == GatherMode::Add ? "add" : "mul";
  std::string other_dt = scalar ? (is_floating(self.dtype()) ? "float64" : "int64") : dtype_name(src.dtype());
  int64_t total = numel_of(pshape);
  const bool fast = fast_positions(total, kGatherBlock);
  std::string key = "ixg|" + mode_name + "|" + dtype_name(target.dtype()) + "|" + other_dt + "|" +
                    (scalar ? "v" : "t") + "|" + std::to_string(nd) + (fast ? "|f" : "");
  std::vector<KernelArg> args{KernelArg::ptr(target.data())};
  if (scalar) {
    Scalar v = host_item(src);
    args.push_back(is_floating(self.dtype()) ? KernelArg::f64v(v.to_double()) : KernelArg::i64v(v.to_int()));
  } else {
    args.push_back(KernelArg::ptr(src.data()));
  }
  args.push_back(KernelArg::ptr(idx.data()));
  args.push_back(KernelArg::ptr(index_error_word(dev.index)));
  push_all(args, {total, lines ? len : 1});
  push_sizes(args, pshape, fast);
  push_all(args, sst);
  push_all(args, idx.strides());
  push_all(args, ost);
  push_all(args, {lines ? idx.strides()[dim] : 0, lines && !scalar ? src.strides()[dim] : 0, target.sizes()[dim],
                  target.strides()[dim], code_of(op, dim)});
  launch(key, total, kGatherBlock, args, dev, true);
  if (!target.is_same(self)) copy_(self, target);
}

std::pair<Tensor, int64_t> compact_offsets(const Tensor& flags) {
  const int64_t n = flags.numel(), blocks = (n + kCompactBlock - 1) / kCompactBlock;
  if (n == 0) return {Tensor(), 0};
  activate(flags.device().index);
  Tensor counts = empty(DimVec{blocks}, DType::Int64, flags.device());
  Tensor offsets = empty(DimVec{blocks + 1}, DType::Int64, flags.device());
  launch(std::string("ixc|count|") + dtype_name(flags.dtype()), n, kCompactBlock,
         {KernelArg::ptr(flags.data()), KernelArg::ptr(counts.data()), KernelArg::i64v(n)}, flags.device(), false);
  launch("ixc|scan", 1, 1, {KernelArg::ptr(counts.data()), KernelArg::ptr(offsets.data()), KernelArg::i64v(blocks)},
         flags.device(), false);
  // The output's size depends on the data: this read synchronizes (the one sync of nonzero/masked_select).
  int64_t total = host_item(select(offsets, 0, blocks)).to_int();
  return {offsets, total};
}

void launch_nonzero_write(const Tensor& x, const Tensor& offsets, const Tensor& out) {
  const int64_t n = x.numel(), nd = x.dim();
  if (n == 0 || nd == 0 || out.numel() == 0) return;
  std::vector<KernelArg> args{KernelArg::ptr(x.data()), KernelArg::ptr(offsets.data()), KernelArg::ptr(out.data()),
                              KernelArg::i64v(n)};
  push_all(args, x.sizes());
  launch(std::string("ixc|nonzero|") + dtype_name(x.dtype()) + "|" + std::to_string(nd), n, kCompactBlock, args,
         x.device(), false);
}

void launch_select_write(const Tensor& x, const Tensor& mask, const Tensor& offsets, const Tensor& out) {
  const int64_t n = x.numel();
  if (n == 0 || out.numel() == 0) return;
  launch(std::string("ixc|select|") + dtype_name(x.dtype()), n, kCompactBlock,
         {KernelArg::ptr(x.data()), KernelArg::ptr(mask.data()), KernelArg::ptr(offsets.data()),
          KernelArg::ptr(out.data()), KernelArg::i64v(n)},
         x.device(), false);
}

}  // namespace vt::cuda
