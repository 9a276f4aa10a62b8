#include "node/tensor.h"

#include <cstring>

#include "dispatch/dispatcher.h"
#include "node/cuda_context.h"
#include "node/state.h"
#include "node/work.h"
#include "ops/views.h"

namespace vt::node {

namespace {

int64_t tensor_bytes(const Tensor& t) { return t.numel() * int64_t(t.itemsize()); }

// new Tensor(external): only the addon makes tensors; from JS, vt.tensor()/vt.zeros() and the ops do.
napi_value construct(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo ci(env, info);
    VT_CHECK_TYPE(ci.size() == 1 && type_of(env, ci.args[0]) == napi_external,
                  "Tensor cannot be constructed directly: use vt.tensor(typedArray, {shape}) or a factory");
    void* p = nullptr;
    check(napi_get_value_external(env, ci.args[0], &p));
    auto* t = static_cast<Tensor*>(p);
    check(napi_wrap(env, ci.self, t, [](napi_env e, void* data, void*) {
      auto* held = static_cast<Tensor*>(data);
      int64_t ignored;
      // V8 was told about the tensor's memory (below) so that it collects garbage under tensor pressure.
      napi_adjust_external_memory(e, -tensor_bytes(*held), &ignored);
      delete held;
    }, nullptr, nullptr));
    int64_t ignored;
    napi_adjust_external_memory(env, tensor_bytes(*t), &ignored);
    return ci.self;
  });
}

const Tensor& self_tensor(napi_env env, napi_callback_info info) {
  CallInfo ci(env, info);
  const Tensor* t = unwrap_tensor(env, ci.self);
  VT_CHECK_TYPE(t, "expected a Tensor as `this`");
  return *t;
}

template <class F>
napi_property_descriptor getter(const char* name, F) {
  napi_callback cb = [](napi_env env, napi_callback_info info) -> napi_value {
    return guarded(env, [&] { return F{}(env, self_tensor(env, info)); });
  };
  return {name, nullptr, nullptr, cb, nullptr, nullptr, napi_enumerable, nullptr};
}

// ---- typed arrays in ---------------------------------------------------------------------------------
bool dtype_of_typedarray(napi_typedarray_type t, DType& out) {
  switch (t) {
    case napi_int8_array: out = DType::Int8; return true;
    case napi_uint8_array: case napi_uint8_clamped_array: out = DType::UInt8; return true;
    case napi_int16_array: out = DType::Int16; return true;
    case napi_int32_array: out = DType::Int32; return true;
    case napi_float32_array: out = DType::Float32; return true;
    case napi_float64_array: out = DType::Float64; return true;
    case napi_bigint64_array: out = DType::Int64; return true;
    default: return false;  // uint16, uint32, biguint64: no dtype holds them
  }
}

// fromTypedArray(array, shape?, dtype?): a new CPU tensor holding a copy of the array's elements. A
// memcpy at memory speed, so it runs inline; `dtype` (e.g. "bool" from a Uint8Array) reinterprets
// nothing: the values are converted through the core's copy.
napi_value from_typed_array(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    CallInfo ci(env, info);
    VT_CHECK_TYPE(ci.size() >= 1 && is_typedarray(env, ci.args[0]), "tensor(): expected a typed array, got ",
                  js_type_name(env, ci.arg(0)));
    napi_typedarray_type type;
    size_t length = 0, byte_offset = 0;
    void* data = nullptr;
    napi_value buffer;
    check(napi_get_typedarray_info(env, ci.args[0], &type, &length, &data, &buffer, &byte_offset));
    DType dt;
    VT_CHECK_TYPE(dtype_of_typedarray(type, dt), "tensor(): ", js_type_name(env, ci.args[0]),
                  " has no matching dtype (use Int32Array, Float32Array, BigInt64Array, ...)");
    DimVec shape{int64_t(length)};
    if (!is_nullish(env, ci.arg(1))) {
      VT_CHECK_TYPE(is_array(env, ci.args[1]), "tensor(): shape must be an array of integers");
      shape.resize(0);
      for (uint32_t i = 0, n = array_length(env, ci.args[1]); i < n; i++) {
        int64_t v;
        VT_CHECK_TYPE(get_int(env, element(env, ci.args[1], i), v), "tensor(): shape must be an array of integers");
        shape.push_back(v);
      }
    }
    int64_t numel = numel_of(shape);
    VT_CHECK_VALUE(numel == int64_t(length), "tensor(): shape ", shape_str(shape), " holds ", numel,
                   " elements but the array has ", length);
    Tensor t = empty(shape, dt);
    if (length) std::memcpy(t.data(), data, length * itemsize(dt));
    if (!is_nullish(env, ci.arg(2))) {
      DType want;
      std::string name = get_string(env, ci.args[2]);
      VT_CHECK_TYPE(parse_dtype(name, want), "tensor(): unknown dtype '", name, "'");
      t = to_dtype(t, want);
    }
    return wrap_tensor(env, std::move(t));
  });
}

// ---- typed arrays out --------------------------------------------------------------------------------
// JS has no float16/bfloat16 arrays (Node 20): those come out as float32; bool comes out as 0/1 bytes.
DType host_dtype_for(DType d) { return d == DType::Float16 || d == DType::BFloat16 ? DType::Float32 : d; }

napi_typedarray_type typedarray_type_for(DType d) {
  switch (d) {
    case DType::Bool: case DType::UInt8: return napi_uint8_array;
    case DType::Int8: return napi_int8_array;
    case DType::Int16: return napi_int16_array;
    case DType::Int32: return napi_int32_array;
    case DType::Int64: return napi_bigint64_array;
    case DType::Float64: return napi_float64_array;
    default: return napi_float32_array;
  }
}

