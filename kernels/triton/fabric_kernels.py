"""The fabric's Triton kernels (layout, protocol and keys: fabric.py). Literal offsets below are the layout's
(Triton cannot read plain module globals); fabric._check_layout keeps them in step."""
import triton
import triton.language as tl


@triton.jit
def _now():
    return tl.inline_asm_elementwise("mov.u64 $0, %globaltimer;", "=l", [], dtype=tl.int64, is_pure=False,
                                     pack=1)


@triton.jit
def _header(flags, p):
    return tl.load(flags + p).to(tl.pointer_type(tl.int32))


@triton.jit
def _wait_at_least(slot, target, status, peer, timeout_ns, t0, ok, TIMED: tl.constexpr,
                   SPINS: tl.constexpr):
    """Polls slot (acquire, system scope) until it reaches target; on timeout records the peer. Returns ok."""
    if ok != 0:
        # Poll with plain volatile loads (an atomic per poll would contend with every other waiter), then
        # one acquire once the value is there: it orders this rank's later reads after the writer's release.
        v = tl.load(slot, volatile=True)
        spins = 0
        while (v - target < 0) & (ok != 0):
            spins += 1
            if TIMED:
                expired = _now() - t0 > timeout_ns
            else:
                expired = spins > SPINS
            if expired:
                tl.store(status, peer + 1)
                ok = 0
            else:
                v = tl.load(slot, volatile=True)
        if ok != 0:
            tl.atomic_add(slot, 0, sem="acquire", scope="sys")
    return ok


@triton.jit
def _barrier(flags, me, phase, pid, rank, epoch, status, timeout_ns, ok, WORLD: tl.constexpr,
             TIMED: tl.constexpr, SPINS: tl.constexpr):
    """Program `pid` of every rank meets: tells each peer it reached `epoch` of `phase`, then waits for all."""
    tl.debug_barrier()  # every thread's stores precede the release below
    if ok != 0:
        for p in tl.static_range(WORLD):
            slot = _header(flags, p) + ((phase * 128 + pid) * 16 + rank)
            tl.atomic_xchg(slot, epoch, sem="release", scope="sys")
        t0 = 0
        if TIMED:
            t0 = _now()
        for p in tl.static_range(WORLD):
            ok = _wait_at_least(me + ((phase * 128 + pid) * 16 + p), epoch, status, p, timeout_ns, t0, ok, TIMED,
                                SPINS)
    tl.debug_barrier()
    return ok


@triton.jit
def _combine(acc, x, OP: tl.constexpr):
    if OP == 0:
        return acc + x
    elif OP == 1:
        return tl.maximum(acc, x)
    else:
        return tl.minimum(acc, x)


@triton.jit
def oneshot_all_reduce(in_ptr, out_ptr, bufs, flags, status, n, rank, timeout_ns, programs, WORLD: tl.constexpr,
                       BLOCK: tl.constexpr, OP: tl.constexpr, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """out <- the reduction of every rank's `in` (n elements), in one kernel: each program copies its share of
    the input into this rank's buffer, meets the same program of every peer, reduces that share over all
    buffers in rank order (so every rank gets bitwise the same result), and meets them again before the
    buffer may be reused. out may alias in."""
    pid = tl.program_id(0)
    ok = (tl.load(status, volatile=True) == 0).to(tl.int32)
    me = _header(flags, rank)
    epoch = tl.load(me + (6144 + pid)) + 1  # EPOCH_OFF + PHASE_IN * MAX_PROGRAMS + pid
    elt = in_ptr.dtype.element_ty
    mine = tl.load(bufs + rank).to(tl.pointer_type(elt))
    if ok != 0:
        for start in range(pid * BLOCK, n, programs * BLOCK):
            offs = start + tl.arange(0, BLOCK)
            m = offs < n
            tl.store(mine + offs, tl.load(in_ptr + offs, mask=m), mask=m)
    ok = _barrier(flags, me, 0, pid, rank, epoch, status, timeout_ns, ok, WORLD, TIMED, SPINS)
    if ok != 0:
        for start in range(pid * BLOCK, n, programs * BLOCK):
            offs = start + tl.arange(0, BLOCK)
            m = offs < n
            acc = tl.load(tl.load(bufs).to(tl.pointer_type(elt)) + offs, mask=m).to(tl.float32)
            for p in tl.static_range(1, WORLD):
                x = tl.load(tl.load(bufs + p).to(tl.pointer_type(elt)) + offs, mask=m).to(tl.float32)
                acc = _combine(acc, x, OP)
            tl.store(out_ptr + offs, acc.to(elt), mask=m)
    ok = _barrier(flags, me, 1, pid, rank, epoch, status, timeout_ns, ok, WORLD, TIMED, SPINS)
    tl.store(me + (6144 + pid), epoch)


@triton.jit
def barrier(flags, status, rank, timeout_ns, WORLD: tl.constexpr, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """Every rank's stream meets here (one program): work before it on any rank, including writes to its
    buffer, is visible to work after it on every rank."""
    ok = (tl.load(status, volatile=True) == 0).to(tl.int32)
    me = _header(flags, rank)
    epoch = tl.load(me + (6144 + 2 * 128)) + 1  # EPOCH_OFF + PHASE_BARRIER * MAX_PROGRAMS
    ok = _barrier(flags, me, 2, 0, rank, epoch, status, timeout_ns, ok, WORLD, TIMED, SPINS)
    tl.store(me + (6144 + 2 * 128), epoch)


@triton.jit
def ring_sync(flags, status, rank, signal_a, signal_b, signal_rel, wait_a, wait_rel_a, wait_b, wait_rel_b,
              advance, timeout_ns, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """One ring step boundary (one program): publish this rank's counter (base + signal_rel) to ranks signal_a
    and signal_b (-1: nobody), then wait until rank wait_a's counter reaches base + wait_rel_a and wait_b's
    base + wait_rel_b (-1: no wait), then add `advance` to the base (the last boundary of a collective)."""
    ok = (tl.load(status, volatile=True) == 0).to(tl.int32)
    me = _header(flags, rank)
    base = tl.load(me + 6544)  # RING_BASE
    if ok != 0:
        if signal_a >= 0:
            tl.atomic_xchg(_header(flags, signal_a) + (6528 + rank), base + signal_rel, sem="release", scope="sys")
        if signal_b >= 0:
            tl.atomic_xchg(_header(flags, signal_b) + (6528 + rank), base + signal_rel, sem="release", scope="sys")
    t0 = 0
    if TIMED:
        t0 = _now()
    if wait_a >= 0:
        ok = _wait_at_least(me + (6528 + wait_a), base + wait_rel_a, status, wait_a, timeout_ns, t0, ok, TIMED,
                            SPINS)
    if wait_b >= 0:
        ok = _wait_at_least(me + (6528 + wait_b), base + wait_rel_b, status, wait_b, timeout_ns, t0, ok, TIMED,
                            SPINS)
    tl.store(me + 6544, base + advance)



@triton.jit
def reduce_copy(dst, a, b, n, OP: tl.constexpr, BLOCK: tl.constexpr):
    """dst <- a (op) b in float32, rounded once (the Triton reduce-copy plugin; `a` may be a peer's memory)."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(a + offs, mask=m).to(tl.float32)
    y = tl.load(b + offs, mask=m).to(tl.float32)
    tl.store(dst + offs, _combine(x, y, OP).to(dst.dtype.element_ty), mask=m)
