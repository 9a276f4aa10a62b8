"""Which device each rank drives and which CPUs it is pinned to.

GPU ranks get their GPU's NUMA-local CPUs from the topology (:mod:`vibetensor.fabric.topology`);
ranks that share a pool of CPUs (CPU ranks, or several ranks on one GPU) split it evenly, so two
ranks never fight over one core when there are enough to go round. Every set is intersected with
the CPUs the launcher itself may use (a cgroup, ``taskset`` or Slurm may have narrowed them).

The topology package (networkx, cuda-python) is imported only when the machine has an NVIDIA
driver: on a CPU machine the launcher starts without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["Placement", "gpu_count", "split_evenly", "place_ranks", "gpu_cpu_pools"]


@dataclass(frozen=True)
class Placement:
    """Where one local rank runs: ``device`` ("cuda:<i>" or "cpu") and the CPUs it is pinned to
    (``None``: not pinned)."""

    device: str
    cpus: tuple[int, ...] | None


def _driver_present() -> bool:
    # Cheap check first: loading cuda-python on a machine with no driver costs a few hundred ms.
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def gpu_count(environ: dict[str, str] | None = None) -> int:
    """GPUs this process can see (the CUDA runtime applies CUDA_VISIBLE_DEVICES); 0 without a driver."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    if not _driver_present():
        return 0
    from vibetensor.fabric.topology import cuda_device_count

    return cuda_device_count()


def split_evenly(pool: Sequence[int], n: int) -> list[tuple[int, ...]]:
    """``pool`` cut into ``n`` contiguous, near-equal parts; with fewer CPUs than parts, parts
    share CPUs round-robin (one CPU each).

    >>> split_evenly([0, 1, 2, 3, 4], 2)
    [(0, 1, 2), (3, 4)]
    >>> split_evenly([0, 1], 3)
    [(0,), (1,), (0,)]
    """
    cpus = sorted(pool)
    if not cpus or n <= 0:
        return [() for _ in range(max(n, 0))]
    if n >= len(cpus):
        return [(cpus[i % len(cpus)],) for i in range(n)]
    base, extra = divmod(len(cpus), n)
    parts, start = [], 0
    for i in range(n):
        size = base + (1 if i < extra else 0)
        parts.append(tuple(cpus[start:start + size]))
        start += size
    return parts


def gpu_cpu_pools(ngpus: int) -> tuple[list[tuple[int, ...]] | None, str | None]:
    """Each visible GPU's NUMA-local CPUs from the discovered topology, or (None, why not)."""
    try:
        from vibetensor.fabric.topology import discover, gpu_affinity, gpus

        g = discover()
        found = gpus(g)
        if len(found) < ngpus:
            return None, f"the topology shows {len(found)} GPU(s), expected {ngpus}"
        return [gpu_affinity(g, i).cpus for i in range(ngpus)], None
    except Exception as exc:  # noqa: BLE001 - binding is an optimisation; never fail the launch over it
        return None, f"topology discovery failed: {exc}"


def place_ranks(nlocal: int, ngpus: int, bind: bool, allowed: Sequence[int] | None = None,
                gpu_pools: Callable[[int], tuple[list[tuple[int, ...]] | None, str | None]] = gpu_cpu_pools,
                ) -> tuple[list[Placement], list[str]]:
    """Device and CPU set for local ranks ``0..nlocal-1``, plus notes on anything that went wrong.

    With GPUs, local rank ``i`` drives ``cuda:<i % ngpus>`` (ranks may share a GPU); without, "cpu".

    >>> [p.cpus for p in place_ranks(2, 0, True, allowed=range(8))[0]]
    [(0, 1, 2, 3), (4, 5, 6, 7)]
    >>> place_ranks(2, 2, True, allowed=range(8), gpu_pools=lambda n: ([(0, 1, 2, 3), (4, 5, 6, 7)], None))[0][1]
    Placement(device='cuda:1', cpus=(4, 5, 6, 7))
    """
    devices = [f"cuda:{i % ngpus}" if ngpus else "cpu" for i in range(nlocal)]
    if not bind:
        return [Placement(d, None) for d in devices], []
    allowed_set = set(os.sched_getaffinity(0) if allowed is None else allowed)
    notes: list[str] = []
    # One pool of CPUs per distinct device; the ranks on a device split its pool.
    pools: dict[str, tuple[int, ...]] = {}
    if ngpus:
        per_gpu, why = gpu_pools(ngpus)
        for i in range(min(ngpus, nlocal)):
            local = tuple(c for c in (per_gpu[i] if per_gpu else ()) if c in allowed_set)
            if per_gpu and not local:
                notes.append(f"GPU {i}'s local CPUs are outside this process's CPU set; not pinning its ranks")
            pools[f"cuda:{i}"] = local
        if why:
            notes.append(f"not pinning ranks to CPUs: {why}")
    else:
        pools["cpu"] = tuple(sorted(allowed_set))
    shares: dict[str, list[tuple[int, ...]]] = {
        dev: split_evenly(pool, devices.count(dev)) for dev, pool in pools.items()}
    placements = []
    for dev in devices:
        part = shares[dev].pop(0) if shares[dev] else ()
        placements.append(Placement(dev, part or None))
    return placements, notes
