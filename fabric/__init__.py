"""fabric: topology, collectives and observability.

`init()` joins the world group from a torchrun-style environment; `get_group()` returns it; `destroy()` leaves.
"""
from .collectives.api import CollectiveError, Group, RankFailure, ReduceOp, Work  # noqa: F401
from .init import destroy, get_group, init, is_initialized, register_backend  # noqa: F401
from .observe import counters, events  # noqa: F401
