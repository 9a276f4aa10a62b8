"""The direct all-reduce of one process driving several GPUs (LocalGroup): one kernel, on the first member's GPU,
reads every member's tensor through peer access, reduces in rank order in float32 and writes the result into
every one of them (kernels/triton/fabric_kernels.direct_all_reduce). No flags, no buffers, nothing to wait for
inside the kernel: stream events order it after every GPU's current stream and every GPU's current stream
after it.

It is for small messages across GPUs: a program per GPU costs each GPU a launch and the host a device switch,
stream switch and launch per member, where this is one launch. All of its bytes cross the first GPU's links
(it reads and writes (n - 1) x the message there), so large messages take the two-shot, which spreads them
over every GPU's links."""
from ... import _C
from ...kernels.triton import fabric as layout
from .cuda_peer import issue
from .reduce_copy import op_name

BLOCK = 1024  # elements per program step (4 warps: a 16-byte vector per thread)
MAX_PROGRAMS = 264  # two per SM of an H100/H200
# "auto" takes it up to this many bytes when the members are on two or more GPUs. It was 4 MB while the per-GPU
# programs cost the host a driver call per step from Python (4 x H100, multigpu_local_4xh100.json: direct 55-125 us
# a call from 8 B to 4 MB against 85-175). With LocalGroup's fast path (one native call, local_plan.py), on 4 x H200
# (multigpu_local_4xh200.json): direct and one-shot alike to 256 KB (20-28 us a call), at 1 MB direct 28-30 against
# the one-shot's 36-39, at 4 MB direct 66-68 against the two-shot's 53-55: one GPU's links carry every byte of the
# direct kernel, the two-shot spreads them over all.
DIRECT_MAX_BYTES = 1 << 20


def key(dtype, op, world, vec):
    return f"fab|dar|{dtype.name}|{op_name(op)}|{world}|{BLOCK}|{vec}"


def usable(world):
    return 1 < world <= layout.LAUNCH_RANKS


def all_reduce(flats, op):
    """flats[r] (1-D contiguous, one per member, any GPUs the current GPU reaches) <- their reduction, one launch
    on the current stream. Returns the prepared launch (None for empty tensors), whose bases are the flats' addresses
    in member order."""
    world, n = len(flats), flats[0].numel()
    if not usable(world):
        raise ValueError(f"the direct all-reduce serves 2 to {layout.LAUNCH_RANKS} members, got {world}")
    if n == 0:
        return None
    size = flats[0].element_size()
    vec = 16 // size if all(f.data_ptr() % 16 == 0 for f in flats) else 1
    args = [*layout.launch_pointers([0] * world), ("i64", n)]
    launch = _C._cuda.prepare_launch(key(flats[0].dtype, op, world, vec), (min(MAX_PROGRAMS, -(-n // BLOCK)), 1, 1),
                                     args)
    return issue([launch], *flats)[0]
