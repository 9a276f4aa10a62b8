// Reductions and softmax on CUDA, as generated Triton kernels (kernels/triton/reduction.py).
//
// The input is seen as [O, R, I] with element strides: when the reduced dims are one contiguous block of a
// dense layout (the last dims, the first dims, or a middle block) that view needs no copy; otherwise the
// input is permuted to (kept..., reduced...) and made dense on the device first. When R (row reductions) or
// I (column reductions) is contiguous and 16-byte aligned, the kernel is told so (plan_reduce's layout) and
// reads 16 bytes per access with addresses known at compile time; otherwise it reads element by element
// with strides given at run time. Few outputs over a long reduced range split R across programs and fold
// the partial results with a second launch (deterministic: no atomics).
#include "cuda/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda/device.h"
#include "cuda/elementwise.h"
#include "cuda/kernel_library.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {

bool merge_dims(const Tensor& t, int64_t b, int64_t e, int64_t& size, int64_t& stride) {
  size = 1;
  stride = 1;
  bool first = true;
  for (int64_t d = e - 1; d >= b; d--) {
    int64_t s = t.sizes()[d];
    if (s == 1) continue;
    if (first) {
      stride = t.strides()[d];
      first = false;
    } else if (t.strides()[d] != stride * size) {
      return false;
    }
    size *= s;
  }
  return true;
}

View3 view3(const Tensor& self, const std::vector<bool>& mask) {
  int64_t n = self.dim(), a = 0;
  while (a < n && !mask[a]) a++;
  int64_t b = a;
  while (b < n && mask[b]) b++;
  bool block = true;
  for (int64_t d = b; d < n; d++) block &= !mask[d];
  View3 v;
  if (block && merge_dims(self, 0, a, v.O, v.so) && merge_dims(self, a, b, v.R, v.sr) &&
      merge_dims(self, b, n, v.I, v.si)) {
    v.base = self;
    return v;
  }
  DimVec perm;
  for (int64_t d = 0; d < n; d++) if (!mask[d]) perm.push_back(d);
  for (int64_t d = 0; d < n; d++) if (mask[d]) perm.push_back(d);
  v.base = contiguous(permute(self, perm));
  v.O = 1;
  v.R = 1;
  for (int64_t d = 0; d < n; d++) (mask[d] ? v.R : v.O) *= self.sizes()[d];
  v.I = 1;
  v.so = v.R;
  v.sr = 1;
  v.si = 0;
  return v;
}

int64_t next_pow2(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

namespace {

// Tiles: a program reads 16 KiB per step of 4-byte elements (8 of 2-byte ones), in 16-byte accesses where
// the layout allows, so an SM holds ~64 KiB or more of loads in flight (about what 3 TB/s needs over the
// memory latency). Arg reductions carry an int64 index per element: smaller tiles keep them in registers.
constexpr int64_t kTileElems = 4096, kTileBytes = 16384, kArgTileElems = 1024;
// Row reductions of 16-bit elements read 1 KiB of each of 8 rows per step rather than 8 KiB of one: on an H100
// (benchmarks/cuda_reduction_tiles.py, direct launches) sums over rows of 16384x1024 and 8192x8192 bfloat16 took
// 9.0 and 49.5 us against 11.0 and 50.3 (torch 10.0-10.3, 60); float32 rows were fastest as they were. At 4096
// rows the 8-row tile left 512 programs, and splitting R to add programs cost more (12.4 us) than it gave: unsplit
// it took 7.4 us (the 4096-wide tile 10.2, torch 7.9). So 8-row programs are not split while a quarter of
// kTargetPrograms of them remain, and below that the wide tile is taken (its programs are per row).
constexpr int64_t k16BitRowElems = 512;
// Column tiles span 512 bytes of a row, narrowed down to one 128-byte line while that adds programs.
constexpr int64_t kWideRowBytes = 512, kLineBytes = 128;
// The generic layout's tile (strides read at run time, one element per access).
constexpr int64_t kStridedTileElems = 1024, kStridedWidth = 64;
// About 8 programs per SM of an H100 (132 SMs); R is split only while the grid is smaller than half that,
// and a split folds at least kMinSplitElems elements: less would make the fold launch cost more than it saves.
constexpr int64_t kTargetPrograms = 1056, kMinSplitElems = 8192;

int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return std::max(lo, std::min(hi, x)); }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// The scans' split rule: splits of R so that about kTargetPrograms programs share the work, each folding at
// least 256 rows of R.
int64_t reduce_splits(int64_t programs, int64_t R) {
  if (programs >= kTargetPrograms / 2 || R < 512) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(R / 256, ceil_div(kTargetPrograms, programs)));
}

