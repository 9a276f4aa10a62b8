"""The dtype objects and their PyTorch-style aliases (vt.float is vt.float32, vt.long is vt.int64 ...)."""
from .. import _C

bool = _C.bool  # noqa: A001 - the dtype, as torch.bool
uint8, int8, int16, int32, int64 = _C.uint8, _C.int8, _C.int16, _C.int32, _C.int64
float16, bfloat16, float32, float64 = _C.float16, _C.bfloat16, _C.float32, _C.float64
half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001

class finfo:  # noqa: N801 - PyTorch's name
    """Machine limits of a floating dtype: bits, eps, max, min, tiny (smallest normal), resolution."""

    _TABLE = {  # bits, eps, max, tiny
        "float16": (16, 2.0**-10, 65504.0, 2.0**-14),
        "bfloat16": (16, 2.0**-7, 3.3895313892515355e38, 1.1754943508222875e-38),
        "float32": (32, 2.0**-23, 3.4028234663852886e38, 1.1754943508222875e-38),
        "float64": (64, 2.0**-52, 1.7976931348623157e308, 2.2250738585072014e-308),
    }

    def __init__(self, dtype=None):
        dtype = dtype or _C.float32
        if dtype.name not in self._TABLE:
            raise TypeError(f"finfo: {dtype} is not a floating point dtype")
        self.dtype = dtype.name
        self.bits, self.eps, self.max, self.tiny = self._TABLE[dtype.name]
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.resolution = 10.0 ** -{"float16": 3, "bfloat16": 2, "float32": 6, "float64": 15}[dtype.name]

    def __repr__(self):
        return f"finfo(resolution={self.resolution}, min={self.min:.6g}, max={self.max:.6g}, eps={self.eps:.6g}, dtype={self.dtype})"


class iinfo:  # noqa: N801
    """Limits of an integer dtype: bits, min, max."""

    _TABLE = {"uint8": (8, 0, 255), "int8": (8, -128, 127), "int16": (16, -32768, 32767),
              "int32": (32, -2**31, 2**31 - 1), "int64": (64, -2**63, 2**63 - 1), "bool": (8, 0, 1)}

    def __init__(self, dtype):
        if dtype.name not in self._TABLE:
            raise TypeError(f"iinfo: {dtype} is not an integer dtype")
        self.dtype = dtype.name
        self.bits, self.min, self.max = self._TABLE[dtype.name]


ALL_DTYPES = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
FLOAT_DTYPES = (float16, bfloat16, float32, float64)

__all__ = ["finfo", "iinfo", "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
           "half", "float", "double", "short", "int", "long"]
