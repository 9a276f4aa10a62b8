"""Running the generated Triton kernels on CPU tensors with Triton's interpreter (CI has no GPU).

The interpreter wants torch-like tensor arguments; InterpreterArg gives a vibetensor CPU tensor the few
methods it calls (data_ptr, dtype, untyped_storage, storage_offset, size, stride, new_empty, set_), all
answering for the same memory, so kernels read and write the tensor in place.
"""
import contextlib

from .. import _C


class _Storage:
    def __init__(self, ptr):
        self._ptr = ptr

    def data_ptr(self):
        return self._ptr

    def cpu(self):
        return self

    def copy_(self, other):  # the interpreter worked on this very memory: nothing to copy back
        return self


class InterpreterArg:
    def __init__(self, t):
        if t.device.type != "cpu":
            raise ValueError("the Triton interpreter runs on CPU tensors")
        self.t = t
        self.dtype = t.dtype  # str() gives "vibetensor.float32": Triton keeps the part after the dot

    def data_ptr(self):
        return self.t.data_ptr()

    def untyped_storage(self):
        return _Storage(self.t.untyped_storage_ptr())

    def storage_offset(self):
        return self.t.storage_offset()

    def size(self):
        return tuple(self.t.shape)

    def stride(self):
        return tuple(self.t.stride())

    def new_empty(self, *args, **kwargs):
        return InterpreterArg(self.t)

    def set_(self, storage, offset, size, stride):
        return self


def pow2(x):
    """The smallest power of two >= x (1 for x <= 1), as the native launchers pick block sizes."""
    return 1 << max(0, (x - 1).bit_length())


@contextlib.contextmanager
def bfloat16_dot():
    """The interpreter keeps bfloat16 blocks as raw uint16 bits and its tl.dot multiplies those bits as
    integers; widen them to the float32 values they stand for first (exact, as the GPU's bf16 MMA is, with
    float32 accumulation)."""
    import numpy as np
    import triton.language as tl
    from triton.runtime.interpreter import InterpreterBuilder, TensorHandle
    original = InterpreterBuilder.create_dot

    def widen(h):
        if h.dtype != tl.bfloat16:
            return h
        return TensorHandle((h.data.astype(np.uint32) << 16).view(np.float32), tl.float32)

    def create_dot(self, a, b, d, *args):
        return original(self, widen(a), widen(b), d, *args)

    InterpreterBuilder.create_dot = create_dot
    try:
        yield
    finally:
        InterpreterBuilder.create_dot = original


def interpreted(jit_fn):
    """The interpreter's version of a @triton.jit function (from a module loaded for the interpreter),
    whatever TRITON_INTERPRET said at decoration; its module's libdevice calls go to numpy."""
    import sys

    from triton.runtime.interpreter import InterpretedFunction
    fn = jit_fn if isinstance(jit_fn, InterpretedFunction) else InterpretedFunction(jit_fn.fn)
    module = sys.modules.get(fn.fn.__module__)
    if module is not None and module.__name__.startswith("vibetensor_kernels_"):
        assert module.__name__.endswith("_interp"), "interpret only kernels loaded with module_suffix='_interp'"
        interpreter_module_globals(module)
    return fn


def wrap(x):
    """A launch argument as the interpreter should see it: tensors wrapped, and Python floats as the fp64
    scalars a compiled kernel receives (the interpreter would otherwise pass a bare float)."""
    if isinstance(x, _C.TensorBase):
        return InterpreterArg(x)
    import numpy as np
    if isinstance(x, (float, np.uint32)):  # uint32: int_divider's numbers (a bare int would be int32 or int64)
        import triton.language as tl
        from triton.runtime.interpreter import TensorHandle
        dt, t = (np.uint32, tl.uint32) if isinstance(x, np.uint32) else (np.float64, tl.float64)
        return tl.tensor(TensorHandle(np.array([x], dtype=dt), t), t)
    return x


