"""Argument checks every process-per-rank transport makes the same way (ShmGroup, MpiGroup, HierarchicalGroup).

One place for the messages, so a user moving between one host and several sees the same errors. The checks that
need a tensor's element layout (check_shapes, reduce_ufunc) live beside Operand in shm_data.
"""
from .api import CollectiveError


def check_src(collective, src, size):
    if not 0 <= src < size:
        raise ValueError(f"{collective}: src {src} is out of range for a group of size {size}")


def check_peer(what, peer, rank, size):
    if not 0 <= peer < size or peer == rank:
        raise ValueError(f"{what}: peer {peer} must be another rank of this group (size {size}, this rank {rank})")


def check_all_to_all(out, inp, size):
    """out, inp: shm_data.Operand."""
    if out.numel != inp.numel or out.flat.dtype != inp.flat.dtype or inp.numel % size:
        raise CollectiveError(f"all_to_all: output and input must have the same dtype and number of elements, "
                              f"divisible by the group size {size}; got {tuple(out.shape)} {out.flat.dtype} "
                              f"and {tuple(inp.shape)} {inp.flat.dtype}")


def check_split(ranks, size):
    """The ranks of a split as a list of ints."""
    ranks = [int(r) for r in ranks]
    if len(set(ranks)) != len(ranks) or not all(0 <= r < size for r in ranks):
        raise ValueError(f"split: ranks must be distinct ranks of this group (size {size}), got {ranks}")
    return ranks


def check_usable(kind, closed, broken):
    if closed:
        raise CollectiveError(f"{kind}: the group is closed")
    if broken:
        raise CollectiveError(f"{kind}: the group is unusable after an earlier failure ({broken}); create a new group")
