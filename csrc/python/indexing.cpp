// x[idx] and x[idx] = v: integers, slices, None, Ellipsis and bools become views; integer/bool tensors and
// lists become advanced indices handled by the index / index_put_ ops, with PyTorch's semantics.
#include "ops/views.h"
#include "python/common.h"

namespace vt::py {

namespace {

TypedOp<Tensor(const Tensor&, const TensorList&)>& index_op() {
  static TypedOp<Tensor(const Tensor&, const TensorList&)> op("index");
  return op;
}
TypedOp<Tensor(const Tensor&, const TensorList&, const Tensor&, bool)>& index_put_op() {
  static TypedOp<Tensor(const Tensor&, const TensorList&, const Tensor&, bool)> op("index_put_");
  return op;
}
TypedOp<Tensor(const Tensor&)>& nonzero_op() {
  static TypedOp<Tensor(const Tensor&)> op("nonzero");
  return op;
}
TypedOp<Tensor(const Tensor&, const Tensor&)>& fill_op() {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> op("fill_");
  return op;
}

// A nested list/tuple of ints or bools, as a tensor (through vibetensor.tensor, which owns that logic).
Tensor sequence_to_tensor(nb::handle seq) {
  static nb::handle factory = nb::object(nb::module_::import_("vibetensor").attr("tensor")).release();  // kept for the process
  nb::object t = factory(seq);
  return unwrap(t);
}

bool is_int_like(nb::handle h) {
  return (PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr())) ||
         (!is_tensor(h) && PyIndex_Check(h.ptr()) && !PySequence_Check(h.ptr()) && !PyBool_Check(h.ptr()));
}

struct Indexed {
  Tensor view;          // after the basic (view) part of the index
  TensorList adv;       // per dim of `view`: an advanced index or undefined
  bool has_adv = false;
};

Indexed apply_index(const Tensor& self, nb::handle index) {
  std::vector<nb::handle> items;
  nb::object hold;
  if (nb::isinstance<nb::tuple>(index)) {
    hold = nb::borrow(index);
    for (nb::handle h : index) items.push_back(h);
  } else {
    items.push_back(index);
  }
  // Dimensions the index names explicitly (for sizing the Ellipsis).
  int64_t specified = 0, ellipses = 0;
  for (nb::handle h : items) {
    if (h.ptr() == Py_Ellipsis) ellipses++;
    else if (h.is_none() || PyBool_Check(h.ptr())) continue;
    else if (is_tensor(h) && unwrap(h).dtype() == DType::Bool) specified += unwrap(h).dim();  // a 0-d mask adds the dim it selects
    else specified++;
  }
  VT_CHECK_INDEX(ellipses <= 1, "an index can only have a single ellipsis ('...')");
  VT_CHECK_INDEX(specified <= self.dim(), "too many indices for tensor of dimension ", self.dim());

  Indexed r;
  r.view = self;
  int64_t dim = 0;
  std::vector<std::pair<int64_t, Tensor>> adv;
  std::vector<nb::object> keep;  // tensors made from lists must outlive the loop
  for (nb::handle h : items) {
    if (is_int_like(h)) {
      int64_t i = nb::cast<int64_t>(nb::int_(h));
      int64_t size = r.view.sizes()[dim];
      VT_CHECK_INDEX(i >= -size && i < size, "index ", i, " is out of bounds for dimension ", dim, " with size ", size);
      r.view = select(r.view, dim, i);
    } else if (PySlice_Check(h.ptr())) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(h.ptr(), &start, &stop, &step) < 0) throw nb::python_error();
      VT_CHECK_VALUE(step > 0, "step must be greater than zero");
      int64_t size = r.view.sizes()[dim];
      std::optional<int64_t> b = start == 0 ? std::nullopt : std::optional<int64_t>(std::max<int64_t>(start, -size - 1));
      std::optional<int64_t> e = stop == PY_SSIZE_T_MAX ? std::nullopt : std::optional<int64_t>(std::max<int64_t>(stop, -size - 1));
      if (b && *b < -size) b = 0;
      if (e && *e < -size) e = 0;
      if (b || e || step != 1) r.view = slice(r.view, dim, b, e, step);
      dim++;
    } else if (h.is_none()) {
      r.view = unsqueeze(r.view, dim);
      dim++;
    } else if (h.ptr() == Py_Ellipsis) {
      dim += self.dim() - specified;
    } else if (PyBool_Check(h.ptr())) {
      r.view = unsqueeze(r.view, dim);
      if (h.ptr() == Py_False) r.view = narrow(r.view, dim, 0, 0);
      dim++;
    } else {
      Tensor t;
      if (is_tensor(h)) t = unwrap(h);
      else if (PySequence_Check(h.ptr()) && !nb::isinstance<nb::str>(h)) t = sequence_to_tensor(h);
      else
        VT_THROW(IndexError, "only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid "
                 "indices (got ", Py_TYPE(h.ptr())->tp_name, ")");
      if (t.dim() == 0 && is_integral(t.dtype(), false)) {
        int64_t i = item(t).to_int(), size = r.view.sizes()[dim];
        VT_CHECK_INDEX(i >= -size && i < size, "index ", i, " is out of bounds for dimension ", dim, " with size ", size);
        r.view = select(r.view, dim, i);
        continue;
      }
      VT_CHECK_INDEX(t.dtype() == DType::Bool || is_integral(t.dtype(), false),
                     "tensors used as indices must be long, int, uint8 or bool tensors, got ", dtype_name(t.dtype()));
      if (t.dtype() == DType::Bool) {
        if (t.dim() == 0) {  // x[mask_scalar]: a new dim of size 1 or 0
          r.view = unsqueeze(r.view, dim);
          t = unsqueeze(t, 0);
        }
        for (int64_t k = 0; k < t.dim(); k++)
          VT_CHECK_INDEX(t.sizes()[k] == r.view.sizes()[dim + k], "The shape of the mask ", shape_str(t.sizes()),
                         " at index ", k, " does not match the shape of the indexed tensor ",
                         shape_str(r.view.sizes()), " at index ", dim + k);
        Tensor nz = nonzero_op()(t);  // (n, k) positions
        for (int64_t k = 0; k < t.dim(); k++) adv.emplace_back(dim + k, select(nz, 1, k));
        dim += t.dim();
      } else {
        adv.emplace_back(dim, t);
        dim++;
      }
    }
  }
  if (!adv.empty()) {
    r.has_adv = true;
    r.adv.resize(size_t(adv.back().first + 1));
    for (auto& [d, t] : adv) r.adv[d] = t;
  }
  return r;
}

}  // namespace

