// Python operators on tensors (+ - * / // % ** @ & | ^ << >> comparisons, unary - ~ abs) and their
// reflected and in-place forms. They call pre-resolved typed ops: `a + 1` never parses a schema.
#include "python/common.h"

namespace vt::py {

namespace {

using Bin = TypedOp<Tensor(const Tensor&, const Tensor&)>;
using BinAlpha = TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)>;
using Un = TypedOp<Tensor(const Tensor&)>;
constexpr int64_t kReleaseGilAbove = 1 << 16;

// The other operand: a tensor, a Python number (as a wrapped 0-d tensor) or a numpy array (converted, as
// PyTorch does). False: not ours to handle.
bool operand(nb::handle h, Tensor& out) {
  if (is_tensor(h)) { out = unwrap(h); return true; }
  Scalar s;
  if (to_scalar(h, s, false)) {
    out = wrap_number(s);
    return true;
  }
  if (nb::hasattr(h, "__array_interface__")) {
    static nb::handle as_tensor = nb::object(nb::module_::import_("vibetensor").attr("as_tensor")).release();
    out = unwrap(as_tensor(h));
    return true;
  }
  return false;
}

template <class F>
Tensor run(int64_t work, F f) {
  if (work > kReleaseGilAbove) {
    nb::gil_scoped_release r;
    return f();
  }
  return f();
}

// op(self, other), op(other, self) for the reflected form, or the in-place op returning self.
template <class Op>
nb::object binary(const Op& op, nb::handle self, nb::handle other, bool reflected) {
  Tensor o;
  if (!operand(other, o)) return nb::borrow(Py_NotImplemented);
  const Tensor& s = unwrap(self);
  Tensor r = run(s.numel() + o.numel(), [&] {
    if constexpr (std::is_same_v<Op, BinAlpha>) return reflected ? op(o, s, Scalar(int64_t(1))) : op(s, o, Scalar(int64_t(1)));
    else return reflected ? op(o, s) : op(s, o);
  });
  return wrap(std::move(r));
}
template <class Op>
nb::object inplace(const Op& op, nb::handle self, nb::handle other) {
  Tensor o;
  if (!operand(other, o)) return nb::borrow(Py_NotImplemented);
  const Tensor& s = unwrap(self);
  run(s.numel() + o.numel(), [&] {
    if constexpr (std::is_same_v<Op, BinAlpha>) return op(s, o, Scalar(int64_t(1)));
    else return op(s, o);
  });
  return nb::borrow(self);
}

}  // namespace

void bind_operators(nb::module_&) {
  nb::class_<Tensor> cls = nb::borrow<nb::class_<Tensor>>(tensor_type());
  // Handles are leaked on purpose: they live as long as the process.
#define VT_BIN(py, rpy, ipy, opname, Kind)                                                                \
  {                                                                                                       \
    static Kind op(opname);                                                                               \
    static Kind iop(opname "_");                                                                          \
    cls.def(py, [](nb::handle s, nb::handle o) { return binary(op, s, o, false); });                      \
    cls.def(rpy, [](nb::handle s, nb::handle o) { return binary(op, s, o, true); });                      \
    cls.def(ipy, [](nb::handle s, nb::handle o) { return inplace(iop, s, o); });                          \
  }
  VT_BIN("__add__", "__radd__", "__iadd__", "add", BinAlpha)
  VT_BIN("__sub__", "__rsub__", "__isub__", "sub", BinAlpha)
  VT_BIN("__mul__", "__rmul__", "__imul__", "mul", Bin)
  VT_BIN("__floordiv__", "__rfloordiv__", "__ifloordiv__", "floor_divide", Bin)
  VT_BIN("__mod__", "__rmod__", "__imod__", "remainder", Bin)
  VT_BIN("__pow__", "__rpow__", "__ipow__", "pow", Bin)
  VT_BIN("__and__", "__rand__", "__iand__", "bitwise_and", Bin)
  VT_BIN("__or__", "__ror__", "__ior__", "bitwise_or", Bin)
  VT_BIN("__xor__", "__rxor__", "__ixor__", "bitwise_xor", Bin)
  VT_BIN("__lshift__", "__rlshift__", "__ilshift__", "bitwise_left_shift", Bin)
  VT_BIN("__rshift__", "__rrshift__", "__irshift__", "bitwise_right_shift", Bin)
#undef VT_BIN
  {
    using Div = TypedOp<Tensor(const Tensor&, const Tensor&, std::optional<std::string_view>)>;
    static Div div("div"), idiv("div_");
    auto call = [](const Div& op, const Tensor& a, const Tensor& b) { return op(a, b, std::nullopt); };
    cls.def("__truediv__", [call](nb::handle s, nb::handle o) -> nb::object {
      Tensor t;
      if (!operand(o, t)) return nb::borrow(Py_NotImplemented);
      return wrap(run(unwrap(s).numel(), [&] { return call(div, unwrap(s), t); }));
    });
    // PyTorch's Tensor.__rtruediv__ is self.reciprocal() * other, not a div: hence its values (the reciprocal
    // is rounded first) and, in an autocast region, the reciprocal's category (fp32 on CUDA: `2 / x` is float32).
    static Un reciprocal("reciprocal");
    static Bin mul("mul");
    cls.def("__rtruediv__", [](nb::handle s, nb::handle o) -> nb::object {
      Tensor t;
      if (!operand(o, t)) return nb::borrow(Py_NotImplemented);
      return wrap(run(unwrap(s).numel(), [&] { return mul(reciprocal(unwrap(s)), t); }));
    });
    cls.def("__itruediv__", [call](nb::handle s, nb::handle o) -> nb::object {
      Tensor t;
      if (!operand(o, t)) return nb::borrow(Py_NotImplemented);
      run(unwrap(s).numel(), [&] { return call(idiv, unwrap(s), t); });
      return nb::borrow(s);
    });
  }
  {
    static Bin mm("matmul");
    cls.def("__matmul__", [](nb::handle s, nb::handle o) -> nb::object {
      if (!is_tensor(o)) return nb::borrow(Py_NotImplemented);
      return binary(mm, s, o, false);
    });
    cls.def("__rmatmul__", [](nb::handle s, nb::handle o) -> nb::object {
      if (!is_tensor(o)) return nb::borrow(Py_NotImplemented);
      return binary(mm, s, o, true);
    });
  }
#define VT_CMP(py, opname)                                                                \
  {                                                                                       \
    static Bin op(opname);                                                                \
    cls.def(py, [](nb::handle s, nb::handle o) { return binary(op, s, o, false); });      \
  }
  VT_CMP("__eq__", "eq")
  VT_CMP("__ne__", "ne")
  VT_CMP("__lt__", "lt")
  VT_CMP("__le__", "le")
  VT_CMP("__gt__", "gt")
  VT_CMP("__ge__", "ge")
#undef VT_CMP
#define VT_UN(py, opname)                                                                      \
  {                                                                                            \
    static Un op(opname);                                                                      \
    cls.def(py, [](nb::handle s) { return wrap(run(unwrap(s).numel(), [&] { return op(unwrap(s)); })); }); \
  }
  VT_UN("__neg__", "neg")
  VT_UN("__abs__", "abs")
  VT_UN("__invert__", "bitwise_not")
#undef VT_UN
  cls.def("__pos__", [](nb::handle s) { return nb::borrow(s); });
}

}  // namespace vt::py
