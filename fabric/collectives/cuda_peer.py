"""The GPU transport's engine: each rank's program of the collectives over peer memory, no NCCL.

A rank is an Endpoint: its peer segment (flag header + data buffer, kernels/triton/fabric.py has the layout),
every rank's segment as this rank sees it (the same tensor for virtual devices of one GPU, a peer view in one
process, a CUDA IPC mapping between processes), device tables of those addresses, and the group's
host-mapped status word. The functions below issue one rank's part of a collective on the current stream and
return at once; ranks meet only through flags in device memory, so the same code serves one process per
rank (CudaGroup) and one process driving every rank (LocalGroup over virtual devices), and it can be
captured in a CUDA graph (flag values come from device-side counters).

Algorithms:
- one-shot (small messages): one kernel of the LL protocol (kernels/triton/fabric_kernels._ll_collective): every
  rank pushes its input (reduce_scatter: each peer's chunk of it), each value with a flag in one 64-bit store,
  into each peer's LL region, then reduces what arrived in its own, in rank order (all_gather: copies it out).
  No fence and no barrier: a word validates itself.
- two-shot (above the one-shot crossover): push programs
  (fabric_kernels.push_collective): push each peer its part of its chunk, meet, reduce
  this rank's chunk and push the result to every peer, meet, copy the results in. Every byte between GPUs
  moves by a store, to peers in rotated order (step j: rank r writes to rank r + j), so every link is busy at
  once and no host work runs per step. A collective is one launch whatever its size: its pieces alternate
  between the buffer's halves, and programs go from piece to piece without waiting for the slowest.
- ring (algorithm="ring"): the schedules of schedule.py, data pulled from the predecessor. A step boundary
  (one small kernel) publishes this rank's step counter to both ring neighbours and waits for the
  predecessor's (the data it reads next) and, in the all-gather half of an all-reduce, the successor's (the
  last reader of the chunk it overwrites). The step itself is the reduce-copy plugin (reduce_copy.py: the CuTe
  DSL kernel or Triton) or a copy. The last boundary also waits for the successor to finish, so when a rank's
  collective ends nobody still reads its buffer.
- broadcast and all_to_all: copy in, a barrier kernel, read the peers' buffers, a barrier kernel.
Messages larger than the buffer go through it in pieces (the ring, broadcast and all_to_all: a launch each).
"""
import numpy as np

from . import schedule
from .api import RankFailure, ReduceOp
from .reduce_copy import kernel_keys, op_name, plugin, plugin_name
from ...kernels.triton import fabric as layout
from ... import _C
from ... import config
from ...tensor_core.factories import tensor as _tensor

