"""Triton kernels of the fabric's GPU collectives: flags in peer memory and the one-shot (LL) collectives.

Every rank owns one peer segment (csrc/cuda/peer.h): a header of int32 flag words, then its data buffer.
Kernels get two device tables of int64 addresses, one entry per rank as *this* rank sees it (UVA in one
process, IPC mappings between processes): `bufs` (data buffers) and `flags` (headers). Header layout (int32
words, HEADER_BYTES in all, so the data buffer stays 16-byte aligned):

    [BAR_OFF + p]       barrier slot written by rank p
    [BAR_EPOCH]         this rank's count of barriers (local)
    [RING_OFF + p]      ring step counter written by rank p
    [RING_BASE]         this rank's ring counter base (local)
    [LL_EPOCH]          this rank's count of one-shot calls (local)
    [LL_DONE]           programs of the running one-shot call that finished (local)
    [DEV_STATUS]        this rank's copy of the status word (local; kernels read it, not the host's)
    [TS_BAR + pid * MAX_WORLD + p]  two-shot program pid's meeting word written by rank p
    [TS_EPOCH + pid]    this rank's count of two-shot calls that ran program pid (local)

The one-shot all-reduce, reduce-scatter and all-gather use the LL region that follows the data buffer (at byte
ll_off of `bufs`): int64 words [parity][source rank][ll_words], each a flag in the upper half and in the lower
one float32 value's bits or two 16-bit values' (ll_pack), pushed there by the source rank.

Flag values come from counters kept in device memory, never from kernel arguments, so a captured CUDA
graph replays with fresh values. A writer's data is published with a system-scope release (after a CTA
barrier, so every thread's stores are covered) and read after a system-scope acquire. Counters are int32
and compared wrap-safely (`v - target < 0`).

Waits are bounded: with TIMED (compiled kernels) a wait gives up after timeout_ns of %globaltimer, without
it (the CPU interpreter, which has no timer) after MAX_SPINS polls. A rank that gives up records
`1 + the missing rank` in the host-mapped status word and in its header's copy (DEV_STATUS), skips the rest
of its work, and so does every later kernel of that rank (they check the copy first: reading host-mapped
memory costs each program a PCIe round trip, and those serialise, ~4 us each on H200s); the host raises
RankFailure on its next call.

The kernels are in fabric_kernels.py (imported when one is compiled: Triton is optional here).

Keys: fab|ll|<dtype>|<op>|<world>|<block> (the one-shot all-reduce: LL words per program step),
fab|llr|<dtype>|<op>|<world>|<block> (the one-shot of every rank of a group on one GPU, in one launch),
fab|llc|<dtype>|<op>|<world>|<block>|<mode> (the one-shot over chunks `per` elements apart: mode 1
reduce-scatter, 2 all-gather),
fab|tp|<dtype>|<op>|<world>|<block>|<vec>|<mode> (the two-shot push programs, each a whole message in one
launch: mode 0 all-reduce, 1 reduce-scatter, 2 all-gather; vec: elements per 16-byte vector, 1 where the
tensors are not 16-byte aligned),
fab|dar|<dtype>|<op>|<world>|<block>|<vec> (the direct all-reduce of one process's members: no flags),
fab|sync|<world>, fab|barrier|<world>, fab|rc|<dtype>|<op>|<block> (the Triton reduce-copy step).
"""
from .elementwise import SIGNATURE_TYPES

MAX_WORLD = 16
BAR_OFF = 0
BAR_EPOCH = BAR_OFF + MAX_WORLD
RING_OFF = BAR_EPOCH + 16  # the ring counters start a 64-byte line of their own
RING_BASE = RING_OFF + MAX_WORLD
LL_EPOCH, LL_DONE, DEV_STATUS = RING_BASE + 1, RING_BASE + 2, RING_BASE + 3
MAX_PROGRAMS = 512  # two-shot programs a launch may have (cuda_peer.Endpoint.ts_programs: how many it has)
TS_BAR = 64
TS_EPOCH = TS_BAR + MAX_PROGRAMS * MAX_WORLD
HEADER_BYTES = 36864  # keeps the data buffer 128-byte aligned for vector loads
assert (TS_EPOCH + MAX_PROGRAMS) * 4 <= HEADER_BYTES
NUM_WARPS = 4  # data kernels (one-shot, reduce-copy); flag-only kernels take one warp (num_warps)
OPS = {"sum": 0, "max": 1, "min": 2}
RC_BLOCK = 2048
MAX_SPINS = 1 << 20
LAUNCH_RANKS = 8  # ranks the one-launch kernels (fab|llr, fab|dar) take: one pointer argument each


def launch_pointers(addrs):
    """The LAUNCH_RANKS pointer arguments of a one-launch kernel: a rank's address each, the unused ones the
    first (never read: the kernel's WORLD stops before them)."""
    return [("ptr", a) for a in addrs] + [("ptr", addrs[0])] * (LAUNCH_RANKS - len(addrs))


def ll_pack(itemsize):
    """Elements one LL word carries, by the float dtype's size: two of a 16-bit one (a 256 KB bfloat16 one-shot
    on 4 virtual GPUs of an H100 moved a float32 word per value: 13.5 us where 256 KB of float32 took 10.4)."""
    return 2 if itemsize == 2 else 1


def _check_layout():
    # The kernels spell the offsets as literals (Triton cannot read module globals that are not constexpr on
    # every version we support); this keeps the literals and the layout in step.
    assert (BAR_OFF, BAR_EPOCH, RING_OFF, RING_BASE, LL_EPOCH, LL_DONE, DEV_STATUS, TS_BAR, TS_EPOCH, MAX_WORLD) == \
        (0, 16, 32, 48, 49, 50, 51, 64, 8256, 16)


