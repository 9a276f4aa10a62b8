// The dispatcher: one table of ops (op_table.h), kernels per dispatch key, lock-free calls.
//
// Every op has an entry whose kernel table is an immutable snapshot behind an atomic pointer.
// Registration (rare: import time, or a Python override) copies the table under a mutex and publishes the
// copy with a release store; a call does one acquire load and never takes a lock. Replaced tables are
// retired, not freed, because a concurrent caller may still be reading one; they are few and small.
#pragma once
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "dispatch/ivalue.h"
#include "dispatch/schema.h"

namespace vt {

// CPU and CUDA share their numbering with DeviceType. Composite kernels are device-generic (views,
// decompositions); Autograd runs before any of them when a tensor argument requires grad.
enum class DispatchKey : uint8_t { CPU = 0, CUDA = 1, Composite = 2, Autograd = 3 };
constexpr int kNumDispatchKeys = 4;
const char* key_name(DispatchKey k);
bool parse_key(std::string_view s, DispatchKey& out);

// Op flags, declared per op in op_table.h.
enum OpFlag : uint32_t {
  kFunction = 1,        // exposed as vt.<name>
  kMethod = 2,          // exposed as Tensor.<name>
  kDifferentiable = 4,  // needs a row in autograd's derivative table
  kInplaceVariant = 8,  // also declare `<name>_`, writing into self
  kFactory = 16,        // no tensor inputs: takes dtype/device (and, from Python, requires_grad)
  kRandom = 32,         // draws from the generator
};

// What autocast (vt.autocast, mixed precision) does to an op's floating inputs on one device type, in
// PyTorch's words. The policies come from the one table in vibetensor/amp/policy.py.
enum class CastPolicy : uint8_t {
  None,               // not an autocast op there: inputs pass unchanged
  LowerPrecisionFp,   // cast to the region's dtype (bf16 / fp16): matmuls
  Fp32,               // cast to float32: ops that need its range or precision (exp, losses, norms)
  Fp32SetOptDtype,    // leave inputs, pass dtype=float32 unless the caller gave one (softmax, sum)
  Promote,            // cast to the widest floating type among the inputs (cat, addcmul)
};

class OpEntry;

struct KernelFunction {
  using Boxed = void (*)(const OpEntry& op, Stack& stack, const KernelFunction& self);
  Boxed boxed = nullptr;                     // always set: the stack holds args in, results out
  void* unboxed = nullptr;                   // the typed function, when the kernel is C++
  const std::type_info* signature = nullptr; // its type, R(A...)
  std::shared_ptr<void> state;               // e.g. the Python callable of a Python kernel
  bool is_python = false;
  // Autograd and autocast kernels call the op again below themselves; only the innermost kernel bumps versions.
  bool redispatches = false;
  explicit operator bool() const { return boxed != nullptr; }

  template <class R, class... A> static KernelFunction from(R (*fn)(A...));
};

struct KernelTable {
  KernelFunction k[kNumDispatchKeys];
};

class OpEntry {
 public:
  OpEntry(Schema s, uint32_t flags, int index);
  const Schema& schema() const { return schema_; }
  const std::string& name() const { return name_; }  // full name, "max.dim"
  uint32_t flags() const { return flags_; }
  int index() const { return index_; }
  const KernelTable* table() const { return table_.load(std::memory_order_acquire); }
  bool mutates_self() const { return mutates_; }  // `Tensor(a!) self`: the call bumps self's version
  CastPolicy autocast_policy(int device_type) const {
    return CastPolicy(autocast_[device_type].load(std::memory_order_relaxed));
  }
  // Device types (bit per DeviceType) where the op has a cast policy: zero for most ops, so a call of one
  // of them never reads the thread's autocast state.
  uint8_t autocast_devices() const { return autocast_devices_.load(std::memory_order_relaxed); }
  // No derivative row (autograd's table says so at import): with grad, its Composite kernel runs at once and
  // the ops inside record themselves, where a round trip through the autograd fallback decided the same.
  bool composite_under_autograd() const { return composite_under_autograd_.load(std::memory_order_relaxed); }

 private:
  friend class Dispatcher;
  Schema schema_;
  std::string name_;
  uint32_t flags_;
  int index_;
  bool mutates_;
  std::atomic<const KernelTable*> table_;
  std::atomic<uint8_t> autocast_[kNumDeviceTypes] = {};
  std::atomic<uint8_t> autocast_devices_{0};
  std::atomic<bool> composite_under_autograd_{false};
};

class Dispatcher {
 public:
  static Dispatcher& get();

