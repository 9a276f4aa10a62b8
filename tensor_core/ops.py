"""The op table's functions as vt.<name>, plus PyTorch's aliases of them."""
from .. import _C

_table = _C._op_table()
__all__ = sorted({op["base"] for op in _table if op["function"]})
globals().update({name: getattr(_C._ops, name) for name in __all__})

# PyTorch spells some of these twice.
concat = concatenate = _C._ops.cat
clip = _C._ops.clamp
absolute = _C._ops.abs
negative = _C._ops.neg
multiply = _C._ops.mul
subtract = _C._ops.sub
true_divide = _C._ops.div
swapaxes = _C._ops.transpose
__all__ += ["concat", "concatenate", "clip", "absolute", "negative", "multiply", "subtract", "true_divide", "swapaxes"]
