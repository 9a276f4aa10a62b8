// sort / argsort / topk on CUDA (kernels/triton/sort.py): rows of up to kOneBlock elements are sorted by
// one bitonic network each (several short rows per program); longer rows are sorted in kOneBlock runs
// that merge passes double until one run is left, then gathered into the outputs. topk writes only the
// first k entries; on long rows with k <= kOneBlock / 2 it runs a tournament instead (every pass keeps
// the first k of each block, shrinking rows by kOneBlock / k), never sorting the whole row.
#include <algorithm>

#include "cuda/device.h"
#include "cuda/dim_kernels.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {

constexpr int64_t kOneBlock = 1024;   // the longest row one program sorts (4096 compiled for minutes)
constexpr int64_t kTile = 1024;       // elements per program for short rows (ROWS x BLOCK)
constexpr int64_t kMergeBlock = 1024; // elements per program of a merge or gather pass

struct Rows {  // a tensor as [O, N, I] with element strides; row r = o * I + i
  int64_t O = 1, N = 1, I = 1, so = 0, sn = 0, si = 0;
};
bool as_rows(const Tensor& t, int64_t dim, Rows& r) {
  return merge_dims(t, 0, dim, r.O, r.so) && merge_dims(t, dim, dim + 1, r.N, r.sn) &&
         merge_dims(t, dim + 1, t.dim(), r.I, r.si);
}

}  // namespace