_check_layout()

_INTS = {"n": "i64", "rank": "i32", "timeout_ns": "i64", "ll_off": "i64", "ll_words": "i64"}
_LLR_INTS = {k: v for k, v in _INTS.items() if k != "rank"}
_LLC_INTS = {"n": "i64", "per": "i64", **{k: v for k, v in _INTS.items() if k != "n"}}
_MORE = {"tp": ("VEC", "MODE"), "llc": ("MODE",)}  # constexprs from a key's fields past the block
_TP_INTS = {"n": "i64", "per": "i64", "length": "i64", "stride": "i64", "rank": "i32", "timeout_ns": "i64"}


def load(key, cache_dir=None, module_suffix="", timed=True):
    """(jit function, signature, constexprs) for a fab|... key."""
    from . import fabric_kernels as k
    parts = key.split("|")
    kind = parts[1] if len(parts) > 1 and parts[0] == "fab" else None
    spins = {"TIMED": timed, "SPINS": MAX_SPINS}
    if kind in ("ll", "llr", "llc", "tp"):  # the one-shots (ll, llr: all-reduce; llc: chunks), the push programs
        _, _, dtype, op, world, block, *more = parts
        t = "*" + SIGNATURE_TYPES[dtype]
        fn, ptrs, ints = {"ll": (k.ll_all_reduce, ("in_ptr", "out_ptr"), _INTS),
                          "llr": (k.ll_all_reduce_ranks, [f"p{r}" for r in range(LAUNCH_RANKS)], _LLR_INTS),
                          "llc": (k.ll_collective, ("in_ptr", "out_ptr"), _LLC_INTS),
                          "tp": (k.push_collective, ("in_ptr", "out_ptr"), _TP_INTS)}[kind]
        sig = {**{p: t for p in ptrs}, "bufs": "*i64", "flags": "*i64", "status": "*i32", **ints}
        extra = dict(zip(_MORE.get(kind, ()), map(int, more)))
        if kind == "llc" and extra.get("MODE") not in (1, 2):
            raise ValueError(f"fab|llc serves mode 1 (reduce-scatter) or 2 (all-gather), got {key!r}")
        cx = {"WORLD": int(world), "BLOCK": int(block), "OP": OPS[op], **extra, **spins}
        if kind != "tp":
            cx["PACK"] = ll_pack(int(SIGNATURE_TYPES[dtype][2:]) // 8)  # fp32, bf16, fp16
        _check_world(int(world), LAUNCH_RANKS if kind == "llr" else MAX_WORLD)
        sig.update({k: "constexpr" for k in cx})
        return fn, sig, cx
    if kind == "dar":  # the direct all-reduce: one kernel over every member's tensor
        _, _, dtype, op, world, block, vec = parts
        _check_world(int(world), LAUNCH_RANKS)
        t = "*" + SIGNATURE_TYPES[dtype]
        cx = {"WORLD": int(world), "BLOCK": int(block), "OP": OPS[op], "VEC": int(vec)}
        sig = {**{f"p{r}": t for r in range(LAUNCH_RANKS)}, "n": "i64", **{k: "constexpr" for k in cx}}
        return k.direct_all_reduce, sig, cx
    if kind == "rc":
        _, _, dtype, op, block = parts
        t = "*" + SIGNATURE_TYPES[dtype]
        cx = {"OP": OPS[op], "BLOCK": int(block)}
        return k.reduce_copy, {"dst": t, "a": t, "b": t, "n": "i64", "OP": "constexpr", "BLOCK": "constexpr"}, cx
    if kind == "barrier":
        _check_world(int(parts[2]))
        sig = {"flags": "*i64", "status": "*i32", "rank": "i32", "timeout_ns": "i64"}
        cx = {"WORLD": int(parts[2]), **spins}
        sig.update({k: "constexpr" for k in cx})
        return k.barrier, sig, cx
    if kind == "sync":
        sig = {"flags": "*i64", "status": "*i32", "rank": "i32", "signal_a": "i32", "signal_b": "i32",
               "signal_rel": "i32", "wait_a": "i32", "wait_rel_a": "i32", "wait_b": "i32", "wait_rel_b": "i32",
               "advance": "i32", "timeout_ns": "i64"}
        sig.update({k: "constexpr" for k in spins})
        return k.ring_sync, sig, dict(spins)
    raise ValueError(f"not a fabric kernel key: {key!r}")


def aligned_args(key):
    """The Triton reduce-copy step's aligned form (kernels.compile.ALIGNED), taken where dst, a and b are 16-byte
    aligned and n a multiple of 16 (fabric/collectives/reduce_copy.py checks): 16-byte accesses, as the CuTe
    step's vector form. The flag and push kernels state their alignment themselves (their VEC)."""
    if key.split("|")[1] != "rc":
        raise KeyError(f"fabric key {key!r}: only the reduce-copy step (fab|rc) has an aligned form")
    return ["dst", "a", "b", "n"]


def num_warps(key):
    """Flag kernels: one warp; two-shot programs: one warp per 1024 elements of their block (8 for 8192: 4
    gave 1-2% less bandwidth on 4 x H200), at least NUM_WARPS; the other data kernels NUM_WARPS."""
    parts = key.split("|")
    if parts[1] in ("sync", "barrier"):
        return 1
    return max(NUM_WARPS, int(parts[5]) // 1024) if parts[1] == "tp" else NUM_WARPS


def _check_world(world, most=MAX_WORLD):
    if not 1 <= world <= most:
        raise ValueError(f"this fabric kernel serves 1 to {most} ranks, got {world}")
