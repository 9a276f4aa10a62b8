"""PyTorch's random factories take ``generator=``; vibetensor's draw from the generator `use_generator` names.

These wrappers accept the keyword and run the op inside ``use_generator(generator)``.
"""
import functools

from .. import _C
from ..tensor_core.random import use_generator


def accepts_generator(fn):
    @functools.wraps(fn)
    def wrapper(*args, generator=None, **kwargs):
        if generator is None:
            return fn(*args, **kwargs)
        if not isinstance(generator, _C.Generator):
            raise TypeError(f"{fn.__name__}(): generator must be a vibetensor Generator, got "
                            f"{type(generator).__name__}")
        with use_generator(generator):
            return fn(*args, **kwargs)
    return wrapper


_ops = _C._ops
rand = accepts_generator(_ops.rand)
randn = accepts_generator(_ops.randn)
randint = accepts_generator(_ops.randint)
randperm = accepts_generator(_ops.randperm)
multinomial = accepts_generator(_ops.multinomial)
bernoulli = accepts_generator(_ops.bernoulli)


def draw_seed(generator=None):
    """A fresh 63-bit seed drawn from `generator` (the default one when None), as PyTorch's samplers do."""
    return int(randint(0, 2**62, (), generator=generator).item())


__all__ = ["rand", "randn", "randint", "randperm", "multinomial", "bernoulli"]
