"""vt.fabric: the machine's devices as a graph (topology), placement, collectives, sync and observability."""
from . import observe  # noqa: F401
# placement / virtual devices / in-process sync (helper "placement")
from .collectives.local import LocalGroup  # noqa: F401
from .collectives.local_devices import VirtualDevice, virtual_devices  # noqa: F401
from .placement import FabricTensor, Mesh, Partial, PlacementError, Replicate, Shard, distribute  # noqa: F401
from .sync import barrier, peer_add, peer_copy, wait_for  # noqa: F401