namespace {

// With splits, `op` runs as partial_op(op) over each split and fold_op(op) folds the [splits, ...] partials:
// ops with a final step (division, sqrt, log) take it only in the fold.
std::string partial_op(const std::string& op) {
  if (op == "sumdiv") return "sum";
  if (op == "var" || op == "std") return "sqdev";
  if (op == "lse") return "expdev";
  return op;
}
std::string fold_op(const std::string& op) {
  if (op == "prod") return "prod";
  if (op == "amax" || op == "absmax" || op == "any") return "amax";
  if (op == "amin" || op == "absmin" || op == "all") return "amin";
  if (op == "var" || op == "sumdiv") return "sumdiv";
  if (op == "std") return "sumdiv_sqrt";
  if (op == "lse") return "logsum_shift";
  return "sum";
}
bool reads_aux(const std::string& op) {
  return op == "sqdev" || op == "expdev" || op == "var" || op == "std" || op == "lse" || op == "logsum_shift";
}

// 'r', 'i' or 'g' (kernels/triton/reduction.py, LAYOUTS): the aligned layouts need the first element and
// every row the kernel starts on 16-byte boundaries, and the range they read vectors along (R for 'r', I
// for 'i') a whole number of vectors, so that no vector straddles a mask edge.
char reduce_layout(const View3& v, int64_t per_split) {
  int64_t es = int64_t(itemsize(v.base.dtype())), vec = 16 / es;
  auto aligned = [&](int64_t stride) { return stride * es % 16 == 0; };
  if (reinterpret_cast<uintptr_t>(v.base.data()) % 16 != 0 || (v.O > 1 && !aligned(v.so))) return 'g';
  if (v.I == 1 && v.sr == 1 && v.R % vec == 0 && per_split % vec == 0) return 'r';
  if (v.I > 1 && v.si == 1 && v.I % vec == 0 && (v.R == 1 || aligned(v.sr))) return 'i';
  return 'g';
}

}  // namespace

ReducePlan plan_reduce(const View3& v, bool indexed, int64_t splits) {
  int64_t es = int64_t(itemsize(v.base.dtype()));
  int64_t tile = indexed ? kArgTileElems : std::min(kTileElems, kTileBytes / es);
  ReducePlan p;
  p.layout = reduce_layout(v, splits > 0 ? ceil_div(v.R, splits) : v.R);
  bool narrow = false;
  if (p.layout == 'r') {  // short rows: several per program; 16-bit rows at most k16BitRowElems per step
    // where that leaves enough programs not to split R (a split's second launch cost more than the tile saved)
    narrow = es == 2 && 4 * ceil_div(v.O, tile / k16BitRowElems) >= kTargetPrograms;
    p.br = clamp64(next_pow2(v.R), 16, narrow ? k16BitRowElems : tile);
    p.bo = clamp64(tile / p.br, 1, next_pow2(v.O));
  } else if (p.layout == 'i') {
    p.bi = std::min(next_pow2(v.I), kWideRowBytes / es);
    while (p.bi * es > kLineBytes && v.O * ceil_div(v.I, p.bi) < kTargetPrograms) p.bi /= 2;
    p.br = clamp64(tile / p.bi, 1, next_pow2(v.R));
  } else {
    p.bi = v.I == 1 ? 1 : std::min(kStridedWidth, next_pow2(v.I));
    p.br = std::max<int64_t>(16, std::min(kStridedTileElems / p.bi, next_pow2(v.R)));
  }
  if (splits > 0) {
    p.splits = splits;
    p.per_split = ceil_div(v.R, splits);
  } else {
    int64_t programs = ceil_div(v.O, p.bo) * ceil_div(v.I, p.bi);
    int64_t most = v.R * p.bo * p.bi / kMinSplitElems;
    bool enough = (narrow ? 4 : 2) * programs >= kTargetPrograms;
    int64_t want = indexed || enough ? 1 : std::min(ceil_div(kTargetPrograms, programs), most);
    // whole tiles per split (the aligned layouts' splits must start on a vector; a tile is a whole number)
    int64_t round = p.layout == 'g' ? 1 : p.br;
    p.per_split = ceil_div(ceil_div(v.R, std::max<int64_t>(1, want)), round) * round;
    // An empty reduced range (sum over a dim of size 0) is one split of nothing: the kernel writes identities.
    p.splits = p.per_split > 0 ? std::max<int64_t>(1, ceil_div(v.R, p.per_split)) : 1;
  }
  if (p.layout == 'r') p.br = clamp64(next_pow2(p.per_split), 16, p.br);  // a split shorter than the tile
  return p;
}

