// Shared pieces of the Python binding: how tensors, dtypes and devices cross the boundary.
#pragma once
#include <nanobind/nanobind.h>

#include "dispatch/dispatcher.h"

namespace nb = nanobind;

namespace vt::py {

// The Python class of tensors: vibetensor.Tensor once tensor_core registers it, _C.TensorBase before.
nb::handle tensor_type();
void set_tensor_type(nb::handle t);

// Tensor <-> Python. wrap() makes a new Python object (of tensor_type()) holding the handle.
nb::object wrap(Tensor t);
inline bool is_tensor(nb::handle h) { return nb::isinstance<Tensor>(h); }
inline const Tensor& unwrap(nb::handle h) { return *nb::inst_ptr<Tensor>(h); }

// dtype and device objects. The ten dtype objects are singletons (`x.dtype is vt.float32`).
struct DTypeObj { DType d; };
struct DeviceObj { Device d; };
nb::object dtype_object(DType d);
bool to_dtype(nb::handle h, DType& out);    // vt dtype objects, and Python's float/int/bool types
bool to_device(nb::handle h, Device& out);  // vt device objects, "cuda:1" strings, integers (CUDA index)

// Python number -> Scalar; false when h is not a number (a 0-d tensor counts when allow_tensor).
bool to_scalar(nb::handle h, Scalar& out, bool allow_tensor);
nb::object scalar_to_py(const Scalar& s);

// Values on a boxed stack <-> Python.
nb::object ivalue_to_py(const IValue& v);
// Results of a call as Python: one value, a tuple for Tensor[], a named tuple for several results.
nb::object results_to_py(const OpEntry& op, Stack& stack, nb::handle self_obj);

// Parses Python arguments against the overloads of one op name, runs the winner and returns its results.
// self_obj is the bound tensor for methods (nullptr for functions).
struct OpOverloads {
  std::string name;
  std::vector<const OpEntry*> ops;
};
nb::object call_op(const OpOverloads& ov, nb::handle self_obj, nb::args args, nb::kwargs kwargs,
                   bool below_autograd = false);
// Calls one op with all its schema arguments in order (keyword-only ones included), as Python values.
enum class CallMode { Normal, BelowAutograd, Composite };
nb::object call_positional(const OpEntry& op, nb::args args, CallMode mode);

// The counters every allocator keeps, as a dict (os_word names cuMemAlloc-style calls: "os" for the CPU,
// "device" for CUDA, as vt's memory_stats have always spelled them).
nb::dict allocator_stats_dict(const AllocatorStats& s, const char* os_word);

// Binding setup, one per file.
void bind_dtypes(nb::module_& m);
void bind_tensor(nb::module_& m);
void bind_ops(nb::module_& m);
void bind_indexing(nb::module_& m);
void bind_dlpack(nb::module_& m);
void bind_runtime(nb::module_& m);
void bind_optim(nb::module_& m);
void bind_operators(nb::module_& m);
void bind_cuda(nb::module_& m);
void bind_random(nb::module_& m);
void bind_autocast(nb::module_& m);
void bind_fabric(nb::module_& m);

}  // namespace vt::py