void bind_indexing(nb::module_&) {
  nb::class_<Tensor> cls = nb::borrow<nb::class_<Tensor>>(tensor_type());
  cls.def("__getitem__", [](nb::handle self, nb::handle index) {
    Indexed r = apply_index(unwrap(self), index);
    if (!r.has_adv) return wrap(r.view);
    return wrap(index_op()(r.view, r.adv));
  }, nb::arg("index").none());  // x[None] is an index, not a missing argument
  cls.def("__setitem__", [](nb::handle self, nb::handle index, nb::handle value) {
    const Tensor& s = unwrap(self);
    Indexed r = apply_index(s, index);
    Tensor v;
    Scalar sc;
    if (is_tensor(value)) v = unwrap(value);
    else if (to_scalar(value, sc, false)) v = scalar_tensor(sc, s.dtype());
    else if (PySequence_Check(value.ptr())) v = sequence_to_tensor(value);
    else VT_THROW(TypeError, "can't assign a ", Py_TYPE(value.ptr())->tp_name, " to a tensor");
    if (r.has_adv) {
      index_put_op()(r.view, r.adv, v, false);
    } else if (v.dim() == 0 && v.device().is_cpu() && !is_tensor(value)) {
      fill_op()(r.view, v);
    } else {
      copy_(r.view, v);
    }
  }, nb::arg("index").none(), nb::arg("value").none());
}

}  // namespace vt::py
