"""Defining ops and kernels from Python (PyTorch's torch.library, in miniature).

>>> import vibetensor as vt
>>> vt.library.define("demo::scale(Tensor x, float s) -> Tensor")
'demo::scale'
>>> h = vt.library.impl("demo::scale", "cpu", lambda x, s: x * s)
>>> vt.ops.demo_scale(vt.ones(2), 3.0).tolist()
[3.0, 3.0]
>>> h.restore()

A kernel receives the schema's arguments positionally and returns the schema's results. Registering
publishes a new kernel table atomically: calls already running finish with the old kernel, the next call
sees the new one. ``impl`` returns a handle whose ``restore()`` puts the previous kernel back.
"""
from .. import _C

KEYS = ("cpu", "cuda", "composite", "autograd")


def define(schema, *, method=False, differentiable=False):
    """Declares a new op from a schema such as ``"ns::name(Tensor x, int n=1) -> Tensor"``.

    It becomes callable as ``vt.ops.<ns>_<name>`` (and ``Tensor.<name>`` when ``method=True``).
    Returns the op's full name.
    """
    return _C._define_op(schema, True, method, differentiable)


def impl(name, key, fn=None):
    """Registers ``fn`` as the kernel of op ``name`` for dispatch key ``key`` (one of KEYS).

    Usable directly (``impl("add", "cpu", fn)``) or as a decorator (``@impl("add", "cpu")``).
    Returns a handle; ``handle.restore()`` reinstates whatever kernel was there before.
    """
    if key not in KEYS:
        raise ValueError(f"unknown dispatch key {key!r}: expected one of {KEYS}")
    if fn is None:
        return lambda f: _C._register_python_kernel(name, key, f)
    return _C._register_python_kernel(name, key, fn)


def op_table():
    """Every op: name, schema, flags (function/method/differentiable/...), and which keys have kernels."""
    return _C._op_table()
