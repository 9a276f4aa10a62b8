// Ops by name from JS: callOp(name, args, kwargs, sync) parses against the op table's schemas and runs
// the op through the boxed dispatcher path, inline when small, else as a Job on the thread pool.
#include "node/bindings.h"

#include "cpu/generator.h"
#include "node/args.h"
#include "node/cuda_context.h"
#include "node/state.h"

namespace vt::node {

namespace {

struct OpJob : Job {
  const OpEntry* op = nullptr;
  Stack stack;
  CudaContext ctx;
  napi_ref self = nullptr;  // kept alive so an in-place op resolves to the object it was called on
  void execute() override {
    CudaContextGuard g(ctx);
    call_boxed(*op, stack);
  }
  napi_value result(napi_env env) override {
    napi_value s = nullptr;
    if (self) check(napi_get_reference_value(env, self, &s));
    return results_to_js(env, *op, stack, s);
  }
  void release(napi_env env) override {
    if (self) napi_delete_reference(env, self);
    self = nullptr;
  }
};

constexpr int64_t kUnbounded = INT64_MAX;

// What a call will touch, decided before it runs: elements of its tensors (the output of a factory, from
// its `size`), and the first GPU it names. Factories without a `size` (arange, linspace, eye, randperm)
// count as unbounded: their size is a function of scalars, so they always go to the pool.
struct CallCost {
  int64_t elements = 0;
  int cuda_device = -2;  // -2: none; -1: "cuda" (the current device); >= 0: that device
};

CallCost cost_of(const OpEntry& op, const Stack& stack) {
  CallCost c;
  auto add = [&](const Tensor& t) {
    if (!t.defined()) return;
    if (c.elements < kUnbounded) c.elements += t.numel();
    if (t.device().is_cuda() && c.cuda_device == -2) c.cuda_device = t.device().index;
  };
  const Schema& s = op.schema();
  for (size_t i = 0; i < stack.size(); i++) {
    const IValue& v = stack[i];
    if (auto* t = std::get_if<Tensor>(&v)) add(*t);
    else if (auto* l = std::get_if<TensorList>(&v)) for (const Tensor& t : *l) add(t);
    else if (auto* d = std::get_if<Device>(&v); d && d->is_cuda() && c.cuda_device == -2) c.cuda_device = d->index;
  }
  if (op.flags() & kFactory) {
    int idx = s.find_arg("size");
    if (idx >= 0 && std::holds_alternative<IntList>(stack[size_t(idx)])) c.elements = numel_of(std::get<IntList>(stack[size_t(idx)]));
    else c.elements = kUnbounded;
  }
  return c;
}

// callOp(name, argsArray, kwargs | undefined, sync): a Promise; with sync, the value itself (or a throw).
napi_value call_op(napi_env env, napi_callback_info info) {
  CallInfo ci(env, info);
  bool sync = ci.size() > 3 && type_of(env, ci.args[3]) == napi_boolean && get_bool(env, ci.args[3]);
  // Bad arguments reject the Promise (async) or throw (sync), like errors from inside the op.
  auto fail = [&](const CapturedError& e) -> napi_value {
    if (sync) { napi_throw(env, make_error(env, e)); return nullptr; }
    return Scheduler::rejected(env, e);
  };
  std::unique_ptr<OpJob> job;
  std::string name;
  bool run_inline = false;
  try {
    name = get_string(env, ci.arg(0));
    VT_CHECK_TYPE(is_array(env, ci.arg(1)), "callOp: expected an array of arguments");
    std::vector<napi_value> args(array_length(env, ci.args[1]));
    for (uint32_t i = 0; i < args.size(); i++) args[i] = element(env, ci.args[1], i);
    napi_value kwargs = nullptr;
    if (ci.size() > 2 && !is_nullish(env, ci.args[2])) kwargs = ci.args[2];

    ParsedCall call = parse_call(env, overloads(name), args, kwargs);
    CallCost cost = cost_of(*call.op, call.stack);
    int64_t limit = state(env).inline_max_elements;
    run_inline = cost.cuda_device == -2 && cost.elements <= limit;
    if (sync) {
      VT_CHECK_VALUE(cost.cuda_device == -2, "opsSync.", name,
                     "(): GPU work never runs on the event loop; use `await ops.", name, "(...)`");
      VT_CHECK_VALUE(run_inline, "opsSync.", name, "(): ",
                     cost.elements == kUnbounded ? std::string("a factory without a size") : std::to_string(cost.elements) + " elements",
                     " is above the inline limit of ", limit, " elements (VBT_NODE_INLINE_MAX_ELEMENTS); use `await ops.",
                     name, "(...)`");
      VT_CHECK_VALUE(!(call.op->flags() & kRandom) || !state(env).scheduler.random_pending(), "opsSync.", name,
                     "(): random ops issued earlier are still running; await them first, so the draws keep their order");
    }
    job = std::make_unique<OpJob>();
    job->op = call.op;
    job->stack = std::move(call.stack);
    job->random = call.op->flags() & kRandom;
    if (cost.cuda_device != -2) job->ctx = CudaContext::capture(cost.cuda_device);
    if (call.self && call.op->mutates_self()) check(napi_create_reference(env, call.self, 1, &job->self));
  } catch (const NapiFailure&) {
    return nullptr;  // a JS exception is pending
  } catch (...) {
    return fail(capture_current_exception());
  }
  if (!sync) return guarded(env, [&] { return state(env).scheduler.submit(env, std::move(job), run_inline); });
  return guarded(env, [&] {
    try {
      job->execute();
      napi_value r = job->result(env);
      job->release(env);
      return r;
    } catch (...) {
      job->release(env);
      throw;
    }
  });
}

napi_value op_table(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    std::vector<const OpEntry*> ops = Dispatcher::get().ops();
    napi_value out = make_array(env, ops.size());
    for (uint32_t i = 0; i < ops.size(); i++) {
      const OpEntry& op = *ops[i];
      napi_value d = make_object(env);
      set(env, d, "name", make_string(env, op.name()));
      set(env, d, "base", make_string(env, op.schema().name));
      set(env, d, "schema", make_string(env, op.schema().text));
      set(env, d, "function", make_bool(env, op.flags() & kFunction));
      set(env, d, "method", make_bool(env, op.flags() & kMethod));
      set(env, d, "factory", make_bool(env, op.flags() & kFactory));
      set(env, d, "random", make_bool(env, op.flags() & kRandom));
      set(env, d, "inplace", make_bool(env, op.schema().is_inplace()));
      set(env, d, "view", make_bool(env, op.schema().is_view()));
      napi_value args = make_array(env);
      uint32_t k = 0;
      for (const Arg& a : op.schema().args) set_index(env, args, k++, make_string(env, a.name));
      set(env, d, "args", args);
      napi_value keys = make_array(env);
      const KernelTable* t = op.table();
      k = 0;
      for (int key = 0; key < kNumDispatchKeys; key++)
        if (t->k[key]) set_index(env, keys, k++, make_string(env, key_name(DispatchKey(key))));
      set(env, d, "kernels", keys);
      set_index(env, out, i, d);
    }
    return out;
  });
}

