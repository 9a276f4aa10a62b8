// Tensors in JS: a native class wrapping a vt::Tensor handle (its methods are added in js/lib/tensor.js),
// typed arrays in (copied) and out (a Promise of a fresh copy).
#pragma once
#include "core/tensor.h"
#include "node/napi.h"

namespace vt::node {

napi_value wrap_tensor(napi_env env, Tensor t);
// The tensor held by a JS Tensor object; nullptr when `v` is not one.
const Tensor* unwrap_tensor(napi_env env, napi_value v);
void bind_tensor(napi_env env, napi_value exports);

}  // namespace vt::node
