// The dispatcher: typed and boxed calls, schema checks, and lock-free calls during registration.
#include <atomic>
#include <thread>

#include "check.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

using namespace vt;

namespace {
Tensor twice(const Tensor& t) {
  static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> add("add");
  return add(t, t, Scalar(int64_t(1)));
}
Tensor thrice(const Tensor& t) {
  static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> add("add");
  return add(twice(t), t, Scalar(int64_t(1)));
}
double first(const Tensor& t) { return item(select(t, 0, 0)).to_double(); }
}  // namespace

TEST(schema_parsing) {
  Schema s = parse_schema("max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)");
  CHECK(s.name == "max" && s.overload == "dim" && s.args.size() == 3 && s.rets.size() == 2);
  CHECK(s.args[2].has_default && std::get<bool>(s.args[2].default_value) == false);
  Schema w = parse_schema("add_(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)");
  CHECK(w.is_inplace() && w.args[2].kwarg_only);
  CHECK_THROWS(parse_schema("f(Tensor x -> Tensor"), ValueError);
  CHECK_THROWS(parse_schema("f(Blob x) -> Tensor"), ValueError);
}

TEST(signature_mismatch_is_rejected) {
  using Wrong = TypedOp<Tensor(const Tensor&, int64_t)>;
  CHECK_THROWS(Wrong("exp"), TypeError);
}

TEST(boxed_and_unboxed_agree) {
  Tensor x = empty(DimVec{3}, DType::Float32);
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  fill(x, wrap_number(Scalar(2.0)));
  Stack s{x, x, Scalar(int64_t(1))};
  call_boxed(Dispatcher::get().op("add"), s);
  CHECK(s.size() == 1 && first(std::get<Tensor>(s[0])) == 4.0);
  CHECK(first(twice(x)) == 4.0);
}

TEST(override_is_seen_by_next_call_and_calls_take_no_lock) {
  Tensor x = empty(DimVec{4}, DType::Float32);
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  fill(x, wrap_number(Scalar(1.0)));
  const OpEntry& exp = Dispatcher::get().op("exp");
  static TypedOp<Tensor(const Tensor&)> exp_op("exp");
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, calls{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; i++)
    threads.emplace_back([&] {
      while (!stop.load()) {
        double v = first(exp_op(x));
        if (!(std::abs(v - 2.718281828) < 1e-5 || v == 2.0 || v == 3.0)) bad++;
        calls++;
      }
    });
  // On a loaded machine the callers may not have run yet: make sure they call during the re-registrations.
  while (calls.load() < 3) std::this_thread::yield();
  for (int i = 0; i < 300; i++) {
    KernelFunction old = Dispatcher::get().register_kernel(exp, DispatchKey::CPU, KernelFunction::from(&twice));
    Dispatcher::get().register_kernel(exp, DispatchKey::CPU, KernelFunction::from(&thrice));
    Dispatcher::get().register_kernel(exp, DispatchKey::CPU, old);
  }
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(bad.load() == 0);
  // Registration takes the lock; calls never do.
  uint64_t before = Dispatcher::get().lock_count();
  for (int i = 0; i < 1000; i++) exp_op(x);
  CHECK(Dispatcher::get().lock_count() == before);
  KernelFunction old = Dispatcher::get().register_kernel(exp, DispatchKey::CPU, KernelFunction::from(&twice));
  CHECK(first(exp_op(x)) == 2.0);  // the very next call sees the override
  Dispatcher::get().register_kernel(exp, DispatchKey::CPU, old);
  CHECK(std::abs(first(exp_op(x)) - 2.718281828) < 1e-5);
}

// Autocast in the core alone (no Python): a policy casts only while the thread's state is on for the device,
// on the typed and the boxed path, leaves float64 alone, and takes no lock.
TEST(autocast_casts_by_policy_while_on) {
  Dispatcher& d = Dispatcher::get();
  const OpEntry &mm_op = d.op("mm"), &sum_op = d.op("sum");
  d.set_autocast_policy(mm_op, DeviceType::CPU, CastPolicy::LowerPrecisionFp);
  d.set_autocast_policy(sum_op, DeviceType::CPU, CastPolicy::Fp32SetOptDtype);
  static TypedOp<Tensor(const Tensor&, const Tensor&)> mm("mm"), fill("fill_");
  static TypedOp<Tensor(const Tensor&, std::optional<DType>, std::optional<Device>, bool)> to("_to_copy");
  Tensor a = empty(DimVec{2, 2}, DType::Float32);
  fill(a, wrap_number(Scalar(1.5)));
  Tensor half = to(a, DType::BFloat16, std::nullopt, false), wide = to(a, DType::Float64, std::nullopt, false);
  CHECK(mm(a, a).dtype() == DType::Float32);
  auto run = [&] {  // typed and boxed calls, a dtype policy, float64 inputs
    local_dispatch_state().autocast = 1u << int(DeviceType::CPU);
    Stack boxed{a, a}, sum{half, None{}, false, None{}};
    Tensor low = mm(a, a);
    call_boxed(mm_op, boxed);
    call_boxed(sum_op, sum);
    Tensor kept = mm(wide, wide);
    local_dispatch_state().autocast = 0;
    CHECK(low.dtype() == DType::BFloat16 && first(select(low, 0, 0)) == 4.5);
    CHECK(std::get<Tensor>(boxed[0]).dtype() == DType::BFloat16);
    CHECK(std::get<Tensor>(sum[0]).dtype() == DType::Float32 && item(std::get<Tensor>(sum[0])).to_double() == 6.0);
    CHECK(kept.dtype() == DType::Float64);
  };
  run();  // first calls resolve their handles (the lock, once each); from then on no call takes it
  uint64_t locks = d.lock_count();
  run();
  CHECK(d.lock_count() == locks);
  CHECK(mm(a, a).dtype() == DType::Float32);
  CHECK_THROWS(d.set_autocast_policy(d.op("exp"), DeviceType::CPU, CastPolicy::Fp32SetOptDtype), ValueError);
  d.set_autocast_policy(mm_op, DeviceType::CPU, CastPolicy::None);
  d.set_autocast_policy(sum_op, DeviceType::CPU, CastPolicy::None);
  CHECK(mm_op.autocast_devices() == 0);
}

TEST(no_registration_errors) { CHECK(registration_errors().empty()); }
