// The dispatcher under concurrent registration and calls: callers (typed and boxed, on built-in ops and on ops
// being defined right now) race registrars that replace kernels, define new ops, look ops up by name and list
// the table. Every call must see one whole kernel, every op defined must be callable with its own kernel, and
// the table must end as it began for the built-in ops.
//
// .ci/run also runs it under ThreadSanitizer (a second build of the core with -fsanitize=thread, this target
// and test_parallel_stress only): TSan reports races the plain run cannot see.
#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

using namespace vt;

namespace {
constexpr int kDefined = 40;  // new ops a registrar defines while the callers run

double first(const Tensor& t) { return item(select(t, 0, 0)).to_double(); }
Tensor copied(const Tensor& t) {
  static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> add("add");
  return add(t, t, Scalar(int64_t(0)));  // t + 0 * t: a copy through the dispatcher
}
Tensor doubled(const Tensor& t) {
  static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> add("add");
  return add(t, t, Scalar(int64_t(1)));
}
Tensor ones_like_first(const Tensor& t) {
  Tensor x = empty(DimVec{t.sizes()[0]}, DType::Float32);
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  fill(x, wrap_number(Scalar(1.0)));
  return x;
}
}  // namespace

TEST(concurrent_registration_definition_and_calls) {
  Dispatcher& d = Dispatcher::get();
  Tensor x = empty(DimVec{8}, DType::Float32);
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  fill(x, wrap_number(Scalar(3.0)));
  const OpEntry& exp = d.op("exp");
  const OpEntry& neg = d.op("neg");
  static TypedOp<Tensor(const Tensor&)> exp_op("exp");
  size_t ops_before = d.ops().size();

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, calls{0}, defined{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++)
    threads.emplace_back([&, i] {
      while (!stop.load()) {
        double v = first(exp_op(x));  // native exp(3), or an override: 3 + 0 * 3 or 3 + 3
        if (!(std::abs(v - std::exp(3.0)) < 1e-4 || v == 3.0 || v == 6.0)) bad++;
        Stack s{x};
        call_boxed(neg, s);  // boxed path on an op whose table the registrar also republishes
        if (first(std::get<Tensor>(s[0])) != -3.0) bad++;
        int n = defined.load();
        if (n > 0) {  // an op defined moments ago, by name: found, with its kernel
          const OpEntry* op = d.find("stress::op" + std::to_string((i * 7 + calls.load()) % n));
          if (!op) { bad++; continue; }
          Stack t{x};
          call_boxed(*op, t);
          if (first(std::get<Tensor>(t[0])) != 1.0) bad++;
        }
        calls++;
      }
    });
  while (calls.load() < 4) std::this_thread::yield();  // the callers are running before anything changes

  std::thread definer([&] {
    for (int k = 0; k < kDefined; k++) {
      const OpEntry& op = d.define("stress::op" + std::to_string(k) + "(Tensor x) -> Tensor", kFunction);
      d.register_kernel(op, DispatchKey::CPU, KernelFunction::from(&ones_like_first));
      defined.store(k + 1);
      if (d.ops().size() < ops_before + k + 1) bad++;  // listing the table while others read it
    }
  });
  for (int round = 0; round < 300; round++) {
    KernelFunction old = d.register_kernel(exp, DispatchKey::CPU, KernelFunction::from(&copied));
    d.register_kernel(exp, DispatchKey::CPU, KernelFunction::from(&doubled));
    d.register_kernel(exp, DispatchKey::CPU, old);
    KernelFunction same = d.register_kernel(neg, DispatchKey::CPU, d.op("neg").table()->k[int(DispatchKey::CPU)]);
    (void)same;
  }
  definer.join();
  while (calls.load() < 200) std::this_thread::yield();
  stop = true;
  for (auto& t : threads) t.join();

  CHECK(bad.load() == 0);
  CHECK(d.ops().size() == ops_before + kDefined);
  CHECK(std::abs(first(exp_op(x)) - std::exp(3.0)) < 1e-4);  // the built-in kernel is back
  CHECK_THROWS(d.define("stress::op0(Tensor x) -> Tensor", kFunction), ValueError);  // and no duplicates
}
