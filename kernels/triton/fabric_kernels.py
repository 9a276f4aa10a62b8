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
def _usable(me):
    """1 unless an earlier kernel of this rank gave up (its header's copy of the status word: device memory,
    where reading the host-mapped word costs every program a trip over PCIe, ~4 us, serialised)."""
    return (tl.load(me + 51) == 0).to(tl.int32)  # DEV_STATUS


@triton.jit
def _give_up(status, me, peer):
    """Records 1 + the peer that did not arrive: in the host-mapped word (the host raises) and the header."""
    tl.store(status, peer + 1)
    tl.store(me + 51, peer + 1)  # DEV_STATUS


@triton.jit
def _in_time(t0, spins, timeout_ns, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """1 while a wait begun at t0 may go on: it has lasted less than timeout_ns (TIMED) or SPINS polls."""
    if TIMED:
        live = (_now() - t0 <= timeout_ns).to(tl.int32)
    else:
        live = (spins <= SPINS).to(tl.int32)
    return live


@triton.jit
def _wait_at_least(slot, target, peer, missing, timeout_ns, t0, ok, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """Polls slot, `peer`'s word (acquire, system scope), until it reaches target; returns (ok, missing): ok 0 and
    missing `peer` when this wait ran out of time. Each thread polls for itself, so threads may disagree at the
    moment time runs out: callers settle it (_settle)."""
    was = ok
    if ok != 0:
        # Poll with plain volatile loads (an atomic per poll would contend with every other waiter), then
        # one acquire once the value is there: it orders this rank's later reads after the writer's release.
        v = tl.load(slot, volatile=True)
        spins = 0
        while (v - target < 0) & (ok != 0):
            spins += 1
            ok = _in_time(t0, spins, timeout_ns, TIMED, SPINS)
            if ok != 0:
                v = tl.load(slot, volatile=True)
        if ok != 0:
            # (An add of 0 with acquire lowers to an acquiring load. One vector atomic acquiring every rank's word
            # after the polls, as _barrier's releases go, made a 512 KB two-shot all-reduce (three meetings) 1.3 us
            # slower on 4 x H200: a read-modify-write at system scope costs more than these loads;
            # multigpu_twoshot_acquire_pipeline_4xh200.json.)
            tl.atomic_add(slot, 0, sem="acquire", scope="sys")
    return ok, tl.where((was != 0) & (ok == 0), peer, missing)


@triton.jit
def _settle(status, me, ok, missing, THREADS: tl.constexpr):
    """ok alike in every thread after waits each thread polled for itself, and the give-up recorded once: a word
    landing as the clock runs out can leave one thread out of time and another through, and the scalar store of
    the give-up is one thread's; unsettled, a thread could skip its share of the work with nothing recorded, and
    the host would take a partial result for a whole one. The least ok and the lowest missing peer over the
    program's threads (THREADS: at least its thread count, so that each thread holds a lane); missing: a peer a
    thread ran out of time waiting for, or 1024 (nobody)."""
    lanes = tl.full([THREADS], 0, tl.int32)
    ok = tl.min(lanes + ok, axis=0)
    first = tl.min(lanes + missing, axis=0)
    if first < 1024:  # a peer (1024: nobody)
        _give_up(status, me, first)
    return ok


@triton.jit
def _barrier(flags, me, slot, rank, epoch, status, timeout_ns, ok, WORLD: tl.constexpr, TIMED: tl.constexpr,
             SPINS: tl.constexpr, THREADS: tl.constexpr):
    """Every rank meets at header words [slot, slot + WORLD): tells each peer it reached `epoch` (word slot +
    rank of the peer's header), then waits until every rank's word in its own header reaches it. Returns ok, alike
    in every thread (_settle; THREADS as there)."""
    tl.debug_barrier()  # every thread's stores precede the releases below
    missing = ok * 0 + 1024  # no peer (above every rank)
    if ok != 0:
        # One release per rank, all in flight at once (a thread each): a scalar atomic per rank ran one after
        # another, each a system-scope fence and a round trip over the links, and a block-wide barrier to share a
        # result nobody reads (a 512 KB two-shot all-reduce took 25.6-25.8 us that way on 4 x H200, 16.4-17.4
        # this way: multigpu_twoshot_release_4xh200.json).
        ranks = tl.arange(0, 16)  # MAX_WORLD
        live = ranks < WORLD
        heads = tl.load(flags + ranks, mask=live, other=0).to(tl.pointer_type(tl.int32))
        tl.atomic_xchg(heads + slot + rank, ranks * 0 + epoch, mask=live, sem="release", scope="sys")
        t0 = 0
        if TIMED:
            t0 = _now()
        for p in tl.static_range(WORLD):
            ok, missing = _wait_at_least(me + slot + p, epoch, p, missing, timeout_ns, t0, ok, TIMED, SPINS)
    return _settle(status, me, ok, missing, THREADS)


@triton.jit
def _combine(acc, x, OP: tl.constexpr):
    if OP == 0:
        return acc + x
    elif OP == 1:
        return tl.maximum(acc, x)
    else:
        return tl.minimum(acc, x)


@triton.jit
def _ll_ready(slot, last, epoch, m, ok):
    """(block words, ready: 1 when every word under the mask carries epoch, ok), ready and ok alike in every
    thread. The block is read only once its last word has arrived: waiting programs poll one line each instead of
    their whole block. Each thread reads `last` (and the clock) itself, and a word landing between two threads'
    reads gives them different views: a loop on a per-thread condition left warps behind at the barrier of the
    reduction below (one-shot reduce-scatters on 4 x H200 hung so, every word in memory). So both come out of
    that one reduction over the block: 2 * ok + ready per lane, the least of them."""
    go = ((tl.load(last, volatile=True) >> 32).to(tl.int32) == epoch).to(tl.int32)
    w = tl.load(slot, mask=(m.to(tl.int32) * go * ok) != 0, other=0, volatile=True)
    lane = tl.where(m & ((w >> 32).to(tl.int32) != epoch), 0, 1) * go + 2 * ok
    least = tl.min(lane, axis=0)
    return w, (least == 3).to(tl.int32), (least >= 2).to(tl.int32)


@triton.jit
def _ll_receive(slot, last, epoch, m, status, me, peer, timeout_ns, t0, ok, TIMED: tl.constexpr,
                SPINS: tl.constexpr):
    """Polls a block of LL words (payload | flag << 32) in this rank's memory until every word under the mask
    carries `epoch`; returns the words, whose low halves are the payloads (_ll_unpack reads only those), ok
    (0: the peer did not arrive in time). Every thread runs the loop alike (_ll_ready)."""
    w, ready, ok = _ll_ready(slot, last, epoch, m, ok)
    spins = 0
    while (ready == 0) & (ok != 0):
        spins += 1
        w, ready, ok = _ll_ready(slot, last, epoch, m, _in_time(t0, spins, timeout_ns, TIMED, SPINS))
        if ok == 0:  # out of time in some thread, so in all: recorded once all agree (a scalar store is one
            _give_up(status, me, peer)  # thread's)
    return w, ok


@triton.jit
def _ll_lanes(start, n, BLOCK: tl.constexpr, PACK: tl.constexpr):
    """The elements that LL words [start, start + BLOCK) carry (PACK each), and which of them exist (< n)."""
    e = start * PACK + tl.arange(0, BLOCK * PACK)
    return e, e < n


@triton.jit
def _ll_pack(x, BLOCK: tl.constexpr, PACK: tl.constexpr):
    """BLOCK * PACK elements -> BLOCK payloads, the low half of an LL word: a float32's bits (PACK 1), or two
    16-bit values' own bits side by side (PACK 2: half the words, and exact, as each rank's input is 16-bit).
    Pairs go through reshape and split, which keep a word's two values in one thread (shifts over a [BLOCK, 2]
    tile of element offsets went through shared memory: a 4 KB bfloat16 one-shot took 10.2 us on 4 virtual
    GPUs, 4 KB of float32 8.7)."""
    if PACK == 1:
        p = x.to(tl.float32).to(tl.int32, bitcast=True).to(tl.int64) & 0xFFFFFFFF
    else:
        lo, hi = tl.split(tl.reshape(x.to(tl.int16, bitcast=True), [BLOCK, 2]))
        p = (lo.to(tl.int64) & 0xFFFF) | ((hi.to(tl.int64) & 0xFFFF) << 16)
    return p


@triton.jit
def _ll_unpack(payload, ptr, BLOCK: tl.constexpr, PACK: tl.constexpr):
    """_ll_pack's inverse, as BLOCK * PACK float32 values, from the low halves of payload (whole LL words or
    _ll_pack's payloads; ptr: a pointer of the elements' dtype)."""
    if PACK == 1:  # an if/else: Triton compiles what follows an early return in a constexpr if
        x = (payload & 0xFFFFFFFF).to(tl.int32).to(tl.float32, bitcast=True)
    else:
        elt = ptr.dtype.element_ty
        x = tl.reshape(tl.join((payload & 0xFFFF).to(tl.int16).to(elt, bitcast=True).to(tl.float32),
                               ((payload >> 16) & 0xFFFF).to(tl.int16).to(elt, bitcast=True).to(tl.float32)),
                       [BLOCK * 2])
    return x


@triton.jit
def _ll_flagged(src, em, epoch, BLOCK: tl.constexpr, PACK: tl.constexpr):
    """The LL words of the elements at the pointers src (em: those that exist), with epoch in the upper halves."""
    return (epoch.to(tl.int64) << 32) | _ll_pack(tl.load(src, mask=em, other=0), BLOCK, PACK)


@triton.jit
def ll_all_reduce(in_ptr, out_ptr, bufs, flags, status, n, rank, timeout_ns, ll_off, ll_words, WORLD: tl.constexpr,
                  BLOCK: tl.constexpr, OP: tl.constexpr, PACK: tl.constexpr, TIMED: tl.constexpr,
                  SPINS: tl.constexpr):
    """The one-shot all-reduce of rank `rank` (_ll_collective, MODE 0)."""
    _ll_collective(in_ptr, out_ptr, bufs, flags, status, n, 0, rank, timeout_ns, ll_off, ll_words, WORLD, BLOCK, OP,
                   PACK, 0, TIMED, SPINS)


@triton.jit
def ll_collective(in_ptr, out_ptr, bufs, flags, status, n, per, rank, timeout_ns, ll_off, ll_words,
                  WORLD: tl.constexpr, BLOCK: tl.constexpr, OP: tl.constexpr, PACK: tl.constexpr, MODE: tl.constexpr,
                  TIMED: tl.constexpr, SPINS: tl.constexpr):
    """The one-shot reduce-scatter (MODE 1) or all-gather (MODE 2) of rank `rank` (_ll_collective)."""
    _ll_collective(in_ptr, out_ptr, bufs, flags, status, n, per, rank, timeout_ns, ll_off, ll_words, WORLD, BLOCK,
                   OP, PACK, MODE, TIMED, SPINS)


@triton.jit
def _pick(r, p0, p1, p2, p3, p4, p5, p6, p7):
    """p<r> (r < 8)."""
    p = p0
    if r == 1:
        p = p1
    if r == 2:
        p = p2
    if r == 3:
        p = p3
    if r == 4:
        p = p4
    if r == 5:
        p = p5
    if r == 6:
        p = p6
    if r == 7:
        p = p7
    return p


@triton.jit
def ll_all_reduce_ranks(p0, p1, p2, p3, p4, p5, p6, p7, bufs, flags, status, n, timeout_ns, ll_off, ll_words,
                        WORLD: tl.constexpr, BLOCK: tl.constexpr, OP: tl.constexpr, PACK: tl.constexpr,
                        TIMED: tl.constexpr, SPINS: tl.constexpr):
    """The one-shot all-reduce of every rank of a group whose ranks share one GPU (WORLD <= 8), in one launch:
    programs (pid, r) are rank r's, in place on p<r>. The same protocol as a launch per rank; one grid where
    each rank's launch went on its own stream (4 ranks' graph replays on one H100 took 8.7 us at 4 KB against 2
    ranks' 4.7: the launches of the branches, not the protocol)."""
    r = tl.program_id(1)
    x = _pick(r, p0, p1, p2, p3, p4, p5, p6, p7)
    _ll_collective(x, x, bufs, flags, status, n, 0, r, timeout_ns, ll_off, ll_words, WORLD, BLOCK, OP, PACK, 0,
                   TIMED, SPINS)


@triton.jit
def _ll_collective(in_ptr, out_ptr, bufs, flags, status, n, per, rank, timeout_ns, ll_off, ll_words,
                   WORLD: tl.constexpr, BLOCK: tl.constexpr, OP: tl.constexpr, PACK: tl.constexpr,
                   MODE: tl.constexpr, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """A one-shot collective with no fence and no barrier (the LL protocol): each program pushes its share of
    the words, PACK elements' bits with this call's epoch in the upper half of one 64-bit store, into slot `rank`
    of peers' LL regions; then polls its own region until each peer's words carry the epoch. A word validates
    itself, so no ordering between stores is needed. Regions alternate with the epoch's parity: a rank starts
    call e + 2 only after every peer's pushes of call e + 1, i.e. after every peer finished reading call e (every
    mode has every rank receive from every peer). The last program to finish moves the epoch on (a counter of
    finished programs), so every program of a call reads the same epoch. BLOCK: words per program step. A call
    carries at most ll_words * PACK elements per rank (a slot); larger messages take a call per piece.

    MODE 0, all-reduce (in and out: n elements; out may alias in): push in to every peer; reduce in rank order in
    float32 (every rank gets bitwise the same result). MODE 1, reduce-scatter (in: chunk p at p * per, out: n
    elements): push chunk p's first n elements to rank p (not its own chunk: the reduction reads it from in);
    reduce as MODE 0. MODE 2, all-gather (in: n elements, out: chunk p at p * per): push in to every peer; store
    it, and each peer's words, into their chunks of out. The modes number as push_collective's."""
    pid = tl.program_id(0)
    programs = tl.num_programs(0)
    me = _header(flags, rank)
    ok = _usable(me)
    epoch = tl.load(me + 49) + 1  # LL_EPOCH
    words = (n + PACK - 1) // PACK
    region = ((epoch & 1) * WORLD + rank).to(tl.int64) * ll_words  # my slot in each peer's region
    if ok != 0:
        for start in range(pid * BLOCK, words, programs * BLOCK):
            offs = start + tl.arange(0, BLOCK)
            e, em = _ll_lanes(start, n, BLOCK, PACK)
            if MODE != 1:
                word = _ll_flagged(in_ptr + e, em, epoch, BLOCK, PACK)
            for p in tl.static_range(WORLD):
                if p != rank:
                    if MODE == 1:
                        word = _ll_flagged(in_ptr + p * per + e, em, epoch, BLOCK, PACK)
                    peer_ll = (tl.load(bufs + p) + ll_off).to(tl.pointer_type(tl.int64))
                    tl.store(peer_ll + region + offs, word, mask=offs < words)
    mine = (tl.load(bufs + rank) + ll_off).to(tl.pointer_type(tl.int64)) + ((epoch & 1) * WORLD).to(tl.int64) \
        * ll_words
    own_in = in_ptr
    if MODE == 1:
        own_in = in_ptr + rank * per
    elt = out_ptr.dtype.element_ty
    t0 = 0
    if TIMED:
        t0 = _now()
    if ok != 0:
        for start in range(pid * BLOCK, words, programs * BLOCK):
            offs = start + tl.arange(0, BLOCK)
            m = offs < words
            e, em = _ll_lanes(start, n, BLOCK, PACK)
            # this rank's values as its peers get them: every operand of the sums in one layout
            own = _ll_unpack(_ll_pack(tl.load(own_in + e, mask=em, other=0), BLOCK, PACK), in_ptr, BLOCK, PACK)
            last = tl.minimum(start + BLOCK, words) - 1
            acc = own
            for p in tl.static_range(WORLD):
                x = own
                if p != rank:
                    got, ok = _ll_receive(mine + p * ll_words + offs, mine + p * ll_words + last, epoch, m, status,
                                          me, p, timeout_ns, t0, ok, TIMED, SPINS)
                    x = _ll_unpack(got, in_ptr, BLOCK, PACK)
                if MODE == 2:
                    if ok != 0:
                        tl.store(out_ptr + p * per + e, x.to(elt), mask=em)
                elif p == 0:
                    acc = x
                else:
                    acc = _combine(acc, x, OP)
            if MODE != 2:
                if ok != 0:
                    tl.store(out_ptr + e, acc.to(elt), mask=em)
    tl.debug_barrier()  # every thread of this program is done with the epoch it read
    if tl.atomic_add(me + 50, 1, sem="acq_rel", scope="gpu") == programs - 1:  # LL_DONE: the last program
        tl.store(me + 50, 0)
        tl.store(me + 49, epoch)


@triton.jit
def _vptrs(base, offs, VEC: tl.constexpr):
    """base + offs, declared to come in 16-byte aligned runs of VEC elements when VEC > 1 (so loads and stores
    vectorise: Triton cannot see the alignment of a pointer loaded from a table or of an argument)."""
    p = base + offs
    if VEC > 1:
        p = tl.max_contiguous(tl.multiple_of(p, 16), VEC)
    return p


@triton.jit
def _vmask(m, VEC: tl.constexpr):
    if VEC > 1:  # the bound is a whole number of vectors
        m = tl.max_constancy(m, VEC)
    return m


@triton.jit
def _move(dst, src, offs, m, CG: tl.constexpr, VEC: tl.constexpr):
    m = _vmask(m, VEC)
    if CG:  # memory other ranks wrote during this kernel: past L1, which is not coherent within a kernel
        x = tl.load(_vptrs(src, offs, VEC), mask=m, cache_modifier=".cg")
    else:
        x = tl.load(_vptrs(src, offs, VEC), mask=m)
    tl.store(_vptrs(dst, offs, VEC), x, mask=m)


@triton.jit
def _copy_part(dst, src, length, pid, programs, CG: tl.constexpr, BLOCK: tl.constexpr, VEC: tl.constexpr):
    """dst[:length] <- src[:length], program pid's share: its BLOCK-steps over the whole vectors, and program 0
    the tail (fewer than VEC elements, element by element)."""
    body = (length // VEC) * VEC
    for start in range(pid * BLOCK, body, programs * BLOCK):
        offs = start + tl.arange(0, BLOCK)
        _move(dst, src, offs, offs < body, CG, VEC)
    if pid == 0:
        offs = body + tl.arange(0, VEC)
        _move(dst, src, offs, offs < length, CG, 1)


@triton.jit
def _reduce_block(out, mine, own, peers, bufs, rank, stride, offs, m, WORLD: tl.constexpr, OP: tl.constexpr,
                  VEC: tl.constexpr, PUSH: tl.constexpr):
    """out[offs] <- the reduction, in rank order, of mine[p * stride + offs] over the peers p (read past L1) and
    own[offs] (this rank's own part, never copied into its slot); PUSH: also stored in this rank's slot of every
    other rank's region `peers` (an element offset in their buffers)."""
    elt = out.dtype.element_ty
    m = _vmask(m, VEC)
    acc = tl.zeros([offs.shape[0]], tl.float32)
    for p in tl.static_range(WORLD):
        src = mine + p * stride
        if p == rank:
            src = own
        x = tl.load(_vptrs(src, offs, VEC), mask=m, cache_modifier=".cg").to(tl.float32)
        if p == 0:
            acc = x
        else:
            acc = _combine(acc, x, OP)
    res = acc.to(elt)
    tl.store(_vptrs(out, offs, VEC), res, mask=m)
    if PUSH:
        for j in tl.static_range(1, WORLD):  # peers in rotated order, as the push phase
            theirs = tl.load(bufs + (rank + j) % WORLD).to(tl.pointer_type(elt)) + peers + rank * stride
            tl.store(_vptrs(theirs, offs, VEC), res, mask=m)


@triton.jit
def _chunk_len(c, n, per, length):
    return tl.maximum(tl.minimum(length, n - c * per), 0)


@triton.jit
def _push_chunks(in_ptr, bufs, region, stride, n, per, length, rank, pid, programs, WORLD: tl.constexpr,
                 BLOCK: tl.constexpr, VEC: tl.constexpr):
    """Chunk c of in (its part of a piece: [c * per, c * per + min(length, n - c * per))) into slot `rank` of
    rank c's region at element offset `region`, program pid's share. Step j: rank r writes to rank r + j, so
    every rank takes one writer at a time (in rank order, all ranks would write to rank 0 first: its links in
    saturate while the others idle). Not this rank's own chunk: the reduction reads it from `in` (a copy into its
    own slot cost a read and a write of 1/WORLD of the message)."""
    elt = in_ptr.dtype.element_ty
    for j in tl.static_range(1, WORLD):
        c = (rank + j) % WORLD
        theirs = tl.load(bufs + c).to(tl.pointer_type(elt))
        _copy_part(theirs + region + rank * stride, in_ptr + c * per, _chunk_len(c, n, per, length), pid, programs,
                   False, BLOCK, VEC)


@triton.jit
def _copy_out(out_ptr, slots, stride, n, per, length, rank, pid, programs, WORLD: tl.constexpr,
              BLOCK: tl.constexpr, VEC: tl.constexpr):
    """Chunk c of out <- slot c at `slots` (peers wrote it: read past L1), for every c but this rank's."""
    for c in tl.static_range(WORLD):
        if c != rank:
            _copy_part(out_ptr + c * per, slots + c * stride, _chunk_len(c, n, per, length), pid, programs, True,
                       BLOCK, VEC)


@triton.jit
def _piece(q, n, per, length, out_region):
    """Piece q: its start in every chunk, its length in a full chunk, what remains of the message past its start
    (chunk c's piece: [c * per, c * per + _chunk_len(c, rest, per, m)) past lo), and its half's offset."""
    lo = q * length
    return lo, tl.minimum(length, per - lo), n - lo, (q % 2) * (2 * out_region)


@triton.jit
def _copy_piece(out_ptr, mine, q, n, per, length, out_region, stride, rank, pid, programs, WORLD: tl.constexpr,
                BLOCK: tl.constexpr, VEC: tl.constexpr):
    """Piece q of every other rank's chunk <- the OUT slots of its half."""
    lo, m, rest, half = _piece(q, n, per, length, out_region)
    _copy_out(out_ptr + lo, mine + half + out_region, stride, rest, per, m, rank, pid, programs, WORLD, BLOCK, VEC)


@triton.jit
def _span(start, length, SIZE: tl.constexpr, VEC: tl.constexpr, TAIL: tl.constexpr):
    """(offsets, mask) of a step over [0, length): the whole vectors of [start, start + SIZE), or (TAIL) the last
    fewer than VEC elements."""
    body = (length // VEC) * VEC
    if TAIL:
        offs = body + tl.arange(0, SIZE)
        m = offs < length
    else:
        offs = start + tl.arange(0, SIZE)
        m = offs < body
    return offs, m


@triton.jit
def _reduce_step(in_ptr, out_ptr, bufs, mine, q, pieces, start, n, per, length, out_region, stride, rank,
                 WORLD: tl.constexpr, OP: tl.constexpr, MODE: tl.constexpr, SIZE: tl.constexpr, VEC: tl.constexpr,
                 V: tl.constexpr, TAIL: tl.constexpr):
    """One step of a reducing collective (MODE as push_collective's: 0 or 1) between the meetings of pieces q
    and q + 1, over offsets _span(start) of every part it touches: push piece q + 1 of the other ranks' chunks
    into their IN slots, reduce this rank's part of piece q (into out at its chunk's place, or at 0 for the
    reduce-scatter); the all-reduce also pushes the result into the peers' OUT slots and copies piece q - 1's
    OUT slots into out. V: the vector width of the accesses (1 for the tail)."""
    elt = in_ptr.dtype.element_ty
    if q + 1 < pieces:
        lo, m, rest, half = _piece(q + 1, n, per, length, out_region)
        for j in tl.static_range(1, WORLD):  # rank r pushes to rank r + j: one writer per rank at a time
            c = (rank + j) % WORLD
            offs, msk = _span(start, _chunk_len(c, rest, per, m), SIZE, VEC, TAIL)
            theirs = tl.load(bufs + c).to(tl.pointer_type(elt)) + half + rank * stride
            _move(theirs, in_ptr + c * per + lo, offs, msk, False, V)
    lo, m, rest, half = _piece(q, n, per, length, out_region)
    offs, msk = _span(start, _chunk_len(rank, rest, per, m), SIZE, VEC, TAIL)
    dst = out_ptr + lo
    if MODE == 0:
        dst += rank * per
    _reduce_block(dst, mine + half, in_ptr + rank * per + lo, half + out_region, bufs, rank, stride, offs, msk,
                  WORLD, OP, V, MODE == 0)
    if MODE == 0 and q > 0:
        lo, m, rest, half = _piece(q - 1, n, per, length, out_region)
        for c in tl.static_range(WORLD):
            if c != rank:
                offs, msk = _span(start, _chunk_len(c, rest, per, m), SIZE, VEC, TAIL)
                _move(out_ptr + c * per + lo, mine + half + out_region + c * stride, offs, msk, True, V)


@triton.jit
def push_collective(in_ptr, out_ptr, bufs, flags, status, n, per, length, stride, rank, timeout_ns,
                    WORLD: tl.constexpr,
                    BLOCK: tl.constexpr, OP: tl.constexpr, VEC: tl.constexpr, MODE: tl.constexpr,
                    TIMED: tl.constexpr, SPINS: tl.constexpr):
    """The two-shot programs: every byte between GPUs moves by a store (NVLink writes; a two-shot that read its
    peers' buffers ran 10-25% slower on 4 x H200). A rank's buffer has two halves, each an IN region (slot p:
    rank p's part of this rank's chunk) and an OUT region (slot p: rank p's chunk, reduced) of WORLD slots of
    `stride` elements. Chunk c of the message is [c * per, min((c + 1) * per, n)); the whole message goes in one
    launch, in pieces: piece q is [q * length, (q + 1) * length) of every chunk, in half q % 2. One meeting
    comes first (every rank is done with earlier collectives before it is written into).

    MODE 0, all-reduce (in and out: n elements): push piece 0 of chunk c into rank c's IN slot (not its own
    chunk: the reduction reads it from in); then per piece q: meet; block by block (_reduce_step), push
    piece q + 1, reduce this rank's part of piece q from in and its IN slots in rank order into out and push the
    result into every peer's OUT slot, copy piece q - 1's OUT slots into out; a last meeting, and the last
    piece's copy out. One meeting a piece, and every step of a program stores over the links while it reads
    and writes its own memory (a meeting after the pushes and another after the reductions, each phase in
    turn, moved 325-336 GB/s bus bandwidth at 1 GB on 4 x H200, 0.94-0.97x NCCL's ring; this, 335-337 and
    0.95-0.97x: the same within the runs' spread, with half the meetings). Each meeting q orders
    every write into a half after the last reads of it: piece q + 1's pushes go to the half that piece q - 1's
    reduction read and piece q's reductions to the OUT slots that piece q - 2's copy read, both before
    meeting q; what meeting q lets a rank read (piece q's IN slots, piece q - 1's OUT slots) was written before.

    MODE 1, reduce-scatter (in: n = WORLD * per, out: this rank's chunk at 0): as the all-reduce, the reduction
    into out and nothing past it (no OUT slots, no last meeting: the next collective's first one guards the
    buffer; at 256 MB-1 GB on 4 x H200 as fast as push, meet, reduce in turn, within the runs' spread, with one
    schedule for both modes: multigpu_twoshot_acquire_pipeline_4xh200.json). MODE 2, all-gather (in: this rank's
    chunk at 0, out: n = WORLD * per), per piece: push in into every peer's OUT slot and copy it into out, copy
    piece q - 1's OUT slots into out (local reads and writes while the stores drain over the links), meet; the
    last piece's copy after the loop. Piece q + 2 writes a half only past piece q + 1's meeting, which every rank
    reaches after its last reads of piece q. (Small messages of every mode go one-shot instead, with no meeting:
    _ll_collective, numbered alike.)

    A program goes on to the next piece as soon as its counterparts met it, so one program's last phase of a
    piece overlaps other programs' pushes of the next (a launch per piece, where every program waited for the
    slowest at each piece's end, moved 0.79-0.84x of NCCL's all-reduce bus bandwidth at 256 MB-1 GB on 4 x H100
    against 0.90-0.92x). Program pid handles the same part of every chunk in every phase, so meetings of
    counterparts suffice; their values count the meetings program pid has held (TS_EPOCH + pid). Peers' writes
    are read past L1 (.cg): L1 is not coherent within a kernel. VEC: elements per 16-byte vector, or 1 when the
    caller's tensors or chunks are not 16-byte aligned. out may alias in (MODE 0)."""
    pid = tl.program_id(0)
    programs = tl.num_programs(0)
    me = _header(flags, rank)
    ok = _usable(me)
    met = tl.load(me + (8256 + pid)) + 1  # TS_EPOCH + pid: this meeting's value
    slot = 64 + pid * 16  # TS_BAR + pid * MAX_WORLD
    elt = in_ptr.dtype.element_ty
    mine = tl.load(bufs + rank).to(tl.pointer_type(elt))
    out_region = WORLD * stride
    ok = _barrier(flags, me, slot, rank, met, status, timeout_ns, ok, WORLD, TIMED, SPINS, BLOCK)
    pieces = tl.cdiv(per, length)
    if MODE != 2:
        if ok != 0:
            _push_chunks(in_ptr, bufs, 0, stride, n, per, tl.minimum(length, per), rank, pid, programs, WORLD,
                         BLOCK, VEC)
        for q in range(pieces):
            met += 1
            ok = _barrier(flags, me, slot, rank, met, status, timeout_ns, ok, WORLD, TIMED, SPINS, BLOCK)
            if ok != 0:
                for start in range(pid * BLOCK, length, programs * BLOCK):
                    _reduce_step(in_ptr, out_ptr, bufs, mine, q, pieces, start, n, per, length, out_region,
                                 stride, rank, WORLD, OP, MODE, BLOCK, VEC, VEC, False)
                if pid == 0:
                    _reduce_step(in_ptr, out_ptr, bufs, mine, q, pieces, 0, n, per, length, out_region,
                                 stride, rank, WORLD, OP, MODE, VEC, VEC, 1, True)
        if MODE == 0:
            met += 1
            ok = _barrier(flags, me, slot, rank, met, status, timeout_ns, ok, WORLD, TIMED, SPINS, BLOCK)
    else:  # this rank's chunk into every OUT slot `rank` (its own: straight into out)
        for q in range(pieces):
            lo, m, rest, half = _piece(q, n, per, length, out_region)
            if ok != 0:
                for j in tl.static_range(WORLD):
                    c = (rank + j) % WORLD
                    if j == 0:
                        dst = out_ptr + rank * per + lo
                    else:
                        dst = tl.load(bufs + c).to(tl.pointer_type(elt)) + half + out_region + rank * stride
                    _copy_part(dst, in_ptr + lo, m, pid, programs, False, BLOCK, VEC)
                if q > 0:
                    _copy_piece(out_ptr, mine, q - 1, n, per, length, out_region, stride, rank, pid, programs,
                                WORLD, BLOCK, VEC)
            met += 1
            ok = _barrier(flags, me, slot, rank, met, status, timeout_ns, ok, WORLD, TIMED, SPINS, BLOCK)
    if MODE != 1:
        if ok != 0:
            _copy_piece(out_ptr, mine, pieces - 1, n, per, length, out_region, stride, rank, pid, programs, WORLD,
                        BLOCK, VEC)
    tl.store(me + (8256 + pid), met)


@triton.jit
def _direct_block(p0, p1, p2, p3, p4, p5, p6, p7, offs, m, WORLD: tl.constexpr, OP: tl.constexpr,
                  VEC: tl.constexpr):
    m = _vmask(m, VEC)
    acc = tl.load(_vptrs(p0, offs, VEC), mask=m).to(tl.float32)
    for r in tl.static_range(1, WORLD):
        x = tl.load(_vptrs(_pick(r, p0, p1, p2, p3, p4, p5, p6, p7), offs, VEC), mask=m)
        acc = _combine(acc, x.to(tl.float32), OP)
    res = acc.to(p0.dtype.element_ty)
    for r in tl.static_range(WORLD):
        tl.store(_vptrs(_pick(r, p0, p1, p2, p3, p4, p5, p6, p7), offs, VEC), res, mask=m)


@triton.jit
def direct_all_reduce(p0, p1, p2, p3, p4, p5, p6, p7, n, WORLD: tl.constexpr, BLOCK: tl.constexpr,
                      OP: tl.constexpr, VEC: tl.constexpr):
    """p<r>[:n] <- the reduction of p0..p<WORLD - 1> in rank order in float32 (every one gets the same bits),
    for every r: one kernel reads and writes every member's tensor, on other GPUs through peer access
    (fabric/collectives/cuda_direct.py). Program pid takes BLOCK-steps of the whole VEC-vectors, program 0
    the tail."""
    pid = tl.program_id(0)
    programs = tl.num_programs(0)
    for start in range(pid * BLOCK, (n // VEC) * VEC, programs * BLOCK):
        offs, m = _span(start, n, BLOCK, VEC, False)
        _direct_block(p0, p1, p2, p3, p4, p5, p6, p7, offs, m, WORLD, OP, VEC)
    if pid == 0:
        offs, m = _span(0, n, VEC, VEC, True)
        _direct_block(p0, p1, p2, p3, p4, p5, p6, p7, offs, m, WORLD, OP, 1)


@triton.jit
def barrier(flags, status, rank, timeout_ns, WORLD: tl.constexpr, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """Every rank's stream meets here (one program): work before it on any rank, including writes to its
    buffer, is visible to work after it on every rank."""
    me = _header(flags, rank)
    ok = _usable(me)
    epoch = tl.load(me + 16) + 1  # BAR_EPOCH
    ok = _barrier(flags, me, 0, rank, epoch, status, timeout_ns, ok, WORLD, TIMED, SPINS, 32)  # BAR_OFF; a warp
    tl.store(me + 16, epoch)


@triton.jit
def ring_sync(flags, status, rank, signal_a, signal_b, signal_rel, wait_a, wait_rel_a, wait_b, wait_rel_b,
              advance, timeout_ns, TIMED: tl.constexpr, SPINS: tl.constexpr):
    """One ring step boundary (one program): publish this rank's counter (base + signal_rel) to ranks signal_a
    and signal_b (-1: nobody), then wait until rank wait_a's counter reaches base + wait_rel_a and wait_b's
    base + wait_rel_b (-1: no wait), then add `advance` to the base (the last boundary of a collective)."""
    me = _header(flags, rank)
    ok = _usable(me)
    base = tl.load(me + 48)  # RING_BASE
    if ok != 0:
        # Both releases in flight at once (a thread each), as _barrier's.
        to = tl.where(tl.arange(0, 2) == 0, signal_a, signal_b)
        live = to >= 0
        heads = tl.load(flags + to, mask=live, other=0).to(tl.pointer_type(tl.int32))
        tl.atomic_xchg(heads + (32 + rank), to * 0 + (base + signal_rel), mask=live, sem="release", scope="sys")
    t0 = 0
    if TIMED:
        t0 = _now()
    missing = ok * 0 + 1024  # no peer (above every rank)
    if wait_a >= 0:
        ok, missing = _wait_at_least(me + (32 + wait_a), base + wait_rel_a, wait_a, missing, timeout_ns, t0, ok,
                                     TIMED, SPINS)
    if wait_b >= 0:
        ok, missing = _wait_at_least(me + (32 + wait_b), base + wait_rel_b, wait_b, missing, timeout_ns, t0, ok,
                                     TIMED, SPINS)
    _settle(status, me, ok, missing, 32)  # one warp
    tl.store(me + 48, base + advance)



@triton.jit
def reduce_copy(dst, a, b, n, OP: tl.constexpr, BLOCK: tl.constexpr):
    """dst <- a (op) b in float32, rounded once (the Triton reduce-copy plugin; `a` may be a peer's memory)."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(a + offs, mask=m).to(tl.float32)
    y = tl.load(b + offs, mask=m).to(tl.float32)
    tl.store(dst + offs, _combine(x, y, OP).to(dst.dtype.element_ty), mask=m)