# Data bytes per rank. A 256 MB all-reduce by the ring on 4 x H200 ran at 178 GB/s bus bandwidth with 32 MB, 239 with
# 128 MB (fewer pieces: fewer step boundaries and launches).
DEFAULT_CAPACITY = 128 << 20
# All-reduces whose LL payload (32 bits per float32 value, per two 16-bit ones: the message's own size) is up to
# ONESHOT_MAX_BYTES take one-shot, larger ones two-shot. Device time on 4 H200s over NVLink
# (benchmarks/multigpu_oneshot_sweep.py, 2026-11-26): one-shot 6.5 us to 32 KB, 8.6 at 128 KB, 23 at 512 KB,
# 46 at 1 MB; a two-shot 25-30 us to 512 KB. Eager against NCCL (multigpu_collectives.py, same machine): the
# two-shot beat the ring at every size from 512 KB to 1 GB (1 GB: 257-279 GB/s bus bandwidth against 236-249).
ONESHOT_MAX_BYTES = 512 << 10
# reduce_scatter and all_gather apply the same crossover to their whole message (reduce_scatter's input,
# all_gather's output), and above it take the two-shot: on 4 x H200 it ran 0.96-1.07x of NCCL's bus bandwidth at
# 32 MB against the ring's 0.61-0.67x, and within 2% of the ring from 128 MB to 1 GB (reduce_scatter;
# all_gather: 0.80-0.97x against 0.62-0.75x).
FLOAT_DTYPES = ("float32", "bfloat16", "float16")
# LL words of one one-shot launch (larger messages go in pieces), its region's stride: every message the auto
# policy sends one-shot in one launch (a 256 KB bfloat16 all-reduce in two launches of 64K took 17.2 us on 4 virtual
# GPUs of an H100, one launch of 64K 10.2).
LL_WORDS = ONESHOT_MAX_BYTES // 4
# Words per program step, the smallest with which every program takes one step (at most LL_MAX_PROGRAMS of
# them), else the largest: a program's steps wait one after another. Graph time on 4 virtual GPUs of an H100,
# float32: 16 KB 8.6 us with 256 against 9.7 with 1024, 64 KB 9.0 against 9.3; 256 KB 9.8 with 1024 against 15.1
# with 256 (four steps a program). 4 x H200 over NVLink chose the cap and 1024 against 2048
# (multigpu_oneshot_sweep.py).
LL_BLOCKS = (256, 1024)
LL_MAX_PROGRAMS = 64
# Two-shot: elements per program step, by collective, the largest of them that every program gets one of (a warp
# per 1024 elements, kernels/triton/fabric.num_warps). At 256 MB on 4 x H200 8192 moved 301 GB/s bus bandwidth in
# float32 and 291 in bfloat16 against 2048's 280 and 261 (NCCL 335-340, same run). The all-reduce leaves out 16384
# (16 warps): on 4 x H200 it moved 227-229 GB/s at 16 MB in bfloat16 against 8192's 246 and 4096's 250 (NCCL
# 254-257), and from 64 MB to 1 GB 294-344 against 8192's 302-345 (benchmarks/results/multigpu_twoshot_block_4xh200
# .json). Reduce-scatter and all-gather keep it: without it the 1 GB reduce-scatter took 2634-2703 us
# (multigpu_collectives_auto_4xh200.json), with it 2529-2552 (multigpu_collectives_rsag_large_4xh200.json, the next
# run on the same machine; NCCL 2494-2572 in both). (On 4 x H100, with the kernel of a launch per piece, 16384 had
# led the all-reduce at 64 MB-1 GB: multigpu_twoshot_whole_4xh100; not measured there since.)
# VIBETENSOR_FABRIC_TS_BLOCK sets one block for every collective.
TS_BLOCKS = {"all_reduce": (2048, 8192), "reduce_scatter": (2048, 8192, 16384), "all_gather": (2048, 8192, 16384)}
# Two-shot programs per launch (up to layout.MAX_PROGRAMS; VIBETENSOR_FABRIC_TS_PROGRAMS overrides, for sweeps).
TS_PROGRAMS = 128


def capacity_of(capacity=None):
    """Data bytes of each rank's buffer: `capacity`, else VIBETENSOR_FABRIC_CAPACITY, else DEFAULT_CAPACITY."""
    return int(capacity or config.get("VIBETENSOR_FABRIC_CAPACITY") or DEFAULT_CAPACITY)


def ll_region_bytes(world):
    """Bytes of a rank's LL region: two parities of one slot per source rank."""
    return 2 * world * LL_WORDS * 8