// configure({maxInflight, inlineMaxElements}): js/lib/config.js passes the environment's values here.
napi_value configure(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    CallInfo ci(env, info);
    napi_value o = ci.arg(0);
    VT_CHECK_TYPE(type_of(env, o) == napi_object, "configure: expected an object");
    int64_t v;
    napi_value m = property(env, o, "maxInflight");
    if (!is_nullish(env, m)) {
      VT_CHECK_TYPE(get_int(env, m, v), "configure: maxInflight must be an integer");
      state(env).scheduler.set_max_inflight(env, v);
    }
    napi_value e = property(env, o, "inlineMaxElements");
    if (!is_nullish(env, e)) {
      VT_CHECK_TYPE(get_int(env, e, v) && v >= 0, "configure: inlineMaxElements must be an integer >= 0");
      state(env).inline_max_elements = v;
    }
    return undefined(env);
  });
}

napi_value inflight(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    const InflightStats& s = state(env).scheduler.stats();
    napi_value o = make_object(env);
    set(env, o, "current", make_int(env, s.current));
    set(env, o, "peak", make_int(env, s.peak));
    set(env, o, "queued", make_int(env, s.queued));
    set(env, o, "max", make_int(env, s.max));
    set(env, o, "completed", make_int(env, int64_t(s.completed)));
    set(env, o, "inlineMaxElements", make_int(env, state(env).inline_max_elements));
    return o;
  });
}

napi_value reset_peak(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    state(env).scheduler.reset_peak();
    return undefined(env);
  });
}

// manualSeed(seed): seeds every device's default generator, like vt.manual_seed / torch.manual_seed.
napi_value manual_seed(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    CallInfo ci(env, info);
    napi_value v = ci.arg(0);
    uint64_t seed = 0;
    bool lossless = true;
    if (type_of(env, v) == napi_bigint) {
      check(napi_get_value_bigint_uint64(env, v, &seed, &lossless));  // negative BigInts wrap, like torch
    } else {
      int64_t i;
      VT_CHECK_TYPE(get_int(env, v, i), "manualSeed: expected an integer seed, got ", js_type_name(env, v));
      seed = uint64_t(i);
    }
    manual_seed_all(seed);
    return undefined(env);
  });
}

napi_value initial_seed(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value r;
    check(napi_create_bigint_uint64(env, default_generator(Device())->initial_seed(), &r));
    return r;
  });
}

}  // namespace

void bind_ops(napi_env env, napi_value exports) {
  add_function(env, exports, "callOp", &call_op);
  add_function(env, exports, "opTable", &op_table);
  add_function(env, exports, "configure", &configure);
  add_function(env, exports, "inflight", &inflight);
  add_function(env, exports, "resetPeakInflight", &reset_peak);
  add_function(env, exports, "manualSeed", &manual_seed);
  add_function(env, exports, "initialSeed", &initial_seed);
}

}  // namespace vt::node
