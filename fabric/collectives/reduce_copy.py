"""The reduce-copy step of the GPU collectives, as a registry of plugins.

`reduce_copy(dst, a, b, op)` computes dst <- a (op) b elementwise on the current stream, where `a` may live
in a peer's memory (a UVA or IPC view) and `dst` may alias `b` (the ring accumulates into its own buffer).
All three are 1-D, contiguous, of one dtype and length, on the CUDA device whose stream runs the step.

Plugins: "triton" (the core's elementwise kernels) and "cute" (the CUTLASS ring-allreduce plugin, a CuTe DSL
kernel with 128-bit vector loads: kernels/cute/reduce_copy.py), registered when its package is present.
The default is the fastest available plugin by benchmarks/cuda_allreduce.py; VIBETENSOR_FABRIC_REDUCE_COPY
names one explicitly.
"""
from .api import ReduceOp
from ... import _C

PLUGINS = {}        # name -> fn(dst, a, b, op)
_PREFERENCE = ["cute", "triton"]  # the benchmark's order; the first available one is the default


def register(name, fn):
    """Adds (or replaces) a reduce-copy plugin."""
    if not callable(fn):
        raise TypeError(f"reduce-copy plugin {name!r} must be callable")
    PLUGINS[name] = fn


def _triton(dst, a, b, op):
    if op in (ReduceOp.SUM, ReduceOp.AVG):
        res = _C._ops.add(a, b)
    elif op is ReduceOp.MAX:
        res = _C._ops.maximum(a, b)
    else:
        res = _C._ops.minimum(a, b)
    dst.copy_(res)


register("triton", _triton)


def _load_plugins():
    try:
        from ...kernels.cute import reduce_copy as cute
    except ImportError:  # nvidia-cutlass-dsl is not installed: the Triton step serves
        return
    if cute.available():
        register("cute", cute.reduce_copy)


_loaded = False


def plugin(name=None):
    """The reduce-copy function called `name` (default: VIBETENSOR_FABRIC_REDUCE_COPY, else the preferred one)."""
    global _loaded
    if not _loaded:
        _loaded = True
        _load_plugins()
    from ..topology import config
    name = name or config.get("VIBETENSOR_FABRIC_REDUCE_COPY")
    if name:
        if name not in PLUGINS:
            raise ValueError(f"no reduce-copy plugin {name!r}; available: {sorted(PLUGINS)}")
        return PLUGINS[name]
    return next(PLUGINS[n] for n in _PREFERENCE if n in PLUGINS)


def reduce_copy(dst, a, b, op=ReduceOp.SUM, name=None):
    plugin(name)(dst, a, b, ReduceOp.of(op))
