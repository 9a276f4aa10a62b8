"""vt.autograd.Function: custom ops with hand-written backward, PyTorch's interface.

    class Square(vt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    y = Square.apply(x)
"""
from .. import _C
from .grad_mode import is_grad_enabled, no_grad
from .graph import Node, SavedTensor, gradient_edge, meta


class FunctionCtx:
    def __init__(self):
        self._saved = ()
        self.needs_input_grad = ()
        self._non_differentiable = set()
        self._dirty = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        self._to_save = tensors

    @property
    def saved_tensors(self):
        return tuple(s.unpack(self._node) if s is not None else None for s in self._saved)

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        self._dirty.update(id(t) for t in tensors)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class FunctionNode(Node):
    def __init__(self, fn_cls, ctx, edges, input_positions, input_dtypes):
        super().__init__(edges)
        self.fn_cls, self.ctx, self.input_positions, self.input_dtypes = fn_cls, ctx, input_positions, input_dtypes

    def name(self):
        return f"{self.fn_cls.__name__}Backward"

    def apply(self, grads):
        result = self.fn_cls.backward(self.ctx, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n_inputs = len(self.ctx.needs_input_grad)
        if len(result) < n_inputs:
            raise RuntimeError(f"function {self.fn_cls.__name__}.backward returned {len(result)} gradients, "
                               f"expected {n_inputs}")
        # Each gradient in its input's dtype, as PyTorch's engine makes it: a forward may have computed on casts
        # of its inputs (amp.custom_fwd(cast_inputs=...)), so its backward returns gradients of those.
        grads = [result[i] for i in self.input_positions]
        return [g.to(d) if isinstance(g, _C.TensorBase) and g.dtype != d else g
                for g, d in zip(grads, self.input_dtypes)]

    def release(self):
        super().release()
        for s in self.ctx._saved:
            if s is not None:
                s.free()


class Function:
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("subclasses of vt.autograd.Function must implement forward")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("subclasses of vt.autograd.Function must implement backward")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, _C.TensorBase)]
        ctx.needs_input_grad = tuple(isinstance(a, _C.TensorBase) and a._requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        record = is_grad_enabled() and any(ctx.needs_input_grad)
        outs = out if isinstance(out, tuple) else (out,)
        if not record:
            return out
        positions = [i for i, a in tensors if a._requires_grad]
        node = FunctionNode(cls, ctx, [gradient_edge(args[i]) for i in positions], positions,
                            [args[i].dtype for i in positions])
        ctx._node = node
        out_ids = {id(o): k for k, o in enumerate(outs) if isinstance(o, _C.TensorBase)}
        ctx._saved = tuple(
            None if t is None else SavedTensor(t, is_output=id(t) in out_ids, node=node, output_nr=out_ids.get(id(t), 0))
            for t in getattr(ctx, "_to_save", ()))
        node.num_outputs = len(outs)
        node.output_meta = [o._shape_dtype_device() if isinstance(o, _C.TensorBase) else None
                            for o in outs]
        for k, o in enumerate(outs):
            if isinstance(o, _C.TensorBase) and o.dtype.is_floating_point and id(o) not in ctx._non_differentiable:
                m = meta(o)
                m.grad_fn, m.output_nr = node, k
                o._requires_grad = True
        return out
