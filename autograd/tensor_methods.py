"""The autograd half of vt.Tensor: .grad, .grad_fn, .backward(), hooks, detach. Installed on import."""
from .. import _C
from .engine import _accumulate, backward
from .graph import add_hook, meta


def _grad_get(self):
    m = meta(self, create=False)
    return m.grad if m is not None else None


def _grad_set(self, value):
    if value is not None:
        if not isinstance(value, _C.TensorBase):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
        if tuple(value.shape) != tuple(self.shape):
            raise RuntimeError(f"assigned grad has data of a different size: {tuple(value.shape)} vs "
                               f"{tuple(self.shape)}")
        if value.dtype != self.dtype:
            raise RuntimeError(f"assigned grad has data of a different type: {value.dtype} vs {self.dtype}")
    meta(self).grad = value


def _grad_fn(self):
    m = meta(self, create=False)
    return m.grad_fn if m is not None else None


def _is_leaf(self):
    return _grad_fn(self) is None


def _requires_grad_get(self):
    return self._requires_grad


def _requires_grad_(self, requires_grad=True):
    if not _is_leaf(self):
        if not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        return self
    if requires_grad and not self.dtype.is_floating_point:
        raise RuntimeError("only Tensors of floating point dtype can require gradients")
    self._requires_grad = bool(requires_grad)
    return self


def _requires_grad_set(self, value):
    _requires_grad_(self, value)


def _retain_grad(self):
    if not self._requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    m = meta(self)
    if m.grad_fn is None or m.retains_grad:
        return
    m.retains_grad = True
    node, slot = m.grad_fn, m.output_nr

    def keep(grads):  # holds the meta, not the tensor, so the tensor's lifetime is unchanged
        g = grads[slot]
        if g is not None:
            m.grad = g.detach().clone() if m.grad is None else m.grad + g.detach()
        return None

    node.register_prehook(keep)


def _register_hook(self, hook):
    """hook(grad) -> optional new grad, called when the gradient for this tensor is computed."""
    if not self._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    m = meta(self)
    if m.grad_fn is None:
        return add_hook(m, "hooks", hook)
    slot = m.output_nr

    def pre(grads):
        g = grads[slot]
        if g is None:
            return None
        new = hook(g)
        if new is None:
            return None
        grads = list(grads)
        grads[slot] = new
        return grads

    return m.grad_fn.register_prehook(pre)


def _register_post_accumulate_grad_hook(self, hook):
    if not _is_leaf(self):
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    m = meta(self)
    return add_hook(m, "post_accumulate_hooks", hook)


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _detach(self):
    return self._alias()


def _detach_(self):
    m = meta(self, create=False)
    if m is not None and m.is_view:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    if m is not None:
        m.grad_fn = None
    self._requires_grad = False
    return self


def _data(self):
    return self._alias()


def install(tensor_cls):
    tensor_cls.grad = property(_grad_get, _grad_set)
    tensor_cls.grad_fn = property(_grad_fn)
    tensor_cls.is_leaf = property(_is_leaf)
    tensor_cls.requires_grad = property(_requires_grad_get, _requires_grad_set)
    tensor_cls.requires_grad_ = _requires_grad_
    tensor_cls.retain_grad = _retain_grad
    tensor_cls.retains_grad = property(lambda self: bool(getattr(meta(self, False), "retains_grad", False)))
    tensor_cls.register_hook = _register_hook
    tensor_cls.register_post_accumulate_grad_hook = _register_post_accumulate_grad_hook
    tensor_cls.backward = _backward
    tensor_cls.detach = _detach
    tensor_cls.detach_ = _detach_
    tensor_cls.data = property(_data)
    tensor_cls.output_nr = property(lambda self: getattr(meta(self, False), "output_nr", 0))
    tensor_cls._accumulate_grad = _accumulate
