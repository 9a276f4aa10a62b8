"""Recording: the dispatcher's autograd kernel, called for any op that sees an input requiring grad.

It redispatches to the device kernel, then wires a node of the op's derivative row into the graph:
edges to the inputs' nodes, the tensors the derivative needs (saved with their versions) and the outputs'
autograd state. In-place ops rebase their tensor's history; in-place ops on views rebase the base's.
"""
from .. import _C
from .derivatives import _INFO, TensorInfo, op_info
from .graph import AutogradMeta, SavedTensor, gradient_edge, meta


def _grad_slots(info, args):
    """(arg index, list index or None, tensor) for every tensor argument that requires grad, in argument
    order, and the gradient edge of each."""
    slots, edges = [], []
    for i, is_list in info.tensor_args:
        a = args[i]
        if is_list:
            for j, t in enumerate(a):
                if t is not None and t._requires_grad:
                    slots.append((i, j, t))
                    edges.append(gradient_edge(t))
        elif a is not None and a._requires_grad:
            slots.append((i, None, a))
            m = a._autograd_meta  # the common case, an input made by a recorded op, without a call
            edges.append((m.grad_fn, m.output_nr) if m is not None and m.grad_fn is not None else gradient_edge(a))
    return slots, edges


def _device_key(args):
    for a in args:
        if isinstance(a, _C.TensorBase) and not a._is_wrapped_number:
            return "cuda" if a.is_cuda else "cpu"
    return "cpu"


def autograd_kernel(name, *args):
    info = _INFO.get(name) or op_info(name)
    row = info.row
    if row is None:
        return _call_without_row(name, info, args)
    if info.inplace:
        _check_inplace_target(args[0], name)
        if meta(args[0]).is_view:
            return _record_inplace_on_view(name, info, row, args)

    slots, edges = _grad_slots(info, args)
    node = row.node_cls(row, info, args, slots, edges)
    # Inputs the derivative reads are saved now; an in-place op saves the value it is about to overwrite.
    if row.save_inputs:
        saved, kinds = node.saved_inputs, info.tensor_kinds
        for i in row.save_inputs:
            t = args[i]
            if kinds[i] == "list":
                saved[i] = [SavedTensor(x) if x is not None else None for x in t]
            elif t is not None:
                if info.inplace and i == 0:
                    t = _C._call_below_autograd("clone", t)
                saved[i] = SavedTensor(t)
    out = _C._call_below_autograd(name, *args)
    outs = (out,) if info.single_result else tuple(out)
    node.set_outputs(outs)
    base = args[0] if info.is_view else None
    save_result = row.save_result
    for k, o in enumerate(outs):
        if o is None:
            continue
        floating = node.output_meta[k][1].is_floating_point
        if floating:
            m = o._autograd_meta
            if m is None:
                o._autograd_meta = m = AutogradMeta(node, k)
            else:
                m.grad_fn, m.output_nr = node, k
            o._requires_grad = True
            if base is not None:
                bm = meta(base)
                m.is_view, m.base = True, (bm.base if bm.is_view else base)
        # integer outputs too: max.dim's backward needs its indices; result=(k, ...) saves only those outputs
        if save_result is True or (save_result and k in save_result):
            node.saved_outputs[k] = SavedTensor(o, is_output=floating, node=node, output_nr=k)
    return out


def _call_without_row(name, info, args):
    """An op with no derivative row: a composite records through its parts; anything else must not need one."""
    if "composite" in info.kernels and _device_key(args) not in info.kernels:
        return _C._call_composite(name, *args)  # the ops inside record themselves
    if info.differentiable:
        raise RuntimeError(f"the derivative for '{name}' is not implemented: vibetensor cannot differentiate "
                           "through it (call it under vt.no_grad() or on detached tensors)")
    if info.inplace and args[0]._requires_grad:
        _check_inplace_target(args[0], name)
        raise RuntimeError(f"'{name}' is not differentiable and cannot write into a tensor that requires grad")
    return _C._call_below_autograd(name, *args)


def _check_inplace_target(t, name):
    m = meta(t, create=False)
    if t._requires_grad and (m is None or m.grad_fn is None) and not (m is not None and m.is_view):
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation. "
                           f"(op: {name})")


def _record_inplace_on_view(name, info, row, args):
    """In-place op on a view: the base's history gains a CopySlices node covering the written region."""
    from .view_nodes import CopySlices, ViewOfBase
    view = args[0]
    vm = meta(view)
    base = vm.base
    if base._requires_grad and meta(base).grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    slots, edges = _grad_slots(info, args)
    # The op's own node, seen from the view: its first input is the view's current value.
    view_edge = gradient_edge(view)
    edges = [view_edge if (i == 0 and j is None) else e for (i, j, _), e in zip(slots, edges)]
    if not any(i == 0 and j is None for i, j, _ in slots):
        slots = [(0, None, view)] + slots
        edges = [view_edge] + edges
    node = row.node_cls(row, info, args, slots, edges)
    for i in row.save_inputs:
        if args[i] is not None:
            t = _C._call_below_autograd("clone", args[i]) if i == 0 else args[i]
            node.saved_inputs[i] = SavedTensor(t)
    geometry = (tuple(view.shape), tuple(view.stride()), view.storage_offset() - base.storage_offset())
    out = _C._call_below_autograd(name, *args)
    node.set_outputs((out,))
    if row.save_result:
        node.saved_outputs[0] = SavedTensor(out, is_output=True, node=node, output_nr=0)
    base_edge = gradient_edge(base)
    cs = CopySlices(base, base_edge, geometry, node)
    bm = meta(base)
    bm.grad_fn, bm.output_nr = cs, 0
    base._requires_grad = True
    # The view now reads its values from the rebased base.
    vm.grad_fn, vm.output_nr = ViewOfBase(base, geometry, (cs, 0)), 0
    view._requires_grad = True
    return out


def install():
    _C._set_autograd_fallback(autograd_kernel)
    # Ops without a row whose Composite kernel serves a device: the dispatcher runs it under grad itself
    # (what _call_without_row does), saving each call a round trip through Python (reshape, dropout, ...).
    for d in _C._op_table():
        _C._set_composite_under_autograd(d["name"], op_info(d["name"]).row is None)


__all__ = ["autograd_kernel", "install", "TensorInfo"]