def ll_offset(capacity):
    """Where the LL region starts in a data buffer of `capacity` bytes (128-byte aligned)."""
    return -(-capacity // 128) * 128


class Status:
    """A group's host-mapped status word: kernels record 1 + a rank that did not arrive in time; the host reads
    it without synchronizing. `issued` names the collectives since the last clean check, for the error."""

    def __init__(self, device):
        self.tensor = _C._cuda.host_mapped(16, device)
        self.words = self.tensor.numpy().view(np.int32)
        self.ptr = self.tensor.data_ptr()
        self.issued = []

    def note(self, name):
        if len(self.issued) < 64:
            self.issued.append(name)

    def check(self, timeout, idle=False):
        """Raises RankFailure if a kernel gave up waiting; idle=True: the group's streams are known finished."""
        missing = int(self.words[0])
        if missing:
            what = self.issued[0] if self.issued else "a collective"
            raise RankFailure(what, [missing - 1], f"did not arrive within {timeout:g} s (GPU transport; the group "
                              "is unusable now)")
        if idle:
            self.issued.clear()


class Endpoint:
    """One rank of a GPU group. views[p]: rank p's whole segment (uint8) as this rank's kernels address it."""

    def __init__(self, rank, world, device, views, status, timeout, capacity, sharing=1):
        """views: segments of segment_bytes(capacity, world); the LL region follows the data buffer. sharing: ranks
        of the group whose kernels run on this rank's GPU at once (virtual devices of one process), 1 otherwise."""
        self.rank, self.world, self.device = rank, world, device
        self.status, self.capacity = status, capacity
        self.ll_words = LL_WORDS  # the LL region's slot stride, as segment_bytes sized it
        self.ll_off = ll_offset(capacity)  # where the LL region starts in each data buffer
        self.ready = set()  # (dtype, op, kind, algorithm, LL_BLOCKS, plugin) whose kernels prepare() loaded
        self._read_tuning(device, sharing)
        # every rank on this GPU and few enough: the one-shot of all of them goes as one launch (oneshot_all_ranks)
        self.one_launch = 1 < world == sharing <= layout.LAUNCH_RANKS
        self.timeout_ns = int(timeout * 1e9)
        self._views = views
        addrs = [v.data_ptr() for v in views]
        self.flags = _tensor(addrs, dtype=_C.int64).to(device)
        self.bufs = _tensor([a + layout.HEADER_BYTES for a in addrs], dtype=_C.int64).to(device)
        self.flags_ptr, self.bufs_ptr = self.flags.data_ptr(), self.bufs.data_ptr()  # kernel arguments, read once

    def _read_tuning(self, device=None, sharing=1):
        """The two-shot's launch shape: programs (fewer where `sharing` ranks run on one GPU at once: at most
        `resident`, co_resident_programs), and one block for every size (0: TS_BLOCKS by collective and size)."""
        self.ts_programs = config.get("VIBETENSOR_FABRIC_TS_PROGRAMS") or TS_PROGRAMS
        self.ts_block = config.get("VIBETENSOR_FABRIC_TS_BLOCK")
        if not 1 <= self.ts_programs <= layout.MAX_PROGRAMS:
            raise ValueError(f"VIBETENSOR_FABRIC_TS_PROGRAMS must be 1 to {layout.MAX_PROGRAMS}, "
                             f"got {self.ts_programs}")
        if self.ts_block and (self.ts_block & (self.ts_block - 1) or not 1024 <= self.ts_block <= 16384):
            raise ValueError("VIBETENSOR_FABRIC_TS_BLOCK must be a power of two from 1024 to 16384, "
                             f"got {self.ts_block}")
        # programs per rank that stay resident beside every sharing rank's (None: a GPU of its own)
        self.resident = co_resident_programs(device, sharing) if sharing > 1 else None
        if self.resident:
            self.ts_programs = min(self.ts_programs, self.resident)

    @property
    def ll_programs(self):
        """The most programs of a launch per rank of the one-shot: LL_MAX_PROGRAMS (read per call: sweeps set it),
        at most `resident`."""
        return min(LL_MAX_PROGRAMS, self.resident or LL_MAX_PROGRAMS)

    def data(self, p, dtype, numel):
        """The first numel elements of rank p's data buffer, as `dtype`."""
        return self._views[p].narrow(0, layout.HEADER_BYTES, numel * dtype.itemsize).view(dtype)

    def elements(self, dtype):
        return self.capacity // dtype.itemsize


def co_resident_programs(device, sharing):
    """Programs per rank when `sharing` ranks' launches run on one GPU at once: one per SM each. The programs of
    every rank wait for each other's (two-shot meetings, one-shot words), so all of them must be resident
    together; 4 virtual ranks of 128 two-shot programs of 8 warps did not fit on an H100 (registers) and waited
    on programs that could not start, until the timeout."""
    sms = _C._cuda.device_properties(device.index)["multi_processor_count"]
    return max(1, sms // sharing)


def segment_bytes(capacity, world):
    """Bytes of a rank's segment: header, data buffer of `capacity` bytes, LL region."""
    if capacity < 4 * world * 128:  # two halves of the two-shot's IN and OUT regions: world slots of a line each
        raise ValueError(f"a {world}-rank GPU group's buffer needs at least {4 * world * 128} bytes "
                         f"(capacity={capacity})")
    return layout.HEADER_BYTES + ll_offset(capacity) + ll_region_bytes(world)


def _sync(ep, signal, rel, waits=(), advance=0):
    """A ring step boundary on the current stream (fabric_kernels.ring_sync)."""
    sig = sorted(set(signal)) + [-1, -1]
    w = list(waits) + [(-1, 0), (-1, 0)]
    args = [("ptr", ep.flags_ptr), ("ptr", ep.status.ptr), ("i32", ep.rank), ("i32", sig[0]),
            ("i32", sig[1]), ("i32", rel), ("i32", w[0][0]), ("i32", w[0][1]), ("i32", w[1][0]),
            ("i32", w[1][1]), ("i32", advance), ("i64", ep.timeout_ns)]
    _C._cuda.launch_kernel(f"fab|sync|{ep.world}", (1, 1, 1), args)


def _barrier(ep):
    args = [("ptr", ep.flags_ptr), ("ptr", ep.status.ptr), ("i32", ep.rank), ("i64", ep.timeout_ns)]
    _C._cuda.launch_kernel(f"fab|barrier|{ep.world}", (1, 1, 1), args)


def _pieces(total, size):
    for lo in range(0, total, max(1, size)):
        yield lo, min(size, total - lo)


def _neighbours(ep):
    nxt, prev = schedule.ring_neighbours(ep.rank, ep.world)
    return prev, nxt


def _chunk(t, bounds, c):
    lo, hi = bounds[c]
    return t.narrow(0, lo, hi - lo)


def _oneshot_key(ep, dtype, op, block, kind="ll", mode=None):
    key = f"fab|{kind}|{dtype.name}|{op_name(op)}|{ep.world}|{block}"  # (per launch: an f-string, not a join)
    return key if mode is None else f"{key}|{mode}"


def _ll_block(words, programs=None):
    return next((b for b in LL_BLOCKS if words <= (programs or LL_MAX_PROGRAMS) * b), LL_BLOCKS[-1])


def _push_key(ep, dtype, op, vec, mode, block):
    return f"fab|tp|{dtype.name}|{op_name(op)}|{ep.world}|{block}|{vec}|{mode}"


def _ts_blocks(ep, kind):
    return (ep.ts_block,) if ep.ts_block else TS_BLOCKS[kind]


def _ts_block(ep, kind, length):
    """The two-shot block of `kind` for chunks of `length` elements: the largest of its blocks that every program
    gets one of (the variable's, where set: the only one)."""
    blocks = _ts_blocks(ep, kind)
    return max([b for b in blocks if length >= ep.ts_programs * b], default=blocks[0])


_loaded = set()  # (device index, key) of kernels already resident


def _keys(ep, dtype, op, kind, algorithm):
    """The fabric kernels a rank program of `kind` run by `algorithm` on dtype may launch (broadcast,
    all_to_all and barrier: the flag kernels only)."""
    keys = [f"fab|sync|{ep.world}", f"fab|barrier|{ep.world}"]
    if kind not in PUSH_MODES or dtype.name not in FLOAT_DTYPES:
        return keys
    if algorithm == "oneshot" and kind != "all_reduce":
        keys += [_oneshot_key(ep, dtype, op, b, "llc", PUSH_MODES[kind]) for b in LL_BLOCKS]
    elif algorithm == "oneshot":
        kernel = "llr" if ep.one_launch else "ll"  # (LocalGroup.all_reduce: oneshot_all_ranks where it may)
        keys += [_oneshot_key(ep, dtype, op, b, kernel) for b in LL_BLOCKS]
    elif algorithm == "twoshot":
        keys += [_push_key(ep, dtype, op, v, PUSH_MODES[kind], b) for v in {1, 16 // dtype.itemsize}
                 for b in _ts_blocks(ep, kind)]
    elif _reduces_by_plugin(kind, dtype, algorithm):
        keys += kernel_keys(dtype, op)  # the ring's reduce-copy step
    return keys


def _reduces_by_plugin(kind, dtype, algorithm):
    return (kind in PUSH_MODES and kind != "all_gather" and dtype.name in FLOAT_DTYPES
            and algorithm not in ("oneshot", "twoshot"))


def prepare(ep, dtype, op=ReduceOp.SUM, kind="barrier", algorithm=None):
    """Loads every kernel a rank program of (kind, algorithm, dtype, op) may launch before any of its flag
    waits is in flight: under the driver's lazy loading a first launch loads the kernel, and loading may wait
    for running kernels, i.e. for peers whose own programs the host has not issued yet (one process driving
    several ranks; so every rank's prepare comes before any rank's program). Only that algorithm's kernels:
    each is compiled on its first use (seconds), and a job rarely runs every algorithm."""
    # The plugin is part of what is ready: switching VIBETENSOR_FABRIC_REDUCE_COPY between calls (the benchmark
    # does) must load the new plugin's kernels here too, not lazily under a peer's flag wait, which hung.
    plugin_in_effect = plugin_name() if _reduces_by_plugin(kind, dtype, algorithm) else None
    ready = (dtype, op, kind, algorithm, LL_BLOCKS, plugin_in_effect)
    if ready in ep.ready:
        return
    ep.ready.add(ready)
    for key in _keys(ep, dtype, op, kind, algorithm):
        if (ep.device.index, key) not in _loaded:
            _C._cuda.load_kernel(key, ep.device.index)
            _loaded.add((ep.device.index, key))


def _ll_launches(ep, flat, most=None):
    """The one-shot's launches over flat: (element offset, elements, LL words per program step, programs), one
    per LL slot's worth of it; at most `most` programs (default ep.ll_programs: a launch per rank)."""
    total, pack, most = flat.numel(), layout.ll_pack(flat.element_size()), most or ep.ll_programs
    for lo in range(0, total, ep.ll_words * pack):
        m = min(ep.ll_words * pack, total - lo)
        block = _ll_block(-(-m // pack), most)
        yield lo, m, block, min(most, -(-m // (block * pack)))


def _ll_args(ep, m, *mid):
    """An LL kernel's arguments past its tensors, for a launch of m elements; mid: those between n and the
    timeout (per, rank: where the kernel takes them)."""
    return [("ptr", ep.bufs_ptr), ("ptr", ep.flags_ptr), ("ptr", ep.status.ptr), ("i64", m), *mid,
            ("i64", ep.timeout_ns), ("i64", ep.ll_off), ("i64", ep.ll_words)]


def issue(launches, *tensors):
    """Runs prepared launches (_C._cuda.prepare_launch) whose first arguments are offsets into `tensors` (src and
    dst; the one-launch kernels: every rank's), and returns them: a caller that issues this collective again on
    tensors of the same shapes may keep them and call them itself (the groups' fast paths), skipping the planning
    here."""
    addrs = [t.data_ptr() for t in tensors]
    for launch in launches:
        launch(*addrs)
    return launches


def oneshot_all_reduce(ep, flat, op):
    """flat (1-D contiguous, on ep's device) <- its reduction over the ranks, by the LL kernel."""
    size = flat.element_size()
    return issue([_C._cuda.prepare_launch(_oneshot_key(ep, flat.dtype, op, block), (programs, 1, 1),
                                           [("ptr", lo * size), ("ptr", lo * size), *_ll_args(ep, m, ("i32", ep.rank))])
                   for lo, m, block, programs in _ll_launches(ep, flat)], flat, flat)


def oneshot_all_ranks(eps, flats, op):
    """flats[r] <- the reduction of all of them, every rank's LL kernel in one launch on the current stream
    (eps[0].one_launch: the whole group on this GPU; up to LL_MAX_PROGRAMS programs per rank, where a launch
    per rank takes ep.ll_programs). Returns the prepared launches, whose bases are every rank's flat in rank order."""
    ep, size = eps[0], flats[0].element_size()
    return issue([_C._cuda.prepare_launch(_oneshot_key(ep, flats[0].dtype, op, block, "llr"), (programs, ep.world, 1),
                                          [*layout.launch_pointers([lo * size] * ep.world), *_ll_args(ep, m)])
                  for lo, m, block, programs in _ll_launches(ep, flats[0], LL_MAX_PROGRAMS)], *flats)


def _oneshot_chunks(ep, kind, src, dst, chunk, op):
    """The one-shot reduce_scatter or all_gather (fabric_kernels.ll_collective) of chunks of per = chunk.numel()
    elements (the smaller of src and dst): a launch per LL slot's worth of a chunk, each over the same piece
    [lo, lo + m) of every chunk: src and dst go in from element lo, and in the larger one chunk p's piece starts
    p * per elements past that."""
    size, per, mode = src.element_size(), chunk.numel(), PUSH_MODES[kind]
    return issue([_C._cuda.prepare_launch(_oneshot_key(ep, src.dtype, op, block, "llc", mode), (programs, 1, 1),
                                           [("ptr", lo * size), ("ptr", lo * size),
                                            *_ll_args(ep, m, ("i64", per), ("i32", ep.rank))])
                   for lo, m, block, programs in _ll_launches(ep, chunk)], src, dst)


def oneshot_reduce_scatter(ep, flat_in, flat_out, op):
    """flat_out (k) <- the reduction of chunk `rank` of every rank's flat_in (n * k), by the LL kernel."""
    return _oneshot_chunks(ep, "reduce_scatter", flat_in, flat_out, flat_out, op)


def oneshot_all_gather(ep, flat_in, flat_out):
    """flat_out (n * k) <- every rank's flat_in (k), in rank order, by the LL kernel."""
    return _oneshot_chunks(ep, "all_gather", flat_in, flat_out, flat_in, ReduceOp.SUM)


PUSH_MODES = {"all_reduce": 0, "reduce_scatter": 1, "all_gather": 2}


def _align(dtype):
    return max(1, 16 // dtype.itemsize)  # chunks start 16-byte aligned: 16-byte vectors


def _push(ep, kind, src, dst, n, per, op):
    """The push program of `kind` (kernels/triton/fabric_kernels.push_collective), one launch for the whole
    message: chunks of `per` elements of the caller's n (spaced `per` apart), in pieces of as many whole cache
    lines of every chunk as two halves of the buffer hold (all of it where it fits)."""
    size = src.element_size()
    line = 128 // size
    length = max(1, min(per, ep.elements(src.dtype) // (4 * ep.world * line) * line))  # an empty chunk: no piece
    stride = -(-length // line) * line  # slots start on a cache line
    vec = _align(src.dtype)
    if src.data_ptr() % 16 or dst.data_ptr() % 16 or (per * size) % 16:
        vec = 1  # 16-byte vectors only where every chunk of the caller's tensors starts aligned
    args = [("ptr", 0), ("ptr", 0), ("ptr", ep.bufs_ptr), ("ptr", ep.flags_ptr), ("ptr", ep.status.ptr),
            ("i64", n), ("i64", per), ("i64", length), ("i64", stride), ("i32", ep.rank), ("i64", ep.timeout_ns)]
    block = _ts_block(ep, kind, length)
    return issue([_C._cuda.prepare_launch(_push_key(ep, src.dtype, op, vec, PUSH_MODES[kind], block),
                                           (min(ep.ts_programs, max(1, -(-length // block))), 1, 1), args)], src, dst)


def twoshot_all_reduce(ep, flat, op):
    """flat <- its reduction over the ranks by the two-shot push program (all traffic between GPUs by stores):
    chunks of its elements over the ranks, rounded up to a 16-byte vector."""
    vec = _align(flat.dtype)
    return _push(ep, "all_reduce", flat, flat, flat.numel(), max(1, -(-flat.numel() // (ep.world * vec))) * vec, op)


def twoshot_reduce_scatter(ep, flat_in, flat_out, op):
    """flat_out (k) <- the reduction of chunk `rank` of every rank's flat_in (n * k), by pushes."""
    return _push(ep, "reduce_scatter", flat_in, flat_out, flat_in.numel(), flat_out.numel(), op)


def twoshot_all_gather(ep, flat_in, flat_out):
    """flat_out (n * k) <- every rank's flat_in (k), in rank order, by pushes."""
    return _push(ep, "all_gather", flat_in, flat_out, flat_out.numel(), flat_in.numel(), ReduceOp.SUM)


def _ring_steps(ep, mine, prev, bounds, op, reduce, gather, src, dst):
    """The ring's steps over one piece: `reduce` reduce-scatter steps, then `gather` all-gather steps; boundary
    counters are relative to the rank's device-side base. src(c) / dst(c): this rank's input / output chunk c
    in the caller's tensors. The buffer holds only what a successor reads: the chunk sent first is copied in,
    each reduce-scatter step reduces the predecessor's partial sum with src straight into the buffer, and the
    all-gather steps write dst (and the buffer, except the last step: nobody reads that chunk on)."""
    n, (p, q) = ep.world, _neighbours(ep)
    rs, ag = schedule.ring_reduce_scatter(ep.rank, n), schedule.ring_all_gather(ep.rank, n)
    steps = [(True, c) for _, c in rs[:reduce]] + [(False, c) for _, c in ag[:gather]]
    reduce_copy = plugin()[0] if reduce else None
    if reduce:
        _chunk(mine, bounds, rs[0][0]).copy_(src(rs[0][0]))
    else:
        _chunk(mine, bounds, ep.rank).copy_(src(ep.rank))
        dst(ep.rank).copy_(src(ep.rank))
    for t, (is_reduce, c) in enumerate(steps):
        waits = [(p, 1 + t)]
        if not is_reduce and reduce:  # the successor read this chunk in its reduce-scatter step t - reduce
            waits.append((q, 2 + t - reduce))
        _sync(ep, (p, q), 1 + t, waits)
        theirs = _chunk(prev, bounds, c)
        if not theirs.numel():
            continue
        last = t == len(steps) - 1
        if is_reduce:
            reduce_copy(dst(c) if last else _chunk(mine, bounds, c), theirs, src(c), op)
            if t == reduce - 1 and gather:  # this rank's finished chunk, before the gather passes it on
                dst(c).copy_(_chunk(mine, bounds, c))
        elif last:
            dst(c).copy_(theirs)
        else:
            _chunk(mine, bounds, c).copy_(theirs)
            dst(c).copy_(_chunk(mine, bounds, c))
    s = len(steps)
    _sync(ep, (p, q), 1 + s, [(q, 1 + s)], advance=1 + s)


def ring_all_reduce(ep, flat, op):
    n, (p, _) = ep.world, _neighbours(ep)
    for lo, m in _pieces(flat.numel(), ep.elements(flat.dtype)):
        piece = flat.narrow(0, lo, m)
        bounds = schedule.chunk_bounds(m, n, _align(flat.dtype))
        part = lambda c, piece=piece, bounds=bounds: _chunk(piece, bounds, c)  # noqa: E731
        _ring_steps(ep, ep.data(ep.rank, flat.dtype, m), ep.data(p, flat.dtype, m), bounds, op, n - 1, n - 1,
                    part, part)


def ring_reduce_scatter(ep, flat_in, flat_out, op):
    """flat_out (k) <- the reduction of chunk `rank` of every rank's flat_in (n * k)."""
    n, (p, _) = ep.world, _neighbours(ep)
    k = flat_out.numel()
    for lo, m in _pieces(k, ep.elements(flat_in.dtype) // n):
        mine, prev = ep.data(ep.rank, flat_in.dtype, n * m), ep.data(p, flat_in.dtype, n * m)
        bounds = [(i * m, (i + 1) * m) for i in range(n)]
        _ring_steps(ep, mine, prev, bounds, op, n - 1, 0, lambda c, lo=lo, m=m: flat_in.narrow(0, c * k + lo, m),
                    lambda c, lo=lo, m=m: flat_out.narrow(0, lo, m))


def ring_all_gather(ep, flat_in, flat_out):
    """flat_out (n * k) <- every rank's flat_in (k), in rank order."""
    n, (p, _) = ep.world, _neighbours(ep)
    k = flat_in.numel()
    for lo, m in _pieces(k, ep.elements(flat_in.dtype) // n):
        mine, prev = ep.data(ep.rank, flat_in.dtype, n * m), ep.data(p, flat_in.dtype, n * m)
        bounds = [(i * m, (i + 1) * m) for i in range(n)]
        _ring_steps(ep, mine, prev, bounds, ReduceOp.SUM, 0, n - 1, lambda c, lo=lo, m=m: flat_in.narrow(0, lo, m),
                    lambda c, lo=lo, m=m: flat_out.narrow(0, c * k + lo, m))


def broadcast(ep, flat, src):
    for lo, m in _pieces(flat.numel(), ep.elements(flat.dtype)):
        piece = flat.narrow(0, lo, m)
        if ep.rank == src:
            ep.data(src, flat.dtype, m).copy_(piece)
        _barrier(ep)
        if ep.rank != src:
            piece.copy_(ep.data(src, flat.dtype, m))
        _barrier(ep)


def all_to_all(ep, flat_in, flat_out):
    """Chunk j of rank i's flat_in becomes chunk i of rank j's flat_out (n equal chunks)."""
    n = ep.world
    k = flat_in.numel() // n
    for lo, m in _pieces(k, ep.elements(flat_in.dtype) // n):
        mine = ep.data(ep.rank, flat_in.dtype, n * m)
        for j in range(n):
            mine.narrow(0, j * m, m).copy_(flat_in.narrow(0, j * k + lo, m))
        _barrier(ep)
        for i in range(n):
            flat_out.narrow(0, i * k + lo, m).copy_(ep.data(i, flat_in.dtype, n * m).narrow(0, ep.rank * m, m))
        _barrier(ep)


def oneshot_max_bytes(crossover_bytes=None):
    """The largest one-shot all-reduce: crossover_bytes, else VIBETENSOR_ONESHOT_MAX_BYTES, else ONESHOT_MAX_BYTES."""
    if crossover_bytes is None:
        crossover_bytes = config.get("VIBETENSOR_ONESHOT_MAX_BYTES")
    return ONESHOT_MAX_BYTES if crossover_bytes is None else crossover_bytes


def choose_algorithm(numel, itemsize, requested="auto", crossover_bytes=None):
    """The requested algorithm, or for "auto": one-shot while the message's LL payloads (a 32-bit word per float32,
    per two 16-bit values) fit oneshot_max_bytes (crossover_bytes), else the two-shot."""
    if requested in ALGORITHMS:
        return requested
    if requested == "direct":
        raise ValueError("all_reduce: algorithm 'direct' needs one process driving every GPU (LocalGroup)")
    pack = layout.ll_pack(itemsize)
    if schedule.choose_algorithm(4 * -(-numel // pack), 0, oneshot_max_bytes(crossover_bytes), requested,
                                 pairs_oneshot=False) == "oneshot":
        return "oneshot"
    return "twoshot"


ALGORITHMS = {"oneshot": oneshot_all_reduce, "twoshot": twoshot_all_reduce, "ring": ring_all_reduce}


def all_reduce(ep, flat, op, algorithm):
    """Issues the all-reduce by `algorithm`; returns its prepared launches (one-shot and two-shot; None for the ring,
    whose steps are many kernels), for issue's callers that keep them."""
    return ALGORITHMS[algorithm](ep, flat, op)


def scatter_gather_algorithm(kind, numel, dtype, requested="auto", crossover_bytes=None):
    """What a reduce_scatter or an all_gather of numel elements of dtype (its whole message: reduce_scatter's
    input, all_gather's output) runs for `requested`: as asked, or for "auto" the all-reduce's choice for that
    message (choose_algorithm). LL words carry float bits only: other dtypes' "oneshot" or "auto" take the
    two-shot."""
    if requested not in ("auto", *ALGORITHMS):
        raise ValueError(f"{kind}: unknown algorithm {requested!r} (auto, oneshot, twoshot or ring)")
    if dtype.name not in FLOAT_DTYPES and requested != "ring":
        return "twoshot"
    return choose_algorithm(numel, dtype.itemsize, requested, crossover_bytes)


def reduce_scatter(ep, flat_in, flat_out, op, algorithm):
    return _SCATTERS[algorithm](ep, flat_in, flat_out, op)  # (what all_reduce returns)


def all_gather(ep, flat_in, flat_out, algorithm):
    return _GATHERS[algorithm](ep, flat_in, flat_out)


_SCATTERS = {"oneshot": oneshot_reduce_scatter, "twoshot": twoshot_reduce_scatter, "ring": ring_reduce_scatter}
_GATHERS = {"oneshot": oneshot_all_gather, "twoshot": twoshot_all_gather, "ring": ring_all_gather}

