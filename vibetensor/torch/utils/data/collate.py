"""default_collate: a list of samples -> one batch (tensors stacked, numbers to tensors, structure kept)."""
import collections.abc
import numbers

import numpy as np

from .... import _C
from ....tensor_core import factories


def default_convert(data):
    """Numpy arrays inside ``data`` become tensors (what the DataLoader does when it is not batching)."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return factories.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        return out if _is_plain_dict(data) else type(data)(out)
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def default_collate(batch):
    """Stacks a batch the way PyTorch does: tensors and numpy arrays -> ``stack``; Python floats -> float64,
    ints -> int64, bools -> bool tensors; strings stay a list; dicts, tuples and namedtuples are collated
    field by field.

    >>> import vibetensor as vt
    >>> out = default_collate([(vt.tensor([1.0, 2.0]), 0), (vt.tensor([3.0, 4.0]), 1)])
    >>> out[0].tolist(), out[1].tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    """
    if not batch:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, _C.TensorBase):
        return _C._ops.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                            f"found numpy array of dtype {elem.dtype}")
        return _C._ops.stack([factories.as_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic):
        return factories.tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return factories.tensor(batch, dtype=_C.bool)
    if isinstance(elem, numbers.Integral):
        return factories.tensor(batch, dtype=_C.int64)
    if isinstance(elem, numbers.Real):
        return factories.tensor(batch, dtype=_C.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {k: default_collate([d[k] for d in batch]) for k in elem}
        return out if _is_plain_dict(elem) else type(elem)(out)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def _is_plain_dict(d):
    return type(d) is dict


__all__ = ["default_collate", "default_convert"]
