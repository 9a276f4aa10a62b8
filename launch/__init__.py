"""``vibetensor-launch``: start and supervise one rank per GPU (or CPU ranks) on this node.

Each rank gets torchrun's environment plus VIBETENSOR_DEVICE and VIBETENSOR_FABRIC_JOB (see :mod:`.environment`),
is pinned to its GPU's NUMA-local CPUs, and has its output prefixed with ``[rank]``; when a rank
fails the others are stopped within seconds and the failure is reported (:mod:`.supervise`).
Under mpirun or srun the launcher spawns nothing and becomes the rank itself (:mod:`.external`).
See README.md in this folder for commands, two-node examples included.
"""

from .cli import main

__all__ = ["main"]
