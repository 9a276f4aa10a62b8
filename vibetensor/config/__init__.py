"""Every environment variable vibetensor reads or sets, declared once: its type, default and a one-line doc.

Read them with :func:`get` at call time (never at import, unless the doc says so), so tests and callers can
change the environment between calls. The native core reads a few with ``std::getenv`` (their docs say
"read by the native core"); they are declared here all the same, so this table lists everything.

    python -m vibetensor.config                                          # this table
    VIBETENSOR_TOPO_FILE=box.json python -m vibetensor.fabric.topology   # plan a machine you are not on
    VIBETENSOR_P2P_LEVEL=SYS vibetensor-topo                             # allow peer access across sockets
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping

__all__ = ["ConfigError", "Var", "VARS", "get"]


class ConfigError(ValueError):
    """An environment variable holds a value its parser rejects; the message names the variable."""


@dataclass(frozen=True)
class Var:
    """One environment variable: its name, how to parse it, its default and what it does."""

    name: str
    parse: Callable[[str], object]
    default: object
    doc: str


def _level(text: str) -> str:
    # Imported here so config stays at the bottom of the import graph (only topology code reads this one).
    from ..fabric.topology.links import PCIE_KINDS

    value = text.strip().upper()
    if value not in PCIE_KINDS:
        raise ValueError(f"expected one of {', '.join(PCIE_KINDS)}")
    return value


def _size(text: str) -> int:
    value = int(text.strip(), 0)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _flag(text: str) -> bool:
    # The native core's reading: set, non-empty and not "0" is on.
    return text.strip() != "0"


VARS: dict[str, Var] = {
    v.name: v
    for v in (
        # topology discovery and planning
        Var("VIBETENSOR_TOPO_FILE", str, "",
            "describe the machine from this file (JSON or `nvidia-smi topo -m` text) instead of discovering it"),
        Var("VIBETENSOR_P2P_LEVEL", _level, "PXB",
            "farthest PCIe path (PIX, PXB, PHB, NODE, SYS) over which GPUs use peer access, like NCCL_P2P_LEVEL"),
        Var("VIBETENSOR_ONESHOT_MAX_BYTES", _size, None,
            "all-reduces up to this many bytes use one-shot, larger ones the ring (two-shot between GPUs, where "
            "reduce-scatters and all-gathers apply it to their whole message too); unset: each transport's own "
            "crossover (512 KiB between GPUs, compared with the message's size in float32; 256 KiB on CPU ranks "
            "and slots)"),
        Var("VIBETENSOR_PROBE_BYTES", _size, 64 << 20,
            "bytes per copy when --probe measures peer bandwidth"),
        # collectives
        Var("VIBETENSOR_FABRIC_REDUCE_COPY", str, "",
            "the GPU collectives' reduce-copy plugin ('cute' or 'triton'); unset: the fastest available"),
        Var("VIBETENSOR_FABRIC_CAPACITY", _size, 0,
            "data bytes of each rank's persistent GPU collective buffer (larger messages go through it in pieces; "
            "0: the default, 128 MiB)"),
        Var("VIBETENSOR_FABRIC_TS_PROGRAMS", _size, 0,
            "programs per launch of the GPU two-shot collectives (1 to 512; 0: the default, 128), for tuning sweeps"),
        Var("VIBETENSOR_FABRIC_TS_BLOCK", _size, 0,
            "elements per program step of the GPU two-shot collectives, a power of two from 1024 to 16384 (0: the "
            "largest of the collective's blocks, cuda_peer.TS_BLOCKS, that every program gets one of), for tuning "
            "sweeps"),
        Var("VIBETENSOR_FABRIC_RANKS_PER_HOST", _size, 0,
            "under MPI, treat each block of N consecutive ranks as one host (one machine posing as several); "
            "0: hosts as MPI sees them"),
        Var("VIBETENSOR_FABRIC_STATS", str, "",
            "a directory: at exit each process writes its fabric counters and events there as "
            "fabric_rank<RANK>.json (vibetensor-launch --log-dir sets it; read with "
            "python -m vibetensor.fabric.stats)"),
        Var("VIBETENSOR_FABRIC_TIMEOUT", float, 60.0,
            "seconds a rank waits for its peers before raising RankFailure"),
        Var("VIBETENSOR_FABRIC_JOB", str, "",
            "the id shared-memory groups rendezvous on (vibetensor-launch sets it); unset: MASTER_ADDR:MASTER_PORT"),
        Var("VIBETENSOR_FABRIC_SPIN_US", float, 0.0,
            "microseconds a shared-memory wait busy-polls before it polls between sched_yield calls (0: yields "
            "from the first poll, which costs nothing while the ranks have cores of their own and gives the core "
            "away when the scheduler puts two ranks on one)"),
        Var("VIBETENSOR_FABRIC_YIELD_MS", float, 20.0,
            "milliseconds a shared-memory wait yields its core (ranks may outnumber cores) before it naps"),
        Var("VIBETENSOR_FABRIC_DEVICE_TIMING", _flag, False,
            "time GPU collectives on the device (two timing events around each one's kernels; the <kind>.seconds "
            "counters stay 0 without it, a GPU collective returning before it runs); vt.fabric.device_timing(True)"),
        Var("VIBETENSOR_FABRIC_EVENTS", _size, 4096,
            "how many events vt.fabric.events() keeps; read once, when vt.fabric is first imported (it sizes "
            "the ring)"),
        # set by vibetensor-launch for each rank (see launch/README.md)
        Var("VIBETENSOR_DEVICE", str, "",
            "set by vibetensor-launch: the device this rank drives, 'cuda:<i>' or 'cpu'"),
        Var("VIBETENSOR_RESTART_COUNT", _size, 0,
            "set by vibetensor-launch: 0 on the first attempt, then 1, 2, ... (--max-restarts)"),
        Var("VIBETENSOR_LAUNCHER", str, "",
            "set by vibetensor-launch: who started the rank, 'vibetensor-launch', 'mpi' or 'slurm'"),
        Var("VIBETENSOR_CPUS", str, "",
            "set by vibetensor-launch: the CPU list the rank is pinned to (unset: not pinned)"),
        # kernels
        Var("VIBETENSOR_KERNEL_CACHE", str, "",
            "folder for generated kernel sources; unset: $XDG_CACHE_HOME/vibetensor/kernels "
            "(~/.cache/vibetensor/kernels)"),
        # read by the native core (csrc/), not through get()
        Var("VIBETENSOR_NUM_THREADS", int, 0,
            "read by the native core, once: CPU thread-pool size; unset or <= 0: the CPUs this process may run "
            "on (vibetensor-launch sets it for pinned ranks)"),
        Var("VIBETENSOR_CPU_CAPABILITY", str, "",
            "read by the native core, once: cap the CPU kernels' vector extensions at sse2 (or default), avx2 or "
            "avx512 (like ATEN_CPU_CAPABILITY); unset: the CPU's best "
            "(vt.backends.cpu.get_cpu_capability() says which)"),
        Var("VIBETENSOR_CUDA_SYNC_CHECKS", _flag, False,
            "read by the native core, once: every CUDA indexing launch synchronizes and raises its device-side "
            "error at once (debugging)"),
        Var("VIBETENSOR_ATTENTION_CONFIG", str, "",
            "read by the native core, once: fused-attention tuning entries replacing csrc/cuda/attention.cpp's "
            "table, e.g. 'fwd:128=128,64,8,3;dq:64=128,64,8,3' ([f32.]<pass>:<head dim>=BLOCK_M,BLOCK_N,warps,stages; "
            "f32. sets the float32 table)"),
        Var("VIBETENSOR_CUBLASLT_LIBRARY", str, "",
            "read by the native core, on first load: path or soname of libcublasLt, or 'none' for the Triton "
            "GEMM; unset: the pip wheel, sys.path, then the system"),
        # development only
        Var("VIBETENSOR_TEST_KEEP_GOING", _flag, False,
            "read by the test suite's MPI ranks: a rank whose peer failed keeps going instead of aborting"),
        Var("VIBETENSOR_LONG_TESTS", _flag, False,
            "read by the test suite: 1 runs the soak-sized variants of the `long` reliability tests"),
        Var("VIBETENSOR_MAX_ERRORS", _size, 40,
            "read by dev-build.sh: how many compiler error lines to show"),
    )
}


def get(name: str, environ: Mapping[str, str] | None = None, error: type[ValueError] = ConfigError) -> object:
    """Value of a declared variable: parsed from the environment, or its default when unset or empty.

    An unparsable value raises ``error`` (a ValueError; the topology passes its TopologyError) naming it.

    >>> get("VIBETENSOR_P2P_LEVEL", {})
    'PXB'
    >>> get("VIBETENSOR_FABRIC_TIMEOUT", {"VIBETENSOR_FABRIC_TIMEOUT": "2.5"})
    2.5
    >>> get("VIBETENSOR_PROBE_BYTES", {"VIBETENSOR_PROBE_BYTES": "-1"})
    Traceback (most recent call last):
    ...
    vibetensor.config.ConfigError: VIBETENSOR_PROBE_BYTES='-1' is invalid: must be >= 0
    """
    var = VARS[name]
    env = os.environ if environ is None else environ
    raw = env.get(name, "")
    if raw == "":
        return var.default
    try:
        return var.parse(raw)
    except ValueError as exc:
        raise error(f"{name}={raw!r} is invalid: {exc}") from None
