"""The CUTLASS ring-allreduce plugin's reduce-copy step: dst <- a (op) b, a CuTe DSL kernel launched by the core.

    from vibetensor.fabric.collectives.reduce_copy import reduce_copy
    reduce_copy(dst, a, b, "sum", name="cute")   # a may be a peer GPU's buffer; dst may be b

Kernels are registered with the core under `cute|rc|<dtype>|<op>|<form>`: dtype float32, bfloat16 or float16;
op sum, max or min (computed in float32, rounded once to dtype); form `v` (128-bit accesses: all three pointers
16-byte aligned) or `s` (one element per access, any element-aligned pointers). The core compiles a missing
key through kernels.compile, which hands `cute|...` keys to kernels.cute.compile_key.

Kernel ABI (read off the PTX .entry, checked by tests/kernels/test_cute_reduce_copy.py):
    params: dst .u64, a .u64, b .u64 (global pointers, .align 16 in form v), n .u32 (element count)
    block:  THREADS = 256 threads (num_warps 8, the PTX's .reqntid), no dynamic shared memory
    grid:   (ceil(n / tile), 1, 1), tile = 256 * 4 * vec elements, vec = 16 // itemsize in form v, else 1
CuTe DSL lowers a `cute.Pointer` jit argument to one .u64 param and an Int32 to one .u32, and keeps no
descriptor or hidden params for them (tensors would be structs of pointer, shape and strides; we build the
tensors inside the kernel instead), so the launch is three "ptr" arguments and one "i32". n is Int32: a
launch covers at most MAX_LAUNCH elements, and longer buffers take several launches along the buffer.
"""
from ... import _C
from ...fabric.collectives.api import ReduceOp

THREADS, UNROLL = 256, 4   # must match reduce_copy_kernel.py (which needs cutlass to import)
MAX_LAUNCH = 1 << 30       # elements per launch: keeps every Int32 index below 2**31, and is a multiple of vec
DTYPES = {"float32": 4, "bfloat16": 2, "float16": 2}  # name -> itemsize
OPS = {ReduceOp.SUM: "sum", ReduceOp.AVG: "sum", ReduceOp.MAX: "max", ReduceOp.MIN: "min"}  # AVG: the ring
# sums and the collective divides once at the end, as the Triton step does.


def key(dtype, op, vector):
    return f"cute|rc|{dtype}|{op}|{'v' if vector else 's'}"


def parse_key(k):
    """(dtype, op, vector) from a key made by key(); ValueError for anything else."""
    parts = k.split("|")
    if (len(parts) != 5 or parts[:2] != ["cute", "rc"] or parts[2] not in DTYPES
            or parts[3] not in set(OPS.values()) or parts[4] not in ("v", "s")):
        raise ValueError(f"not a reduce-copy kernel key: {k!r}")
    return parts[2], parts[3], parts[4] == "v"