class _NumpyLibdevice:
    """libdevice for the interpreter (which cannot run extern device functions): numpy on the block data."""

    _UNARY = {"tanh": "tanh", "log1p": "log1p", "expm1": "expm1", "asin": "arcsin", "acos": "arccos",
              "atan": "arctan", "sinh": "sinh", "cosh": "cosh", "asinh": "arcsinh", "acosh": "arccosh",
              "atanh": "arctanh", "tan": "tan", "log10": "log10", "trunc": "trunc", "nearbyint": "rint",
              "rint": "rint"}
    _BINARY = {"pow": "power", "atan2": "arctan2", "hypot": "hypot", "fmod": "fmod", "copysign": "copysign"}

    def __getattr__(self, name):
        import math

        import numpy as np
        if name in self._UNARY:
            fn = getattr(np, self._UNARY[name])
        elif name in self._BINARY:
            fn = getattr(np, self._BINARY[name])
        elif name in ("erfc", "lgamma", "erfinv"):
            if name == "erfinv":
                from scipy.special import erfinv as fn  # only the interpreter tests need it
            else:
                scalar = getattr(math, name)

                def total(v):  # masked-off lanes hold arbitrary values: never raise on them
                    try:
                        return scalar(v)
                    except (ValueError, OverflowError):
                        return math.inf
                fn = np.vectorize(total, otypes=[np.float64])
        else:
            raise AttributeError(f"libdevice.{name} has no interpreter implementation")

        def apply(*xs):
            import triton.language as tl
            from triton.runtime.interpreter import TensorHandle
            first = xs[0]
            with np.errstate(all="ignore"):  # masked-off lanes hold arbitrary values
                data = fn(*[x.handle.data for x in xs]).astype(first.handle.data.dtype)
            return tl.tensor(TensorHandle(data, first.handle.dtype), first.type)

        return apply


def interpreter_module_globals(module):
    """Prepares a generated kernel module for interpreted runs: `libdevice` goes to the numpy stand-in, and
    helper @triton.jit functions become interpreted ones (a compiled-mode helper cannot be called from an
    interpreted kernel)."""
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction
    if hasattr(module, "libdevice"):
        module.libdevice = _NumpyLibdevice()
    for name, value in list(vars(module).items()):
        if isinstance(value, JITFunction):
            setattr(module, name, InterpretedFunction(value.fn))


def size_args(sizes, fast):
    """The sizes a kernel divides positions by, as the native launcher passes them (kernel_library.h
    push_size): int_divider's (size, magic, shift) as uint32 when fast, else the sizes."""
    if not fast:
        return list(sizes)
    import numpy as np
    from .triton.elementwise import int_divider
    return [np.uint32(v) for s in sizes for v in (s, *int_divider(s))]