  const OpEntry& op(std::string_view full_name) const;  // throws if unknown; resolve once and keep it
  const OpEntry* find(std::string_view full_name) const;
  std::vector<const OpEntry*> ops() const;
  const OpEntry& define(const std::string& schema, uint32_t flags);  // a new op (from Python's library API)

  // Publishes a new kernel table for `op`; returns the kernel it replaced so a caller can restore it.
  // Passing an empty KernelFunction removes the kernel.
  KernelFunction register_kernel(const OpEntry& op, DispatchKey key, KernelFunction k);
  // The kernel that handles Autograd for ops that have no Autograd kernel of their own.
  void set_autograd_fallback(KernelFunction k);
  const KernelFunction* autograd_fallback() const { return autograd_fallback_.load(std::memory_order_acquire); }
  // Sets the op's autocast policy on one device type (vibetensor.amp installs its table at import).
  void set_autocast_policy(const OpEntry& op, DeviceType device_type, CastPolicy policy);
  void set_composite_under_autograd(const OpEntry& op, bool on);

  // How many times the registration mutex was taken: tests check that calls leave it unchanged.
  uint64_t lock_count() const { return lock_count_.load(); }

 private:
  Dispatcher();
  OpEntry& add_op(Schema s, uint32_t flags);
  std::unique_lock<std::mutex> lock() const;

