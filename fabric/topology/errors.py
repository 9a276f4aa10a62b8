"""Exceptions raised by the topology package.

Every failure a user can cause (a bad file, an unknown GPU index, an impossible plan) raises a
subclass of :class:`TopologyError`, so callers and the CLI can catch one type and print one line.
"""

from __future__ import annotations

__all__ = ["TopologyError", "TopologyFileError", "SourceUnavailable", "ProbeUnavailable"]


class TopologyError(ValueError):
    """A topology graph or request is invalid (unknown GPU, bad argument, inconsistent data)."""


class TopologyFileError(TopologyError):
    """A topology file cannot be read or parsed; the message names the file and the problem.

    >>> str(TopologyFileError("topo.txt", "line 3: unknown link 'NVX'"))
    "topology file 'topo.txt': line 3: unknown link 'NVX'"
    """

    def __init__(self, origin: str, problem: str):
        self.origin = origin
        self.problem = problem
        super().__init__(f"topology file {origin!r}: {problem}")


class SourceUnavailable(RuntimeError):
    """A discovery source (CUDA, NVML, sysfs) cannot answer on this machine; the message says why."""


class ProbeUnavailable(RuntimeError):
    """The peer-copy probe cannot run here (no CUDA device or no cuda-python); the message says why."""