def run_elementwise(op, out, inputs, params=(), strided="f"):
    """Runs the generated elementwise kernel for `op` on CPU tensors through the interpreter, building the
    key and arguments the way the native launcher does (without its dim coalescing). strided: the layout
    letter of strided launches, "f" (32-bit coordinates by int_divider, the launcher's choice below 2^31
    elements) or "g" (64-bit division)."""
    from .cache import cache_dir
    from .triton import elementwise as ew
    shape = tuple(out.shape)
    n = out.numel()

    def kind(t):
        if not isinstance(t, _C.TensorBase):
            return "v"  # a Python number: passed by value, as the native launcher passes host scalars
        if all(s == 0 for s in t.stride()) or t.numel() == 1:
            return "s"
        return "c" if t.dim() == 1 and t.stride()[0] == 1 else "g"

    inputs = [t if not isinstance(t, _C.TensorBase) or tuple(t.shape) == shape else t.expand(shape) for t in inputs]
    kinds = [kind(t) for t in inputs]
    flat = (out.dim() <= 1 and (out.numel() <= 1 or out.stride()[0] == 1)) and "g" not in kinds
    layout = ("c" + "".join(kinds)) if flat else \
        f"{strided}{out.dim()}" + "".join("v" if k == "v" else "t" for k in kinds)
    dtypes = [t.dtype.name if isinstance(t, _C.TensorBase) else ("float64" if isinstance(t, float) else "int64")
              for t in inputs]
    key = "|".join(["ew", op, ",".join(dtypes), out.dtype.name, layout, str(len(params))])
    fn, _, _ = ew.load(key, cache_dir(), module_suffix="_interp")
    args = [out, *inputs, n, *[float(p) for p in params]]
    if not flat:
        dims = list(reversed(shape))  # innermost first, as the native iterator orders them
        args += size_args(dims, strided == "f")
        for t in [out, *inputs]:
            if isinstance(t, _C.TensorBase):
                args += list(reversed(t.stride()))
    grid = (max(1, (n + ew.BLOCK - 1) // ew.BLOCK),)
    interpreted(fn)[grid](*[wrap(a) for a in args], BLOCK=ew.BLOCK)
    return out


def run_reduction(op, x, dims_view, out_dtype, acc_dtype, param=0.0, splits=1, block_r=None, block_i=None,
                  aux=None, layout="g", block_o=1, per_split=None):
    """Runs a generated reduction kernel on a CPU tensor viewed as [O, R, I] (dims_view: (O, R, I) and
    element strides (so, sr, si)) through the interpreter. Returns (values [splits, O, I], indices or None).
    aux: the per-output operand ([O, I] contiguous, accumulator dtype) of the ops in reduction.AUX_OPS.
    layout: "g", "r" or "i" (reduction.LAYOUTS; the caller makes sure the view has what it promises);
    per_split: the rows of R each split folds (default: R over splits, rounded up)."""
    from .cache import cache_dir
    from .triton import reduction as red
    (o, r, i), (so, sr, si) = dims_view
    block_i = block_i or (1 if i == 1 else min(64, pow2(i)))
    block_r = block_r or max(16, 1024 // block_i)
    key = "|".join(["red", op, x.dtype.name, out_dtype.name, acc_dtype.name, str(block_o), str(block_r),
                    str(block_i), layout])
    fn, _, _ = red.load(key, cache_dir(), module_suffix="_interp")
    out = _C._ops.empty([splits, o, i], dtype=out_dtype)
    args = [x, out]
    idx = None
    if op in red.INDEXED:
        idx = _C._ops.empty([splits, o, i], dtype=_C.int64)
        args.append(idx)
    if op in red.AUX_OPS:
        args.append(aux)
    per_split = per_split or (r + splits - 1) // splits
    args += [o, r, i, so, sr, si, per_split, float(param)]
    grid = (((o + block_o - 1) // block_o) * ((i + block_i - 1) // block_i), 1, splits)  # as reduce.cpp
    interpreted(fn)[grid](*[wrap(a) for a in args], BLOCK_O=block_o, BLOCK_R=block_r, BLOCK_I=block_i)
    return out, idx


def run_softmax(op, x, out_dtype=None, mode="w", block=None):
    """Row softmax / log_softmax over the last dim of a contiguous 2-D CPU tensor, through the interpreter:
    mode "w" holds each row in one block (rows <= 8192 on the GPU), "s" streams it through `block`-sized
    pieces."""
    from .cache import cache_dir
    from .triton import reduction as red
    rows, n = x.shape
    whole = pow2(n)
    block = whole if mode == "w" else (block or min(1024, whole))
    out = _C._ops.empty([rows, n], dtype=out_dtype or x.dtype)
    key = "|".join(["soft", op, x.dtype.name, out.dtype.name, str(block), mode])
    fn, _, _ = red.load(key, cache_dir(), module_suffix="_interp")
    interpreted(fn)[(rows,)](*[wrap(a) for a in (x, out, n)], BLOCK=block)
    return out