  mutable std::mutex mu_;
  mutable std::atomic<uint64_t> lock_count_{0};
  std::deque<OpEntry> ops_;  // stable addresses: handles point into it
  std::unordered_map<std::string, OpEntry*> by_name_;
  std::vector<std::unique_ptr<KernelTable>> tables_;  // every table ever published (see header comment)
  std::vector<std::unique_ptr<KernelFunction>> fallbacks_;
  std::atomic<const KernelFunction*> autograd_fallback_{nullptr};
};

// ---- thread-local dispatch state -----------------------------------------------------------------
struct LocalDispatchState {
  bool grad_enabled = true;
  bool below_autograd = false;  // set while an autograd kernel redispatches to the device kernel
  // vt.autocast: the device types (bit per DeviceType) whose ops cast their inputs now. Cleared while an
  // autocast kernel redispatches (the op's own inner calls keep the dtypes it chose) and during backward.
  uint8_t autocast = 0;
  DType autocast_dtype[kNumDeviceTypes] = {DType::BFloat16, DType::Float16};  // PyTorch's defaults
  bool autocast_cache = true;  // reuse casts of leaf weights within a region (see autocast.cpp)
};
LocalDispatchState& local_dispatch_state();

struct BelowAutogradGuard {
  LocalDispatchState& s = local_dispatch_state();
  bool prev = s.below_autograd;
  BelowAutogradGuard() { s.below_autograd = true; }
  ~BelowAutogradGuard() { s.below_autograd = prev; }
};
struct AutocastExcludeGuard {
  LocalDispatchState& s = local_dispatch_state();
  uint8_t prev = s.autocast;
  AutocastExcludeGuard() { s.autocast = 0; }
  ~AutocastExcludeGuard() { s.autocast = prev; }
};
struct GradModeGuard {
  LocalDispatchState& s = local_dispatch_state();
  bool prev = s.grad_enabled;
  explicit GradModeGuard(bool enabled) { s.grad_enabled = enabled; }
  ~GradModeGuard() { s.grad_enabled = prev; }
};

// ---- choosing a kernel ------------------------------------------------------------------------------
// What the arguments say about dispatch: whether autograd takes part and which device runs the op.
struct KeyScan {
  bool grad = false;
  int device = -1;           // device type of the first tensor that is not a wrapped Python number
  int explicit_device = -1;  // from a `Device?` argument (factories)
  void add(const Tensor& t) {
    if (!t.defined()) return;
    grad |= t.requires_grad();
    if (device < 0 && !t.is_wrapped_number()) device = int(t.device().type);
  }
  void add(const TensorList& l) { for (const Tensor& t : l) add(t); }
  void add(const std::optional<Device>& d) { if (d && explicit_device < 0) explicit_device = int(d->type); }
  void add(const Device& d) { if (explicit_device < 0) explicit_device = int(d.type); }
  void add(const IValue& v);
  template <class T> void add(const T&) {}
  DispatchKey device_key() const {
    return DispatchKey(device >= 0 ? device : explicit_device >= 0 ? explicit_device : 0);
  }
};

// In-place ops bump self's version before their kernel writes (autograd's saved-tensor check reads it).
template <class T, class... Rest> inline void bump_version_of(const T& first, const Rest&...) {
  if constexpr (std::is_same_v<bare_t<T>, Tensor>) first.impl()->bump_version();
}
inline void bump_version_of() {}

[[noreturn]] void throw_missing_kernel(const OpEntry& op, DispatchKey key);
// The kernel that casts an op's inputs by its autocast policy and calls the op again (autocast.cpp).
const KernelFunction& autocast_kernel();

inline const KernelFunction& resolve_kernel(const OpEntry& op, const KeyScan& scan) {
  const KernelTable* t = op.table();
  DispatchKey dk = scan.device_key();
  // Autocast comes first, as in PyTorch: the casts it makes are recorded by autograd like any other op. Only
  // calls of an op that has a cast policy on this device read the thread's autocast state.
  if (uint8_t ac = op.autocast_devices() & (1u << int(dk))) [[unlikely]]
    if (local_dispatch_state().autocast & ac) return autocast_kernel();
  const KernelFunction& dev = t->k[int(dk)];
  const KernelFunction& composite = t->k[int(DispatchKey::Composite)];
  if (scan.grad) {
    // Autograd decides per op: record it with its derivative, or (a composite without one) run it so that
    // the ops it is made of record themselves.
    const LocalDispatchState& s = local_dispatch_state();
    if (s.grad_enabled && !s.below_autograd) {
      if (const KernelFunction& a = t->k[int(DispatchKey::Autograd)]) return a;
      if (!dev && composite && op.composite_under_autograd()) return composite;
      if (const KernelFunction* fb = Dispatcher::get().autograd_fallback()) return *fb;
    }
  }
  if (dev) return dev;
  if (composite) return composite;
  throw_missing_kernel(op, dk);
}

// The boxed entry point: args on the stack in, results on the stack out.
void call_boxed(const OpEntry& op, Stack& stack);
// Redispatch past autograd (used by autograd kernels once they have recorded the graph).
void call_boxed_below_autograd(const OpEntry& op, Stack& stack);
// Runs the op's Composite kernel with autograd still on for the ops inside it.
void call_boxed_composite(const OpEntry& op, Stack& stack);

// ---- typed calls ------------------------------------------------------------------------------------
void check_signature(const Schema& s, const std::vector<std::pair<ArgType, bool>>& args,
                     const std::vector<ArgType>& rets, const char* where);
template <class T> struct ArgTraits;
template <class R> struct RetTraits;

template <class R, class... A>
std::vector<std::pair<ArgType, bool>> arg_types_of() {
  return {{ArgTraits<bare_t<A>>::type, ArgTraits<bare_t<A>>::optional}...};
}

template <class R, class... A, size_t... I>
void call_unboxed_from_stack(R (*fn)(A...), Stack& s, std::index_sequence<I...>) {
  if constexpr (std::is_void_v<R>) {
    fn(IValueConv<bare_t<A>>::unbox(s[I])...);
    s.clear();
  } else {
    R r = fn(IValueConv<bare_t<A>>::unbox(s[I])...);
    s.clear();
    ReturnConv<R>::push(s, std::move(r));
  }
}

template <class R, class... A>
void boxed_adapter(const OpEntry& op, Stack& s, const KernelFunction& k) {
  VT_CHECK(s.size() == sizeof...(A), op.name(), ": expected ", sizeof...(A), " arguments on the stack, got ",
           s.size());
  call_unboxed_from_stack(reinterpret_cast<R (*)(A...)>(k.unboxed), s, std::index_sequence_for<A...>{});
}

template <class R, class... A>
KernelFunction KernelFunction::from(R (*fn)(A...)) {
  KernelFunction k;
  k.boxed = &boxed_adapter<R, A...>;
  k.unboxed = reinterpret_cast<void*>(fn);
  k.signature = &typeid(R(A...));
  return k;
}

// A pre-resolved handle with a C++ signature: TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)>.
template <class Sig> class TypedOp;
template <class R, class... A>
class TypedOp<R(A...)> {
 public:
  explicit TypedOp(std::string_view name) : op_(&Dispatcher::get().op(name)) {
    check_signature(op_->schema(), arg_types_of<R, A...>(), RetTraits<R>::types(), "TypedOp");
  }
  R operator()(A... a) const {
    KeyScan scan;
    (scan.add(a), ...);
    const KernelFunction& k = resolve_kernel(*op_, scan);
    if (op_->mutates_self() && !k.redispatches) bump_version_of(a...);
    if (k.signature && *k.signature == typeid(R(A...)))
      return reinterpret_cast<R (*)(A...)>(k.unboxed)(std::forward<A>(a)...);
    Stack st;
    st.reserve(sizeof...(A));
    (st.push_back(IValueConv<bare_t<A>>::box(a)), ...);
    k.boxed(*op_, st, k);
    if constexpr (!std::is_void_v<R>) return ReturnConv<R>::pop(st);
  }
  const OpEntry& entry() const { return *op_; }

