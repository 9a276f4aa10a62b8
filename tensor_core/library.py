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
        return lambda f: _register(name, key, f)
    return _register(name, key, fn)


def _register(name, key, fn):
    if not callable(fn):
        raise TypeError(f"kernel for '{name}' must be callable, got {type(fn).__name__}")
    _check_arguments(name, fn)
    return _C._register_python_kernel(name, key, fn)


def _check_arguments(name, fn):
    """A kernel that cannot take the schema's arguments is refused before it replaces a working one (it would
    otherwise fail every call of the op, including calls from C++ and from other ops)."""
    import inspect
    op = next((o for o in _C._op_table() if o["name"] == name), None)
    if op is None:
        return  # the core raises: unknown op
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: its calls will tell
        return
    try:
        signature.bind(*op["args"])
    except TypeError as e:
        raise TypeError(f"kernel for '{name}' cannot take the schema's arguments ({', '.join(op['args'])}): "
                        f"{e}") from None


def op_table():
    """Every op: name, schema, flags (function/method/differentiable/...), and which keys have kernels."""
    return _C._op_table()
