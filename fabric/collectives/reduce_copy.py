"""The reduce-copy step of the GPU collectives, as a registry of plugins.

`reduce_copy(dst, a, b, op)` computes dst <- a (op) b elementwise on the current stream, where `a` may live
in a peer's memory (a UVA or IPC view) and `dst` may alias `b` (the ring accumulates into its own buffer).
All three are 1-D, contiguous, of one dtype and length, on the CUDA device whose stream runs the step.

Plugins: "triton" (kernels/triton/fabric_kernels.reduce_copy) and "cute" (the CUTLASS ring-allreduce plugin,
a CuTe DSL kernel with 128-bit vector loads: kernels/cute/reduce_copy.py), registered when its package is
present. Each plugin also names the kernels it launches (`keys(dtype, op)`), so a rank loads them before its
flag waits are in flight (see cuda_peer.prepare). The default is the fastest available plugin by
benchmarks/cuda_allreduce.py; VIBETENSOR_FABRIC_REDUCE_COPY names one explicitly.
"""
from .api import ReduceOp
from ... import _C, config
from ...kernels.compile import ALIGNED
from ...kernels.triton import fabric as layout

PLUGINS = {}        # name -> (fn(dst, a, b, op), keys(dtype, op) -> kernel keys)
_PREFERENCE = ["cute", "triton"]  # the benchmark's order; the first available one is the default


def register(name, fn, keys):
    """Adds (or replaces) a reduce-copy plugin."""
    if not callable(fn) or not callable(keys):
        raise TypeError(f"reduce-copy plugin {name!r}: fn and keys must be callable")
    PLUGINS[name] = (fn, keys)


def op_name(op):
    return "max" if op is ReduceOp.MAX else "min" if op is ReduceOp.MIN else "sum"


def _triton_key(dtype, op, aligned=False):
    """The Triton step's key; its aligned form (16-byte accesses) where every pointer and n allow it."""
    return f"fab|rc|{dtype.name}|{op_name(op)}|{layout.RC_BLOCK}" + (ALIGNED if aligned else "")


def _triton(dst, a, b, op):
    n = dst.numel()
    ptrs = (dst.data_ptr(), a.data_ptr(), b.data_ptr())
    aligned = n % 16 == 0 and all(p % 16 == 0 for p in ptrs)
    _C._cuda.launch_kernel(_triton_key(dst.dtype, op, aligned), (-(-n // layout.RC_BLOCK), 1, 1),
                           [*(("ptr", p) for p in ptrs), ("i64", n)])


register("triton", _triton, lambda dtype, op: [_triton_key(dtype, op, v) for v in (True, False)])


def _load_plugins():
    try:
        from ...kernels.cute import reduce_copy as cute
    except ImportError:  # nvidia-cutlass-dsl is not installed: the Triton step serves
        return
    if cute.available():
        register("cute", cute.reduce_copy, cute.kernel_keys)


_loaded = False


def plugin_name(name=None):
    """The plugin in effect: `name`, else VIBETENSOR_FABRIC_REDUCE_COPY, else the preferred available one."""
    global _loaded
    if not _loaded:
        _loaded = True
        _load_plugins()
    name = name or config.get("VIBETENSOR_FABRIC_REDUCE_COPY")
    if name:
        if name not in PLUGINS:
            raise ValueError(f"no reduce-copy plugin {name!r}; available: {sorted(PLUGINS)}")
        return name
    return next(n for n in _PREFERENCE if n in PLUGINS)


def plugin(name=None):
    """(fn, keys) of the plugin in effect (plugin_name's choice)."""
    return PLUGINS[plugin_name(name)]


def reduce_copy(dst, a, b, op=ReduceOp.SUM, name=None):
    plugin(name)[0](dst, a, b, ReduceOp.of(op))


def kernel_keys(dtype, op, name=None):
    return plugin(name)[1](dtype, ReduceOp.of(op))