// Always a fresh contiguous CPU copy, so the array never aliases the tensor (writes to one do not show
// in the other) and a later in-place op cannot change an array already handed out.
struct ToTypedArrayJob : Job {
  Tensor src, out;
  CudaContext ctx;
  void execute() override {
    CudaContextGuard g(ctx);
    static TypedOp<Tensor(const Tensor&, std::optional<DType>, std::optional<Device>, bool)> to_copy("_to_copy");
    out = to_copy(src, host_dtype_for(src.dtype()), Device(), false);
    if (!out.is_contiguous()) out = contiguous(out);
  }
  napi_value result(napi_env env) override {
    size_t nbytes = size_t(out.numel()) * out.itemsize();
    napi_value ab;
    void* data = out.data();
    auto* keep = new Tensor(out);  // the buffer borrows the tensor's memory until V8 frees the buffer
    napi_status s = nbytes ? napi_create_external_arraybuffer(
                                 env, data, nbytes, [](napi_env, void*, void* hint) { delete static_cast<Tensor*>(hint); },
                                 keep, &ab)
                           : napi_generic_failure;
    if (s != napi_ok) {  // empty, or a runtime that forbids external buffers: copy instead
      delete keep;
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) { napi_value ignored; napi_get_and_clear_last_exception(env, &ignored); }
      void* dst = nullptr;
      check(napi_create_arraybuffer(env, nbytes, &dst, &ab));
      if (nbytes) std::memcpy(dst, data, nbytes);
    }
    napi_value arr;
    check(napi_create_typedarray(env, typedarray_type_for(out.dtype()), size_t(out.numel()), ab, 0, &arr));
    return arr;
  }
};

struct ItemJob : Job {
  Tensor src;
  CudaContext ctx;
  Scalar value;
  void execute() override {
    CudaContextGuard g(ctx);
    VT_CHECK_VALUE(src.numel() == 1, "item(): a Tensor with ", src.numel(),
                   " elements cannot be converted to a number (it needs exactly one)");
    value = host_item(src);
  }
  napi_value result(napi_env env) override {
    if (value.is_bool()) return make_bool(env, value.to<bool>());
    if (value.is_int()) return make_int(env, value.to_int());
    return make_double(env, value.to_double());
  }
};

template <class J>
napi_value submit_read(napi_env env, napi_callback_info info) {
  return promise_guarded(env, [&] {
    auto job = std::make_unique<J>();
    job->src = self_tensor(env, info);
    bool on_gpu = job->src.device().is_cuda();
    if (on_gpu) job->ctx = CudaContext::capture(job->src.device().index);
    bool small = !on_gpu && job->src.numel() <= state(env).inline_max_elements;
    return state(env).scheduler.submit(env, std::move(job), small);
  });
}

}  // namespace

napi_value wrap_tensor(napi_env env, Tensor t) {
  napi_value ctor, ext, obj;
  check(napi_get_reference_value(env, state(env).tensor_ctor, &ctor));
  auto* held = new Tensor(std::move(t));
  napi_status s = napi_create_external(env, held, nullptr, nullptr, &ext);
  if (s == napi_ok) s = napi_new_instance(env, ctor, 1, &ext, &obj);
  if (s != napi_ok) {
    delete held;
    throw NapiFailure(s);
  }
  return obj;
}

const Tensor* unwrap_tensor(napi_env env, napi_value v) {
  if (type_of(env, v) != napi_object) return nullptr;
  napi_value ctor;
  bool is = false;
  check(napi_get_reference_value(env, state(env).tensor_ctor, &ctor));
  check(napi_instanceof(env, v, ctor, &is));
  if (!is) return nullptr;
  void* p = nullptr;
  if (napi_unwrap(env, v, &p) != napi_ok) return nullptr;  // Tensor.prototype itself, or a subclass shell
  return static_cast<const Tensor*>(p);
}

void bind_tensor(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      getter("shape", [](napi_env e, const Tensor& t) { return int_array(e, t.sizes().data(), t.sizes().size()); }),
      getter("strides", [](napi_env e, const Tensor& t) { return int_array(e, t.strides().data(), t.strides().size()); }),
      getter("dtype", [](napi_env e, const Tensor& t) { return make_string(e, dtype_name(t.dtype())); }),
      getter("device", [](napi_env e, const Tensor& t) { return make_string(e, t.device().str()); }),
      getter("numel", [](napi_env e, const Tensor& t) { return make_int(e, t.numel()); }),
      getter("ndim", [](napi_env e, const Tensor& t) { return make_int(e, t.dim()); }),
      getter("itemsize", [](napi_env e, const Tensor& t) { return make_int(e, int64_t(t.itemsize())); }),
      getter("storageOffset", [](napi_env e, const Tensor& t) { return make_int(e, t.storage_offset()); }),
      getter("isContiguous", [](napi_env e, const Tensor& t) { return make_bool(e, t.is_contiguous()); }),
      getter("_version", [](napi_env e, const Tensor& t) { return make_int(e, t.impl()->version()); }),
      {"toTypedArray", nullptr, &submit_read<ToTypedArrayJob>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"item", nullptr, &submit_read<ItemJob>, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  check(napi_define_class(env, "Tensor", NAPI_AUTO_LENGTH, &construct, nullptr, sizeof(props) / sizeof(props[0]),
                          props, &cls));
  check(napi_create_reference(env, cls, 1, &state(env).tensor_ctor));
  set(env, exports, "Tensor", cls);
  add_function(env, exports, "fromTypedArray", &from_typed_array);
}

}  // namespace vt::node