 private:
  const OpEntry* op_;
};

// ---- kernel registration from C++ files -----------------------------------------------------------
class KernelRegistry {
 public:
  explicit KernelRegistry(std::vector<DispatchKey> keys) : keys_(std::move(keys)) {}
  template <class R, class... A>
  KernelRegistry& impl(const char* name, R (*fn)(A...)) {
    const OpEntry& op = Dispatcher::get().op(name);
    check_signature(op.schema(), arg_types_of<R, A...>(), RetTraits<R>::types(), "kernel registration");
    for (DispatchKey k : keys_) Dispatcher::get().register_kernel(op, k, KernelFunction::from(fn));
    return *this;
  }

 private:
  std::vector<DispatchKey> keys_;
};
// Registration runs at load time; a failure is recorded (and raised at import) instead of aborting.
struct KernelRegistrar {
  KernelRegistrar(std::vector<DispatchKey> keys, void (*fn)(KernelRegistry&), const char* file);
};
std::vector<std::string> registration_errors();

#define VT_CONCAT_(a, b) a##b
#define VT_CONCAT(a, b) VT_CONCAT_(a, b)
#define VT_REGISTER_KERNELS_FOR(KEYS, m)                                                         \
  static void VT_CONCAT(vt_register_, __LINE__)(::vt::KernelRegistry&);                          \
  static ::vt::KernelRegistrar VT_CONCAT(vt_registrar_, __LINE__)(                               \
      KEYS, VT_CONCAT(vt_register_, __LINE__), __FILE__);                                        \
  static void VT_CONCAT(vt_register_, __LINE__)(::vt::KernelRegistry & m)
#define VT_REGISTER_KERNELS(KEY, m) VT_REGISTER_KERNELS_FOR({::vt::DispatchKey::KEY}, m)
// Kernels whose body handles both devices (the iterator is device-generic; the loop branches on device).
#define VT_REGISTER_KERNELS_ALL(m) \
  VT_REGISTER_KERNELS_FOR((std::vector<::vt::DispatchKey>{::vt::DispatchKey::CPU, ::vt::DispatchKey::CUDA}), m)

// ---- C++ type <-> schema type ------------------------------------------------------------------------
#define VT_ARG_TRAIT(T, AT, OPT) \
  template <> struct ArgTraits<T> { static constexpr ArgType type = ArgType::AT; static constexpr bool optional = OPT; };
VT_ARG_TRAIT(Tensor, Tensor, false)
VT_ARG_TRAIT(TensorList, TensorList, false)
VT_ARG_TRAIT(int64_t, Int, false)
VT_ARG_TRAIT(IntArrayRef, IntList, false)
VT_ARG_TRAIT(double, Float, false)
VT_ARG_TRAIT(bool, Bool, false)
VT_ARG_TRAIT(Scalar, Scalar, false)
VT_ARG_TRAIT(DType, DType, false)
VT_ARG_TRAIT(Device, Device, false)
VT_ARG_TRAIT(std::string_view, Str, false)
#undef VT_ARG_TRAIT
template <class T> struct ArgTraits<std::optional<T>> {
  static constexpr ArgType type = ArgTraits<T>::type;
  static constexpr bool optional = true;
};

template <> struct RetTraits<void> { static std::vector<ArgType> types() { return {}; } };
template <> struct RetTraits<Tensor> { static std::vector<ArgType> types() { return {ArgType::Tensor}; } };
template <> struct RetTraits<TensorList> { static std::vector<ArgType> types() { return {ArgType::TensorList}; } };
template <class... T> struct RetTraits<std::tuple<T...>> {
  static std::vector<ArgType> types() { return {ArgTraits<T>::type...}; }
};

}  // namespace vt
