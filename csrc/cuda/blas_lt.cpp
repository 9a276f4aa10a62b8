// GEMMs through cuBLASLt (loaded by blas_lt_loader.cpp).
//
// cuBLAS is column-major and our matrices are row-major (out is always contiguous), so we ask for
// out^T (n x m, column-major, ld n) = B^T A^T: a row-major operand is its own transpose seen column-major
// (op N), a column-major one is read with op T. No operand is copied.
//
// A plan (matmul descriptor, layouts, the heuristic's algorithm and its workspace size) depends only on the
// problem's shape, dtype, layouts and pointer alignments; it is cached per device in a small table so a
// repeated GEMM costs one cublasLtMatmul call. The workspace comes from the caching allocator on the current
// stream (freed back to that stream's pool right after the launch, which later work is ordered after).
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "cuda/allocator.h"
#include "cuda/blas.h"
#include "cuda/blas_lt_api.h"
#include "cuda/device.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {
using namespace lt;

constexpr int kMaxDevices = 64;
constexpr size_t kMaxPlans = 1024;  // distinct GEMM shapes kept; the table is cleared when it fills up

cublasLtHandle_t handle(int device) {
  static std::array<std::atomic<cublasLtHandle_t>, kMaxDevices> handles{};
  static std::mutex mu;
  VT_CHECK(device >= 0 && device < kMaxDevices, "cuBLASLt: device index ", device, " out of range");
  if (cublasLtHandle_t h = handles[size_t(device)].load(std::memory_order_acquire)) return h;
  std::lock_guard<std::mutex> g(mu);
  if (cublasLtHandle_t h = handles[size_t(device)].load(std::memory_order_relaxed)) return h;
  activate(device);
  cublasLtHandle_t h = nullptr;
  VT_CUBLASLT(cublasLtCreate(&h));
  handles[size_t(device)].store(h, std::memory_order_release);  // kept for the process, like the context
  return h;
}

// The largest power of two (<= 256) dividing the address: algorithms needing more alignment are excluded.
uint32_t alignment(const void* p) {
  uint32_t a = 256;
  while (a > 1 && uintptr_t(p) % a) a /= 2;
  return a;
}

size_t max_workspace(int device) {  // PyTorch's sizes: 32 MiB on Hopper and later, 8 MiB before
  return properties(device).major >= 9 ? size_t(32) << 20 : size_t(8) << 20;
}

struct Plan {
  bool ok = false;  // false: cuBLASLt has no algorithm for this problem
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  std::mutex bias_mu;  // the bias pointer is an attribute of desc: set it and launch under this lock
  ~Plan() {
    const Api& a = api();
    for (cublasLtMatrixLayout_t l : {la, lb, ld})
      if (l) a.cublasLtMatrixLayoutDestroy(l);
    if (desc) a.cublasLtMatmulDescDestroy(desc);
  }
};

using PlanKey = std::array<int64_t, 18>;
struct KeyHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the fields
    for (int64_t v : k) h = (h ^ uint64_t(v)) * 1099511628211ull;
    return size_t(h);
  }
};

struct PlanCache {
  std::shared_mutex mu;
  std::unordered_map<PlanKey, std::shared_ptr<Plan>, KeyHash> plans;
};
PlanCache& cache() {
  static PlanCache* c = new PlanCache();  // leaked, with the library (see blas_lt_loader.cpp)
  return *c;
}

// One operand as cuBLAS sees it: a row-major r x c matrix is a column-major c x r one (op N gives it back
// transposed, as the swapped product needs); a column-major one keeps its shape and is read with op T.
struct Side {
  int32_t op;
  uint64_t rows, cols;
  int64_t ld;
};
Side side(const GemmOperand& o, int64_t r, int64_t c) {
  if (o.row_major()) return {CUBLAS_OP_N, uint64_t(c), uint64_t(r), o.rs};
  return {CUBLAS_OP_T, uint64_t(r), uint64_t(c), o.cs};
}

int32_t data_type(DType d) {
  switch (d) {
    case DType::Float16: return CUDA_R_16F;
    case DType::BFloat16: return CUDA_R_16BF;
    case DType::Float32: return CUDA_R_32F;
    case DType::Float64: return CUDA_R_64F;
    default: VT_THROW(TypeError, "cuBLASLt matmul: unsupported dtype ", dtype_name(d));
  }
}

cublasLtMatrixLayout_t make_layout(int32_t type, uint64_t rows, uint64_t cols, int64_t ld, int64_t batch,
                                   int64_t batch_stride) {
  cublasLtMatrixLayout_t l = nullptr;
  VT_CUBLASLT(cublasLtMatrixLayoutCreate(&l, type, rows, cols, ld));
  if (batch > 1) {
    int32_t count = int32_t(batch);
    // On failure destroy l before raising: the caller has not taken ownership yet.
    cublasStatus_t s = api().cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                              sizeof(count));
    if (s == CUBLAS_STATUS_SUCCESS)
      s = api().cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batch_stride,
                                                 sizeof(batch_stride));
    if (s != CUBLAS_STATUS_SUCCESS) {
      api().cublasLtMatrixLayoutDestroy(l);
      throw_status(s, "cublasLtMatrixLayoutSetAttribute(batch)");
    }
  }
  return l;
}

