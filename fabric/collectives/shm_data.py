"""Tensors as flat numpy arrays for the CPU transport, and the element types data travels in.

Contiguous CPU tensors are used in place through `.numpy()` (zero-copy); non-contiguous ones are copied into a
contiguous scratch array and written back when the collective finishes. numpy has no bfloat16, so bfloat16 data
moves as its raw 16-bit patterns; reductions of bfloat16 and float16 run in float32 and round once at the end
(what torch's gloo backend does), so the result does not depend on the ring order.
"""
import numpy as np

from .api import CollectiveError, ReduceOp

_UFUNC = {ReduceOp.SUM: np.add, ReduceOp.AVG: np.add, ReduceOp.MAX: np.maximum, ReduceOp.MIN: np.minimum}


class Operand:
    """One tensor argument of a collective: `flat` is a contiguous 1-d array over its elements (its memory
    when it is contiguous), `half` is 'bf16', 'f16' or None. `load=False` skips copying in a non-contiguous
    tensor whose old contents the collective overwrites anyway."""

    def __init__(self, tensor, collective, load=True):
        arr, self.half = _host_array(tensor, collective)
        self.array, self.copied = arr, not arr.flags.c_contiguous
        if not self.copied:
            self.flat = arr.reshape(-1)
        elif load:
            self.flat = np.ascontiguousarray(arr).reshape(-1)
        else:
            self.flat = np.empty(arr.size, arr.dtype)
        self.shape, self.numel = arr.shape, arr.size

    @property
    def nbytes(self):
        return self.flat.nbytes

    @property
    def wire_dtype(self):
        """The element type reductions run in."""
        return np.dtype(np.float32) if self.half else self.flat.dtype

    def commit(self):
        """Writes a non-contiguous tensor back from the scratch array."""
        if self.copied:
            np.copyto(self.array, self.flat.reshape(self.shape))

    def to_wire(self, src, dst):
        """Converts elements `src` (a slice of flat's dtype) into reduction type `dst`."""
        if self.half == "bf16":
            np.left_shift(src, 16, out=dst.view(np.uint32), dtype=np.uint32)
        else:
            np.copyto(dst, src, casting="unsafe")

    def from_wire(self, src, dst):
        """Converts reduced elements back (round to nearest even for the half types)."""
        if self.half == "bf16":
            float32_to_bfloat16_bits(src, dst)
        else:
            np.copyto(dst, src, casting="unsafe")


def float32_to_bfloat16_bits(src, dst):
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (NaNs stay NaN, keeping their sign)."""
    b = src.view(np.uint32)
    rounded = b + (np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1)))
    np.right_shift(rounded, 16, out=dst, casting="unsafe")
    nan = np.isnan(src)
    if nan.any():
        dst[nan] = ((b[nan] >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)


def reduce_ufunc(op, dtype, collective):
    op = ReduceOp.of(op)
    if op is ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
        raise CollectiveError(f"{collective}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    return _UFUNC[op]


def _host_array(t, collective):
    if isinstance(t, np.ndarray):
        if not t.flags.writeable:
            raise CollectiveError(f"{collective}: the array is read-only")
        return t, None
    from ...tensor_core import dtypes as dt
    device = getattr(t, "device", None)
    if device is None or not hasattr(t, "numpy"):
        raise TypeError(f"{collective}: expected a vibetensor tensor or numpy array, got {type(t).__name__}")
    if device.type != "cpu":
        raise CollectiveError(f"{collective}: the shared-memory transport takes CPU tensors, got a {device} tensor")
    if t.dtype == dt.bfloat16:
        return t.view(dt.int16).numpy(force=True).view(np.uint16), "bf16"
    arr = t.numpy(force=True)
    return arr, ("f16" if arr.dtype == np.float16 else None)


def check_shapes(collective, out, inp, size, gather):
    """all_gather (gather=True) and reduce_scatter: the big side is `size` times the small one along dim 0."""
    big, small = (out, inp) if gather else (inp, out)
    if big.flat.dtype != small.flat.dtype:
        raise CollectiveError(f"{collective}: output and input dtypes differ ({out.flat.dtype} vs {inp.flat.dtype})")
    if big.numel != small.numel * size or (big.shape[1:] != small.shape[1:] and big.numel):
        which = "output" if gather else "input"
        raise CollectiveError(f"{collective}: the {which} must be {size} times the other along dim 0, got shapes "
                              f"{tuple(out.shape)} (output) and {tuple(inp.shape)} (input)")
