#include "dispatch/dispatcher.h"

#include "dispatch/op_table.h"

namespace vt {

const char* key_name(DispatchKey k) {
  static const char* n[] = {"cpu", "cuda", "composite", "autograd"};
  return n[int(k)];
}

bool parse_key(std::string_view s, DispatchKey& out) {
  for (int i = 0; i < kNumDispatchKeys; i++)
    if (s == key_name(DispatchKey(i))) { out = DispatchKey(i); return true; }
  return false;
}

LocalDispatchState& local_dispatch_state() {
  thread_local LocalDispatchState s;
  return s;
}

OpEntry::OpEntry(Schema s, uint32_t flags, int index)
    : schema_(std::move(s)), name_(schema_.full_name()), flags_(flags), index_(index),
      mutates_(schema_.is_inplace()), table_(nullptr) {}

namespace {

// `add(Tensor self, ...) -> Tensor` becomes `add_(Tensor(a!) self, ...) -> Tensor(a!)`.
Schema inplace_schema(const Schema& s) {
  Schema r = s;
  r.name += "_";
  VT_CHECK(!r.args.empty() && r.args[0].type == ArgType::Tensor, "in-place variant of ", s.name,
           " needs a Tensor first argument");
  r.args[0].alias = 'a';
  r.args[0].is_write = true;
  r.rets = {Ret{"", ArgType::Tensor, 'a'}};
  r.text = "(in-place variant of) " + s.text;
  return r;
}

}  // namespace

Dispatcher::Dispatcher() {
  constexpr uint32_t F = kFunction, M = kMethod, D = kDifferentiable, I = kInplaceVariant, FAC = kFactory,
                     RNG = kRandom;
  (void)F; (void)M; (void)D; (void)I; (void)FAC; (void)RNG;
#define VT_DECLARE_OP(schema, flags) add_op(parse_schema(schema), flags);
  VT_OP_TABLE(VT_DECLARE_OP)
#define VT_DECLARE_UNARY_FLOAT(name) add_op(parse_schema(#name "(Tensor self) -> Tensor"), F | M | D | I);
  VT_UNARY_FLOAT_OPS(VT_DECLARE_UNARY_FLOAT)
#undef VT_DECLARE_UNARY_FLOAT
#undef VT_DECLARE_OP
}

Dispatcher& Dispatcher::get() {
  static Dispatcher* d = new Dispatcher();  // leaked: kernels may run during interpreter shutdown
  return *d;
}

std::unique_lock<std::mutex> Dispatcher::lock() const {
  lock_count_.fetch_add(1, std::memory_order_relaxed);
  return std::unique_lock<std::mutex>(mu_);
}

OpEntry& Dispatcher::add_op(Schema s, uint32_t flags) {
  std::string name = s.full_name();
  VT_CHECK_VALUE(!by_name_.count(name), "op '", name, "' is already defined");
  bool inplace = flags & kInplaceVariant;
  ops_.emplace_back(s, flags & ~kInplaceVariant, int(ops_.size()));
  OpEntry& e = ops_.back();
  tables_.push_back(std::make_unique<KernelTable>());
  e.table_.store(tables_.back().get(), std::memory_order_release);
  by_name_[name] = &e;
  if (inplace) add_op(inplace_schema(s), (flags & (kDifferentiable | kRandom)) | kMethod);
  return e;
}

const OpEntry* Dispatcher::find(std::string_view name) const {
  auto g = lock();
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

const OpEntry& Dispatcher::op(std::string_view name) const {
  const OpEntry* e = find(name);
  VT_CHECK_VALUE(e, "unknown op '", name, "'");
  return *e;
}

std::vector<const OpEntry*> Dispatcher::ops() const {
  auto g = lock();
  std::vector<const OpEntry*> out;
  for (const OpEntry& e : ops_) out.push_back(&e);
  return out;
}

const OpEntry& Dispatcher::define(const std::string& schema, uint32_t flags) {
  Schema s = parse_schema(schema);
  auto g = lock();
  return add_op(std::move(s), flags);
}

KernelFunction Dispatcher::register_kernel(const OpEntry& op, DispatchKey key, KernelFunction k) {
  auto g = lock();
  OpEntry& e = const_cast<OpEntry&>(op);
  auto next = std::make_unique<KernelTable>(*e.table_.load(std::memory_order_relaxed));
  k.redispatches = key == DispatchKey::Autograd;
  KernelFunction old = std::move(next->k[int(key)]);
  next->k[int(key)] = std::move(k);
  e.table_.store(next.get(), std::memory_order_release);
  tables_.push_back(std::move(next));
  return old;
}

void Dispatcher::set_autograd_fallback(KernelFunction k) {
  auto g = lock();
  if (!k) {
    autograd_fallback_.store(nullptr, std::memory_order_release);
    return;
  }
  k.redispatches = true;
  fallbacks_.push_back(std::make_unique<KernelFunction>(std::move(k)));
  autograd_fallback_.store(fallbacks_.back().get(), std::memory_order_release);
}

void Dispatcher::set_composite_under_autograd(const OpEntry& op, bool on) {
  const_cast<OpEntry&>(op).composite_under_autograd_.store(on, std::memory_order_relaxed);
}

void Dispatcher::set_autocast_policy(const OpEntry& op, DeviceType device_type, CastPolicy policy) {
  if (policy == CastPolicy::Fp32SetOptDtype)
    VT_CHECK_VALUE(op.schema().find_arg("dtype") >= 0, "autocast policy fp32_set_opt_dtype for '", op.name(),
                   "': the op has no dtype argument");
  auto g = lock();
  OpEntry& e = const_cast<OpEntry&>(op);
  int d = int(device_type);
  e.autocast_[d].store(uint8_t(policy), std::memory_order_relaxed);
  uint8_t bits = e.autocast_devices_.load(std::memory_order_relaxed);
  bits = policy == CastPolicy::None ? bits & ~(1u << d) : bits | (1u << d);
  e.autocast_devices_.store(bits, std::memory_order_relaxed);
}

// ---- calls --------------------------------------------------------------------------------------------
void KeyScan::add(const IValue& v) {
  if (auto* t = std::get_if<Tensor>(&v)) add(*t);
  else if (auto* l = std::get_if<TensorList>(&v)) add(*l);
  else if (auto* d = std::get_if<Device>(&v)) add(*d);
}

void throw_missing_kernel(const OpEntry& op, DispatchKey key) {
  VT_THROW(NotImplementedError, "op '", op.name(), "' has no kernel for ", key_name(key),
           (key == DispatchKey::CUDA ? " (the CUDA backend does not implement it yet)" : ""));
}

void call_boxed(const OpEntry& op, Stack& stack) {
  KeyScan scan;
  for (const IValue& v : stack) scan.add(v);
  const KernelFunction& k = resolve_kernel(op, scan);
  if (op.mutates_self() && !k.redispatches) std::get<Tensor>(stack[0]).impl()->bump_version();
  k.boxed(op, stack, k);
}

void call_boxed_below_autograd(const OpEntry& op, Stack& stack) {
  BelowAutogradGuard g;
  call_boxed(op, stack);
}

void call_boxed_composite(const OpEntry& op, Stack& stack) {
  const KernelFunction& k = op.table()->k[int(DispatchKey::Composite)];
  if (!k) throw_missing_kernel(op, DispatchKey::Composite);
  if (op.mutates_self()) std::get<Tensor>(stack[0]).impl()->bump_version();
  k.boxed(op, stack, k);
}

void check_signature(const Schema& s, const std::vector<std::pair<ArgType, bool>>& args,
                     const std::vector<ArgType>& rets, const char* where) {
  auto fail = [&](const std::string& why) {
    VT_THROW(TypeError, where, " for '", s.full_name(), "': C++ signature does not match schema '", s.text,
             "': ", why);
  };
  if (args.size() != s.args.size())
    fail("takes " + std::to_string(args.size()) + " arguments, schema has " + std::to_string(s.args.size()));
  for (size_t i = 0; i < args.size(); i++) {
    const Arg& a = s.args[i];
    ArgType want = a.type == ArgType::OptTensorList ? ArgType::TensorList : a.type;
    bool opt_ok = a.type == ArgType::Tensor || args[i].second == a.optional;  // Tensor? is an undefined Tensor
    if (args[i].first != want || !opt_ok)
      fail(std::string("argument '") + a.name + "' is " + arg_type_name(args[i].first) +
           (args[i].second ? "?" : "") + ", schema says " + arg_type_name(a.type) + (a.optional ? "?" : ""));
  }
  if (rets.size() != s.rets.size()) fail("wrong number of results");
  for (size_t i = 0; i < rets.size(); i++)
    if (rets[i] != s.rets[i].type) fail("result " + std::to_string(i) + " has the wrong type");
}

namespace {
std::mutex g_reg_err_mu;
std::vector<std::string>& reg_errors() {
  static std::vector<std::string> e;
  return e;
}
}  // namespace

KernelRegistrar::KernelRegistrar(std::vector<DispatchKey> keys, void (*fn)(KernelRegistry&), const char* file) {
  try {
    KernelRegistry r(std::move(keys));
    fn(r);
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> g(g_reg_err_mu);
    reg_errors().push_back(std::string(file) + ": " + e.what());
  }
}

std::vector<std::string> registration_errors() {
  std::lock_guard<std::mutex> g(g_reg_err_mu);
  return reg_errors();
}

}  // namespace vt
