"""vt.fabric: the machine's devices as a graph (topology), placement, collectives, sync and observability.

`init()` joins the world group from a torchrun-style environment (vibetensor-launch sets it); `get_group()`
returns it; `destroy()` leaves. `virtual_devices()` and `LocalGroup` drive several devices from one process;
`Mesh`/`Shard`/`Replicate`/`Partial` and `distribute` place tensors on them. For training:
`DataParallel` (gradients averaged in buckets during backward), `DistributedSampler`, and rank-0
`save_checkpoint` / `load_checkpoint`.
"""
from . import observe  # noqa: F401
from .collectives.api import CollectiveError, Group, RankFailure, ReduceOp, Work  # noqa: F401
from .collectives.local import LocalGroup  # noqa: F401
from .collectives.local_devices import VirtualDevice, virtual_devices  # noqa: F401
from .checkpoint import load_checkpoint, save_checkpoint  # noqa: F401
from .data_parallel import DataParallel  # noqa: F401
from .init import destroy, get_group, init, is_initialized, register_backend  # noqa: F401
from .observe import counters, device_timing, events  # noqa: F401
from .placement import FabricTensor, Mesh, Partial, PlacementError, Replicate, Shard, distribute  # noqa: F401
from .sampler import DistributedSampler  # noqa: F401
from .sync import barrier, peer_add, peer_copy, wait_for  # noqa: F401
