"""Environment variables that steer topology discovery and planning, declared in one place.

Each variable has a type, a default and a one-line doc; read them with :func:`get` at call time
(never at import), so tests and callers can change the environment between calls.

    VIBETENSOR_TOPO_FILE=box.json python -m vibetensor.fabric.topology   # plan a machine you are not on
    VIBETENSOR_P2P_LEVEL=SYS vibetensor-topo                             # allow peer access across sockets
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping

from .errors import TopologyError

__all__ = ["Var", "VARS", "get"]


@dataclass(frozen=True)
class Var:
    """One environment variable: its name, how to parse it, its default and what it does."""

    name: str
    parse: Callable[[str], object]
    default: object
    doc: str


def _level(text: str) -> str:
    # Imported here so config stays at the bottom of the import graph.
    from .links import PCIE_KINDS

    value = text.strip().upper()
    if value not in PCIE_KINDS:
        raise ValueError(f"expected one of {', '.join(PCIE_KINDS)}")
    return value


def _size(text: str) -> int:
    value = int(text.strip(), 0)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


VARS: dict[str, Var] = {
    v.name: v
    for v in (
        Var("VIBETENSOR_TOPO_FILE", str, "",
            "describe the machine from this file (JSON or `nvidia-smi topo -m` text) instead of discovering it"),
        Var("VIBETENSOR_P2P_LEVEL", _level, "PXB",
            "farthest PCIe path (PIX, PXB, PHB, NODE, SYS) over which GPUs use peer access, like NCCL_P2P_LEVEL"),
        Var("VIBETENSOR_ONESHOT_MAX_BYTES", _size, None,
            "all-reduces up to this many bytes use one-shot, larger ones the ring; unset: the cost model decides"),
        Var("VIBETENSOR_PROBE_BYTES", _size, 64 << 20,
            "bytes per copy when --probe measures peer bandwidth"),
        Var("VIBETENSOR_FABRIC_REDUCE_COPY", str, "",
            "the GPU collectives' reduce-copy plugin ('cute' or 'triton'); unset: the fastest available"),
        Var("VIBETENSOR_FABRIC_RANKS_PER_HOST", _size, 0,
            "under MPI, treat each block of N consecutive ranks as one host (one machine posing as several); "
            "0: hosts as MPI sees them"),
    )
}


def get(name: str, environ: Mapping[str, str] | None = None) -> object:
    """Value of a declared variable: parsed from the environment, or its default when unset or empty.

    >>> get("VIBETENSOR_P2P_LEVEL", {})
    'PXB'
    >>> get("VIBETENSOR_P2P_LEVEL", {"VIBETENSOR_P2P_LEVEL": "sys"})
    'SYS'
    """
    var = VARS[name]
    env = os.environ if environ is None else environ
    raw = env.get(name, "")
    if raw == "":
        return var.default
    try:
        return var.parse(raw)
    except ValueError as exc:
        raise TopologyError(f"{name}={raw!r} is invalid: {exc}") from None