def tile(dtype, vector):
    """Elements per block."""
    return THREADS * UNROLL * (16 // DTYPES[dtype] if vector else 1)


def compile_for(k, arch):
    """The aot.Compiled for key `k` on `arch` (e.g. "sm_90a"), from the disk cache when there."""
    import os

    from . import aot, reduce_copy_kernel

    dtype, op, vector = parse_key(k)
    here = os.path.dirname(__file__)
    sources = [os.path.join(here, f) for f in ("aot.py", "reduce_copy_kernel.py")]
    return aot.cached(k, arch, sources, lambda: reduce_copy_kernel.build(dtype, op, vector, arch))


def compile_key(k):
    """Compiles `k` for the current GPU and registers it with the core (the core's compile hook calls this)."""
    from .aot import arch_of

    props = _C._cuda.device_properties(_C._cuda.current_device())
    c = compile_for(k, arch_of(props["major"], props["minor"]))
    _C._cuda.register_kernel(k, c.entry, c.cubin, THREADS // 32, 0, 0)


def available():
    """True where the kernel can run: nvidia-cutlass-dsl imports and the current GPU is sm_90 or newer."""
    if not _C._cuda.is_available():
        return False
    try:
        import cutlass.cute  # noqa: F401
    except Exception:  # ImportError, or a broken install failing while it loads its MLIR libraries
        return False
    return _C._cuda.device_properties(_C._cuda.current_device())["major"] >= 9


def _check(dst, a, b):
    # Shape and dtype first, device last: the CPU-only CI can reach every check but the CUDA ones.
    for name, t in (("dst", dst), ("a", a), ("b", b)):
        if not all(hasattr(t, f) for f in ("data_ptr", "dtype", "is_cuda")):
            raise TypeError(f"reduce_copy: {name} must be a tensor, got {type(t).__name__}")
        if t.dim() != 1 or not t.is_contiguous():
            raise ValueError(f"reduce_copy: {name} must be 1-D and contiguous, got shape {tuple(t.shape)} "
                             f"with strides {t.stride()}")
    if not (dst.dtype == a.dtype == b.dtype):
        raise TypeError(f"reduce_copy: dtypes differ: dst {dst.dtype.name}, a {a.dtype.name}, b {b.dtype.name}")
    if dst.dtype.name not in DTYPES:
        raise TypeError(f"reduce_copy: dtype {dst.dtype.name} is not supported; expected one of {sorted(DTYPES)}")
    if not (dst.numel() == a.numel() == b.numel()):
        raise ValueError(f"reduce_copy: lengths differ: dst {dst.numel()}, a {a.numel()}, b {b.numel()}")
    for name, t in (("dst", dst), ("a", a), ("b", b)):
        if not t.is_cuda:
            raise ValueError(f"reduce_copy: {name} must be a CUDA tensor, got one on {t.device}")
    # a may be a peer's memory (any device); dst and b are this step's own buffers, on the launching device.
    if dst.device.index != b.device.index:
        raise ValueError(f"reduce_copy: dst is on {dst.device} but b on {b.device}")


def launch_args(dst_ptr, a_ptr, b_ptr, n):
    """The kernel's arguments, in the ABI's order and kinds (the test checks them against the PTX .entry)."""
    return [("ptr", dst_ptr), ("ptr", a_ptr), ("ptr", b_ptr), ("i32", n)]


def plan(ptrs, n, itemsize):
    """[(vector, start, count)]: the launches covering n elements at the three addresses `ptrs`.

    The vector form where all three are 16-byte aligned, else the scalar form. (Peeling a scalar head off
    equally misaligned pointers was tried and dropped: on an H100 at 2^26 elements the scalar form already
    runs at copy bandwidth, 2,979 GB/s float32, and the extra launch made it 2% slower.)"""
    vector = all(p % 16 == 0 for p in ptrs)
    return [(vector, lo, min(MAX_LAUNCH, n - lo)) for lo in range(0, n, MAX_LAUNCH)]


def kernel_keys(dtype, op):
    """The keys reduce_copy may launch for (dtype, op), so the fabric can load them before its flag waits."""
    name = OPS[ReduceOp.of(op)]
    return [key(dtype.name, name, True), key(dtype.name, name, False)]


def reduce_copy(dst, a, b, op=ReduceOp.SUM):
    """dst <- a (op) b elementwise on dst's device's current stream (the fabric's reduce-copy plugin "cute")."""
    op = OPS[ReduceOp.of(op)]
    _check(dst, a, b)
    dtype, itemsize = dst.dtype.name, dst.element_size()
    ptrs = (dst.data_ptr(), a.data_ptr(), b.data_ptr())
    stream = _C._cuda.current_stream(dst.device.index)
    for vector, start, m in plan(ptrs, dst.numel(), itemsize):
        per_block, step = tile(dtype, vector), start * itemsize
        _C._cuda.launch_kernel(key(dtype, op, vector), ((m + per_block - 1) // per_block, 1, 1),
                               launch_args(*(p + step for p in ptrs), m), stream)