std::shared_ptr<Plan> make_plan(const GemmProblem& p, bool bias) {
  auto plan = std::make_shared<Plan>();
  const int32_t type = data_type(p.dtype);
  const bool f64 = p.dtype == DType::Float64;
  const int32_t compute = f64 ? CUBLAS_COMPUTE_64F : p.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  VT_CUBLASLT(cublasLtMatmulDescCreate(&plan->desc, compute, f64 ? CUDA_R_64F : CUDA_R_32F));
  const Side a = side(p.b, p.k, p.n), b = side(p.a, p.m, p.k);  // cuBLAS's A is our B and its B our A
  VT_CUBLASLT(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &a.op, sizeof(a.op)));
  VT_CUBLASLT(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &b.op, sizeof(b.op)));
  if (bias) {
    const uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    VT_CUBLASLT(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                               sizeof(epilogue)));
  }
  plan->la = make_layout(type, a.rows, a.cols, a.ld, p.batch, p.b.bs);
  plan->lb = make_layout(type, b.rows, b.cols, b.ld, p.batch, p.a.bs);
  plan->ld = make_layout(type, uint64_t(p.n), uint64_t(p.m), p.n, p.batch, p.m * p.n);

  cublasLtMatmulPreference_t pref = nullptr;
  VT_CUBLASLT(cublasLtMatmulPreferenceCreate(&pref));
  std::unique_ptr<LtMatmulPreferenceOpaque, void (*)(LtMatmulPreferenceOpaque*)> pref_guard(
      pref, [](LtMatmulPreferenceOpaque* q) { api().cublasLtMatmulPreferenceDestroy(q); });
  const uint64_t ws = max_workspace(p.device);
  const uint32_t align_a = alignment(p.b.ptr), align_b = alignment(p.a.ptr), align_d = alignment(p.out.data());
  VT_CUBLASLT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  VT_CUBLASLT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                   sizeof(align_a)));
  VT_CUBLASLT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                   sizeof(align_b)));
  VT_CUBLASLT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d,
                                                   sizeof(align_d)));
  VT_CUBLASLT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d,
                                                   sizeof(align_d)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  // NOT_SUPPORTED here means "no algorithm for this combination": the caller falls back to Triton.
  cublasStatus_t s = api().cublasLtMatmulAlgoGetHeuristic(handle(p.device), plan->desc, plan->la, plan->lb,
                                                          plan->ld, plan->ld, pref, 1, &result, &found);
  constexpr cublasStatus_t kNotSupported = 15;
  if (s != CUBLAS_STATUS_SUCCESS && s != kNotSupported) throw_status(s, "cublasLtMatmulAlgoGetHeuristic");
  if (s == CUBLAS_STATUS_SUCCESS && found > 0) {
    plan->ok = true;
    plan->algo = result.algo;
    plan->workspace = result.workspaceSize;
  }
  return plan;
}

std::shared_ptr<Plan> plan_for(const GemmProblem& p, bool bias) {
  const PlanKey key{p.device, int64_t(p.dtype), p.tf32, bias, p.batch, p.m, p.n, p.k,
                    p.a.row_major(), p.a.ld(), p.a.bs, p.b.row_major(), p.b.ld(), p.b.bs,
                    alignment(p.a.ptr), alignment(p.b.ptr), alignment(p.out.data()), 0};
  PlanCache& c = cache();
  {
    std::shared_lock<std::shared_mutex> g(c.mu);
    auto it = c.plans.find(key);
    if (it != c.plans.end()) return it->second;
  }
  std::shared_ptr<Plan> plan = make_plan(p, bias);  // outside the lock: the heuristic takes tens of us
  std::unique_lock<std::shared_mutex> g(c.mu);
  if (c.plans.size() >= kMaxPlans) c.plans.clear();  // plans in use stay alive through their shared_ptr
  return c.plans.emplace(key, plan).first->second;
}

// One cublasLtMatmul; false when cuBLASLt has no algorithm. With `bias`, C is ignored and the bias epilogue
// adds p.c's row (a 1-D bias broadcast over rows) instead; otherwise C is `out` itself (already holding c).
bool run(const GemmProblem& p, bool bias) {
  std::shared_ptr<Plan> plan = plan_for(p, bias);
  if (!plan->ok) return false;
  const bool f64 = p.dtype == DType::Float64;
  const double alpha64 = p.alpha, beta64 = bias ? 0.0 : p.beta;
  const float alpha32 = float(alpha64), beta32 = float(beta64);
  const void* alpha = f64 ? static_cast<const void*>(&alpha64) : &alpha32;
  const void* beta = f64 ? static_cast<const void*>(&beta64) : &beta32;
  DataPtr workspace;
  if (plan->workspace) workspace = cuda_allocator(p.device).allocate(plan->workspace);
  const Stream stream = current_stream(p.device);
  activate(p.device);
  std::unique_lock<std::mutex> bias_lock(plan->bias_mu, std::defer_lock);
  if (bias) {
    bias_lock.lock();
    const void* ptr = p.c.data();
    VT_CUBLASLT(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr, sizeof(ptr)));
  }
  // cuBLAS's A is our B, its B our A; C and D are both `out`.
  VT_CUBLASLT(cublasLtMatmul(handle(p.device), plan->desc, alpha, p.b.ptr, plan->la, p.a.ptr, plan->lb, beta,
                             p.out.data(), plan->ld, p.out.data(), plan->ld, &plan->algo, workspace.ptr,
                             plan->workspace, stream.handle));
  return true;
}

}  // namespace

bool cublaslt_gemm(const GemmProblem& p) {
  // addmm with a 1-D bias (self of shape [n] or [1, n]), beta 1: the bias epilogue adds it, no copy of C.
  const bool bias = p.c.defined() && p.beta == 1 && p.batch == 1 && p.dtype != DType::Float64 &&
                    p.c.strides()[1] == 0 && (p.c.strides()[2] == 1 || p.n == 1);
  if (bias && run(p, true)) return true;
  if (p.c.defined()) copy_(p.out, p.c);  // beta * C with C = out
  return run(p, false);
}

}  // namespace vt::cuda
