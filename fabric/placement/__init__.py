"""fabric.placement: meshes, placements and FabricTensors (one process driving every mesh device)."""
from .mesh import Mesh  # noqa: F401
from .placements import Partial, Placement, Replicate, Shard  # noqa: F401
from .tensor import FabricTensor, PlacementError, distribute  # noqa: F401
from . import ops  # noqa: F401  (installs the ops on FabricTensor)