// One launch: [O, R, I] (strided) -> out [splits, O, I] (values, and indices for arg reductions).
void launch_reduce(const std::string& op, const View3& v, const Tensor& out, const Tensor& idx, DType acc,
                   double param, const ReducePlan& p, const Tensor& aux) {
  std::string key = "red|" + op + "|" + dtype_name(v.base.dtype()) + "|" + dtype_name(out.dtype()) + "|" +
                    dtype_name(acc) + "|" + std::to_string(p.bo) + "|" + std::to_string(p.br) + "|" +
                    std::to_string(p.bi) + "|" + std::string(1, p.layout);
  const Kernel& k = kernel(key);
  std::vector<KernelArg> args{KernelArg::ptr(v.base.data()), KernelArg::ptr(out.data())};
  if (idx.defined()) args.push_back(KernelArg::ptr(idx.data()));
  if (reads_aux(op)) {
    VT_CHECK(aux.defined() && aux.is_contiguous() && aux.dtype() == acc && aux.numel() == v.O * v.I,
             "reduction '", op, "': expected its per-output operand");
    args.push_back(KernelArg::ptr(aux.data()));
  }
  for (int64_t x : {v.O, v.R, v.I, v.so, v.sr, v.si, p.per_split}) args.push_back(KernelArg::i64v(x));
  args.push_back(KernelArg::f64v(param));
  int64_t tiles = ceil_div(v.O, p.bo) * ceil_div(v.I, p.bi);  // (O block, I block) on grid axis 0
  VT_CHECK(tiles < (int64_t(1) << 31) && p.splits < 65536, "reduction too large for one launch (", v.O, " x ", v.R,
           " x ", v.I, ")");
  k.launch(uint32_t(tiles), 1, uint32_t(p.splits), args, current_stream(out.device().index));
}

void launch_reduce(const std::string& op, const View3& v, const Tensor& out, const Tensor& idx, DType acc,
                   double param, int64_t splits, const Tensor& aux) {
  launch_reduce(op, v, out, idx, acc, param, plan_reduce(v, idx.defined(), splits), aux);
}

Tensor reduce(const std::string& op, const Tensor& self, const std::vector<bool>& mask, DType out_dtype, DType acc,
              double param, const Tensor& aux) {
  DimVec kept;
  for (int64_t d = 0; d < self.dim(); d++)
    if (!mask[d]) kept.push_back(self.sizes()[d]);
  Tensor out = empty(kept, out_dtype, self.device());
  if (out.numel() == 0) return out;
  activate(self.device().index);
  View3 v = view3(self, mask);
  ReducePlan plan = plan_reduce(v, false, 0);
  // Floating results round from the accumulator as the kernel stores them (one launch less than a copy);
  // integer and bool ones go through the accumulator type and a copy.
  bool direct = out_dtype == acc || (is_floating(out_dtype) && is_floating(acc));
  Tensor dst = direct ? out : empty(kept, acc, self.device());
  if (plan.splits == 1) {
    launch_reduce(op, v, dst, Tensor(), acc, param, plan, aux);
  } else {
    Tensor partial = empty(DimVec{plan.splits, v.O, v.I}, acc, self.device());
    launch_reduce(partial_op(op), v, partial, Tensor(), acc, param, plan, aux);
    View3 p;  // the partials as one column of `splits` per output
    p.base = partial;
    p.O = 1;
    p.R = plan.splits;
    p.I = v.O * v.I;
    p.so = 0;
    p.sr = v.O * v.I;
    p.si = 1;
    launch_reduce(fold_op(op), p, dst, Tensor(), acc, param, 1, aux);
  }
  if (!dst.is_same(out)) copy_(out, dst);
  return out;
}

// values and int64 indices of argmax/argmin over one dim (no splitting: ties must resolve in order).
std::pair<Tensor, Tensor> reduce_arg(const std::string& op, const Tensor& self, const std::vector<bool>& mask) {
  DimVec kept;
  for (int64_t d = 0; d < self.dim(); d++)
    if (!mask[d]) kept.push_back(self.sizes()[d]);
  DType acc = acc_for(self.dtype());
  // a floating maximum is one of the inputs: stored in their dtype as is (no copy launch)
  DType value_dtype = is_floating(self.dtype()) ? self.dtype() : acc;
  Tensor values = empty(kept, value_dtype, self.device()), idx = empty(kept, DType::Int64, self.device());
  if (values.numel()) {
    activate(self.device().index);
    launch_reduce(op, view3(self, mask), values, idx, acc, 0, 1);
  }
  return {to_dtype(values, self.dtype()), idx};
}

// Row softmax / log_softmax over the last dim of a dense tensor.
Tensor softmax_rows(const std::string& op, const Tensor& x, DType out_dtype) {
  Tensor out = empty(x.sizes(), out_dtype, x.device());
  if (out.numel() == 0) return out;
  int64_t n = x.dim() ? x.sizes()[x.dim() - 1] : 1, rows = x.numel() / n;
  // Rows up to 8192 elements are held in registers whole: one read, one write. Longer rows stream through
  // 1024-element blocks twice (an online max/sum pass, then the write pass).
  bool whole = n <= 8192;
  int64_t block = whole ? next_pow2(n) : 1024;
  bool aligned = multiples_of_16({address(x.data()), address(out.data()), uint64_t(n)});  // kernel_library.h
  const Kernel& k = kernel("soft|" + op + "|" + dtype_name(x.dtype()) + "|" + dtype_name(out_dtype) + "|" +
                           std::to_string(block) + (whole ? "|w" : "|s") + (aligned ? kAlignedSuffix : ""));
  activate(x.device().index);
  k.launch(uint32_t(rows), 1, 1, {KernelArg::ptr(x.data()), KernelArg::ptr(out.data()), KernelArg::i64v(n)},
           current_stream(x.device().index));
  return out;
}

}  // namespace vt::cuda
