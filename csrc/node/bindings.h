// The addon's exports, one binding function per file (module.cpp calls them in order).
#pragma once
#include "node/napi.h"

namespace vt::node {

void bind_tensor(napi_env env, napi_value exports);  // tensor.cpp: Tensor, fromTypedArray
void bind_ops(napi_env env, napi_value exports);     // ops.cpp: callOp, opTable, configure, inflight, seeds
void bind_cuda(napi_env env, napi_value exports);    // cuda.cpp: devices, streams, events
void bind_kernel_compiler(napi_env env, napi_value exports);  // kernel_compiler.cpp: GPU kernels via Python

}  // namespace vt::node
