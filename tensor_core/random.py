"""Seeds, generator state and Generator objects for the random ops.

Every random op (``vt.rand``, ``vt.randn``, ``vt.randint``, ``vt.randperm``, ``vt.bernoulli``,
``vt.multinomial``, ``vt.dropout``, ``Tensor.normal_`` / ``uniform_`` / ``bernoulli_``) draws from a
counter-based Philox4x32-10 generator: a 64-bit seed and an offset. An op reserves a range of counters and
fills its elements from them independently, so the same seed gives the same numbers whatever
``vt.set_num_threads`` says. The stream layout (for other devices' kernels) is in csrc/core/philox.h.

>>> import vibetensor as vt
>>> _ = vt.manual_seed(0)
>>> a = vt.rand(3)
>>> _ = vt.manual_seed(0)
>>> vt.rand(3).tolist() == a.tolist()
True
"""
import contextlib

from .. import _C

Generator = _C.Generator
#: The CPU's default generator: what random ops draw from unless `use_generator` says otherwise.
default_generator = _C._default_generator("cpu")


def manual_seed(seed):
    """Seeds every device's default generator (restarting its stream) and returns ``default_generator``.

    Negative seeds wrap to 64 bits, like PyTorch's: ``manual_seed(-1).initial_seed() == 2**64 - 1``.
    """
    _C._manual_seed_all(seed)
    return default_generator


def seed():
    """Seeds every default generator with a fresh non-deterministic seed and returns that seed."""
    s = default_generator.seed()
    _C._manual_seed_all(s)
    return s


def initial_seed():
    """The seed the CPU default generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state():
    """The CPU default generator's state: a uint8 tensor (seed, then offset, little-endian uint64 each)."""
    return default_generator.get_state()


def set_rng_state(new_state):
    """Restores a state from ``get_rng_state()`` (a uint8 tensor, or the same 16 bytes as ``bytes``)."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(enabled=True):
    """Random draws inside the block leave the CPU default generator as it was before.

    >>> import vibetensor as vt
    >>> _ = vt.manual_seed(1)
    >>> with vt.random.fork_rng():
    ...     _ = vt.rand(100)
    >>> after = vt.rand(2).tolist()
    >>> _ = vt.manual_seed(1)
    >>> vt.rand(2).tolist() == after
    True
    """
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


@contextlib.contextmanager
def use_generator(generator):
    """Random ops in this thread on ``generator.device`` draw from ``generator`` inside the block.

    >>> import vibetensor as vt
    >>> g = vt.Generator().manual_seed(7)
    >>> with vt.random.use_generator(g):
    ...     a = vt.randn(4)
    >>> with vt.random.use_generator(vt.Generator().manual_seed(7)):
    ...     b = vt.randn(4)
    >>> a.tolist() == b.tolist()
    True
    """
    previous = _C._exchange_thread_generator(generator)
    try:
        yield generator
    finally:
        _C._exchange_thread_generator(previous)


__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "fork_rng", "use_generator"]
