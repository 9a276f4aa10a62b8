"""One device's runtime, Python side: the Tensor class, dtypes and devices, factories, interop, printing.

Everything here sits on the native core (`vibetensor._C`); nothing here knows about more than one device.
"""
from .._C import dtype, device, OutOfMemoryError  # noqa: F401
from .dtypes import *  # noqa: F401,F403
from .tensor import Tensor, Size  # noqa: F401
from .factories import *  # noqa: F401,F403
from .ops import *  # noqa: F401,F403
from .serialization import save_file, load_file  # noqa: F401
from . import library, cuda  # noqa: F401
from .op_namespace import ops  # noqa: F401
from .random import Generator, default_generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state  # noqa: F401,E501