void sort_into(const Tensor& self, int64_t dim, int64_t k, bool descending, const Tensor& values_in,
               const Tensor& indices_in) {
  if (values_in.numel() == 0) return;
  activate(self.device().index);
  Tensor x = self.dim() == 0 ? reshape(self, DimVec{1}) : self;
  Tensor values = values_in.dim() == 0 ? view(values_in, DimVec{1}) : values_in;
  Tensor indices = indices_in.dim() == 0 ? view(indices_in, DimVec{1}) : indices_in;
  Rows in, out, out_i;
  if (!as_rows(x, dim, in)) {
    x = contiguous(x);
    VT_CHECK(as_rows(x, dim, in), "sort: a contiguous tensor must merge into rows");
  }
  // The outputs are fresh tensors from the callers: values and indices share one dense layout.
  VT_CHECK(as_rows(values, dim, out) && as_rows(indices, dim, out_i) && out.so == out_i.so && out.sn == out_i.sn &&
           out.si == out_i.si, "sort: outputs must be dense with the same layout");
  const int64_t N = in.N, R = in.O * in.I;
  VT_CHECK_VALUE(N < (int64_t(1) << 30), "sort: rows of ", N, " elements are too long for the CUDA sort");
  const Stream s = current_stream(self.device().index);
  const std::string dt = dtype_name(x.dtype()), desc = descending ? "1" : "0";
  const std::string head = "sort|" + dt + "|" + desc + "|";
  const int64_t out_args[] = {k, out.so, out.sn, out.si};
  // The last pass: rows of n entries (from the input, or (key, position) scratch rows) sorted by one block
  // each, their first k written to the outputs.
  auto sort_out = [&](int64_t n, const Tensor& kin, const Tensor& pin) {
    int64_t block = std::max<int64_t>(64, next_pow2(n));  // short rows share one compiled kernel
    int64_t rows = std::max<int64_t>(1, std::min(kTile / block, next_pow2(R)));
    const Kernel& kern = kernel(head + std::to_string(block) + "|" + std::to_string(rows) +
                                (kin.defined() ? "|kp|out" : "|x|out"));
    int64_t programs = (R + rows - 1) / rows;
    VT_CHECK(programs < (int64_t(1) << 31), "sort: too many rows for one launch");
    std::vector<KernelArg> args{KernelArg::ptr(x.data())};
    if (kin.defined()) args.insert(args.end(), {KernelArg::ptr(kin.data()), KernelArg::ptr(pin.data())});
    args.insert(args.end(), {KernelArg::ptr(values.data()), KernelArg::ptr(indices.data())});
    for (int64_t v : {R, in.I, n, in.so, in.sn, in.si}) args.push_back(KernelArg::i64v(v));
    for (int64_t v : out_args) args.push_back(KernelArg::i64v(v));
    kern.launch(uint32_t(programs), 1, 1, args, s);
  };
  // One "runs" pass over rows of n entries: each kOneBlock block sorted, its first kb entries kept in
  // [R, m_out] rows.
  auto sort_runs = [&](int64_t n, const Tensor& kin, const Tensor& pin, const Tensor& kout, const Tensor& pout,
                       int64_t kb, int64_t m_out) {
    int64_t nblocks = (n + kOneBlock - 1) / kOneBlock;
    VT_CHECK(R < (int64_t(1) << 31) && nblocks < 65536, "sort: tensor too large for one launch");
    std::vector<KernelArg> args{KernelArg::ptr(x.data())};
    if (kin.defined()) args.insert(args.end(), {KernelArg::ptr(kin.data()), KernelArg::ptr(pin.data())});
    args.insert(args.end(), {KernelArg::ptr(kout.data()), KernelArg::ptr(pout.data())});
    for (int64_t v : {R, in.I, n, in.so, in.sn, in.si, kb, m_out}) args.push_back(KernelArg::i64v(v));
    kernel(head + std::to_string(kOneBlock) + (kin.defined() ? "|1|kp|runs" : "|1|x|runs"))
        .launch(uint32_t(R), uint32_t(nblocks), 1, args, s);
  };
  if (N <= kOneBlock) {
    sort_out(N, Tensor(), Tensor());
    return;
  }
  const bool wide = x.dtype() == DType::Float64 || x.dtype() == DType::Int64;
  const DType kt = wide ? DType::Int64 : DType::Int32;
  if (2 * k <= kOneBlock) {  // topk: a tournament keeping the first k of every block, until one block is left
    Tensor keys, pos;
    for (int64_t n = N; n > kOneBlock;) {
      int64_t m_out = (n + kOneBlock - 1) / kOneBlock * k;
      Tensor kout = empty(DimVec{R, m_out}, kt, x.device()), pout = empty(DimVec{R, m_out}, DType::Int32, x.device());
      sort_runs(n, keys, pos, kout, pout, k, m_out);
      keys = kout;
      pos = pout;
      n = m_out;
      if (n <= kOneBlock) sort_out(n, keys, pos);
    }
    return;
  }
  // Long rows: sorted runs of (key, position) in scratch, merged pairwise, then gathered.
  Tensor keys = empty(DimVec{R, N}, kt, x.device()), pos = empty(DimVec{R, N}, DType::Int32, x.device());
  Tensor keys2 = empty(DimVec{R, N}, kt, x.device()), pos2 = empty(DimVec{R, N}, DType::Int32, x.device());
  sort_runs(N, Tensor(), Tensor(), keys, pos, kOneBlock, N);
  const int64_t nb = (N + kMergeBlock - 1) / kMergeBlock;
  VT_CHECK(nb * R < (int64_t(1) << 31), "sort: tensor too large for one launch");
  const Kernel& merge = kernel("smerge|" + std::string(dtype_name(kt)) + "|" + std::to_string(kMergeBlock));
  for (int64_t width = kOneBlock; width < N; width *= 2) {
    int32_t iters = 1;  // binary search steps over a run of `width`: ceil(log2(width + 1))
    while ((int64_t(1) << iters) <= width) iters++;
    merge.launch(uint32_t(nb * R), 1, 1,
                 {KernelArg::ptr(keys.data()), KernelArg::ptr(pos.data()), KernelArg::ptr(keys2.data()),
                  KernelArg::ptr(pos2.data()), KernelArg::i64v(N), KernelArg::i64v(nb), KernelArg::i64v(width),
                  KernelArg::i32v(iters)},
                 s);
    std::swap(keys, keys2);
    std::swap(pos, pos2);
  }
  const int64_t nbk = (k + kMergeBlock - 1) / kMergeBlock;
  std::vector<KernelArg> args{KernelArg::ptr(x.data()), KernelArg::ptr(pos.data()), KernelArg::ptr(values.data()),
                              KernelArg::ptr(indices.data())};
  for (int64_t v : {in.I, N, k, nbk, in.so, in.sn, in.si, out.so, out.sn, out.si}) args.push_back(KernelArg::i64v(v));
  kernel("sgather|" + dt + "|" + std::to_string(kMergeBlock)).launch(uint32_t(nbk * R), 1, 1, args, s);
}

}  // namespace vt::cuda
