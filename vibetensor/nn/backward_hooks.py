"""Module backward hooks: identity autograd functions around a module's inputs and outputs catch the
gradients flowing through them, as PyTorch's register_full_backward_hook does."""
from .. import _C
from ..autograd import Function


class _State:
    def __init__(self, module, n_inputs):
        self.module, self.n_inputs, self.grad_outputs = module, n_inputs, None


class _Identity(Function):
    """Passes tensors through unchanged (as views), so their backward is a place to observe gradients."""

    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        return tuple(t.view_as(t) if isinstance(t, _C.TensorBase) else t for t in tensors)


class _Outputs(_Identity):
    @staticmethod
    def backward(ctx, *grads):
        st = ctx.state
        for hook in list(st.module._backward_pre_hooks.values()):
            new = hook(st.module, grads)
            if new is not None:
                grads = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        st.grad_outputs = grads
        if st.n_inputs == 0:  # nothing upstream requires grad: hooks see grad_input as (None,)
            _call_hooks(st, (None,))
        return (None,) + tuple(grads)


class _Inputs(_Identity):
    @staticmethod
    def backward(ctx, *grads):
        new = _call_hooks(ctx.state, grads)
        return (None,) + tuple(new if new is not None else grads)


def _call_hooks(state, grad_inputs):
    result = None
    for hook in list(state.module._backward_hooks.values()):
        new = hook(state.module, grad_inputs if result is None else result, state.grad_outputs)
        if new is not None:
            result = tuple(new) if isinstance(new, (tuple, list)) else (new,)
    return result


def call_with_backward_hooks(module, args, kwargs):
    n = sum(1 for a in args if isinstance(a, _C.TensorBase) and a.requires_grad)
    state = _State(module, n)
    if n:
        args = _Inputs.apply(state, *args)
    out = module.forward(*args, **kwargs)
    single = isinstance(out, _C.TensorBase)
    wrapped = _Outputs.apply(state, *((out,) if single else out))
    return wrapped[0] if single else type(out)(wrapped) if isinstance(out, tuple) else list(wrapped)
