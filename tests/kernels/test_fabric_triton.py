"""The GPU collectives' flag and one-shot (LL) kernels (kernels/triton/fabric*.py), run by Triton's interpreter.

The interpreter runs one launch at a time, so each test plays one rank against peers whose side of the
protocol is already written into memory (their buffers, the flags they would have set) and checks what the
rank computed and which flags it set; a peer that never wrote its flag must make the rank record it in the
status word (bounded by a spin count here, by %globaltimer on a GPU) instead of hanging.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels.interpret import interpreted, wrap
from vibetensor.kernels.triton import fabric as F
from helpers import rng, unprepared

triton = pytest.importorskip("triton")


class World:
    """CPU segments laid out like the GPU ones (header, data buffer, LL region), one per rank, and the device
    tables of their addresses."""

    def __init__(self, world, numel, dtype=vt.float32, ll_words=0):
        self.world, self.dtype, self.ll_words = world, dtype, ll_words
        self.ll_off = -(-numel * dtype.itemsize // 128) * 128
        nbytes = F.HEADER_BYTES + self.ll_off + 2 * world * ll_words * 8
        self.segs = [vt.zeros(nbytes, dtype=vt.uint8) for _ in range(world)]
        self.flags = vt.tensor([s.data_ptr() for s in self.segs], dtype=vt.int64)
        self.bufs = vt.tensor([s.data_ptr() + F.HEADER_BYTES for s in self.segs], dtype=vt.int64)
        self.status = vt.zeros(4, dtype=vt.int32)

    def header(self, r):
        return self.segs[r].narrow(0, 0, F.HEADER_BYTES).view(vt.int32)

    def data(self, r):
        return self.segs[r].narrow(0, F.HEADER_BYTES, self.ll_off).view(self.dtype)

    def ll(self, r, parity, src):
        """Rank r's LL slot that rank src pushes into on calls of this parity (int64 words)."""
        region = self.segs[r].narrow(0, F.HEADER_BYTES + self.ll_off, 2 * self.world * self.ll_words * 8)
        return region.view(vt.int64).narrow(0, (parity * self.world + src) * self.ll_words, self.ll_words)

    def push(self, rank, src, epoch, x):
        """What rank src's one-shot call `epoch` stores into rank's LL region: payloads | epoch << 32."""
        words = ll_payloads(x) | (epoch << 32)
        self.ll(rank, epoch % 2, src).narrow(0, 0, len(words)).copy_(vt.tensor(words))

    def arrive(self, rank, peer, epoch):
        """Peer `peer` reached `epoch` of the barrier: the word it writes in rank's header."""
        self.header(rank)[F.BAR_OFF + peer] = epoch

    def run(self, key, grid, *args, spins=F.MAX_SPINS):
        fn, _, cx = F.load(key, timed=False)
        if "SPINS" in cx:
            cx["SPINS"] = spins
        interpreted(fn)[grid](*[wrap(a) for a in args], **cx)


def ll_payloads(x):
    """An input's LL payloads, written with numpy: a float32's bits each, or two 16-bit values' bits (the first
    in the low half; an odd count's last word has zeros above)."""
    if x.element_size() == 4:
        return x.numpy().view(np.uint32).astype(np.int64)
    bits = x.view(vt.int16).numpy().view(np.uint16).astype(np.int64)
    bits = np.concatenate([bits, np.zeros(len(bits) % 2, np.int64)])
    return bits[0::2] | (bits[1::2] << 16)


def _reference(arrays, op, dtype=np.float64):
    """The reduction of arrays in rank order, in `dtype` (float32: the kernels' own order and rounding)."""
    fn = {"sum": np.add, "max": np.maximum, "min": np.minimum}[op]
    acc = arrays[0].astype(dtype)
    for a in arrays[1:]:
        acc = fn(acc, a.astype(dtype))
    return acc


def _ll_words(w, r, parity, src, n):
    return w.ll(r, parity, src).narrow(0, 0, n).numpy()


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.bfloat16], ids=str)
@pytest.mark.parametrize("n", [300, 301])
def test_ll_oneshot_reduces_every_rank_in_order(op, dtype, n):
    # 300 words > 2 programs * 64: the grid-stride loop runs (16-bit: 150 or 151 words, the last half empty)
    gen, world, rank, programs, block = rng(), 3, 1, 2, 64
    w = World(world, n, dtype, ll_words=512)
    for call in (1, 2):  # two calls: the epoch (and the region's parity) advance from device memory
        xs = [vt.tensor(gen.standard_normal(n).astype(np.float32)).to(dtype) for _ in range(world)]
        for p in range(world):
            if p != rank:
                w.push(rank, p, call, xs[p])
        out = vt.empty(n, dtype=dtype)
        w.run(f"fab|ll|{dtype.name}|{op}|{world}|{block}", (programs,), xs[rank], out, w.bufs, w.flags, w.status,
              n, rank, 10**9, w.ll_off, w.ll_words)
        assert w.status.tolist() == [0, 0, 0, 0]
        ref = _reference([x.to(vt.float32).numpy() for x in xs], op)
        tol = {vt.float32: 1e-6, vt.float16: 2e-3, vt.bfloat16: 1e-2}[dtype]  # the result's rounding
        np.testing.assert_allclose(out.to(vt.float32).numpy(), ref, rtol=tol, atol=tol)
        mine = ll_payloads(xs[rank]) | (call << 32)
        for p in range(world):  # it pushed its input, flagged with this call's epoch, to every peer
            if p != rank:
                assert np.array_equal(_ll_words(w, p, call % 2, rank, len(mine)), mine)
        assert not _ll_words(w, rank, call % 2, rank, len(mine)).any()  # never to itself
        assert w.header(rank)[F.LL_EPOCH].item() == call and w.header(rank)[F.LL_DONE].item() == 0


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16], ids=str)
@pytest.mark.parametrize("world", [2, 3])
def test_ll_oneshot_of_every_rank_in_one_launch(dtype, world):
    """fab|llr: programs (pid, r) are rank r's, in place on its pointer argument (the unused ones: any). The
    interpreter runs one program at a time, so every rank's pushes are written before the launch (the programs
    store the same words again)."""
    gen, programs, block, n = rng(), 2, 64, 301
    w = World(world, n, dtype, ll_words=512)
    for call in (1, 2):
        xs = [vt.tensor(gen.standard_normal(n).astype(np.float32)).to(dtype) for _ in range(world)]
        ref = _reference([x.to(vt.float32).numpy() for x in xs], "sum")
        for r in range(world):
            for p in range(world):
                if p != r:
                    w.push(r, p, call, xs[p])
        ptrs = xs + [xs[0]] * (F.LAUNCH_RANKS - world)
        w.run(f"fab|llr|{dtype.name}|sum|{world}|{block}", (programs, world), *ptrs, w.bufs, w.flags, w.status, n,
              10**9, w.ll_off, w.ll_words)
        assert w.status.tolist() == [0, 0, 0, 0]
        tol = {vt.float32: 1e-6, vt.bfloat16: 1e-2}[dtype]
        for r in range(world):
            np.testing.assert_allclose(xs[r].to(vt.float32).numpy(), ref, rtol=tol, atol=tol)
            assert np.array_equal(xs[r].to(vt.float32).numpy(), xs[0].to(vt.float32).numpy())  # bitwise alike
            assert w.header(r)[F.LL_EPOCH].item() == call and w.header(r)[F.LL_DONE].item() == 0
    with pytest.raises(ValueError, match="1 to 8 ranks"):
        F.load("fab|llr|float32|sum|9|64")


@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16], ids=str)
@pytest.mark.parametrize("world, vec", [(3, 1), (2, 4), (4, 8)])
def test_direct_all_reduce_writes_every_member(op, dtype, world, vec):
    """fab|dar: every member's tensor <- the float32 reduction in rank order, rounded once (all alike); 1001
    elements: whole vectors over two programs' grid-stride steps, then the tail."""
    gen, n, block = rng(), 1001, 64
    if vec * dtype.itemsize > 16:
        pytest.skip("a vector is 16 bytes")
    xs = [vt.tensor(gen.standard_normal(n).astype(np.float32)).to(dtype) for _ in range(world)]
    acc = xs[0].to(vt.float32).numpy()
    for x in xs[1:]:  # float32, in rank order: the kernel's own arithmetic
        acc = {"sum": np.add, "max": np.maximum}[op](acc, x.to(vt.float32).numpy())
    want = vt.tensor(acc).to(dtype).to(vt.float32).numpy()
    np.testing.assert_allclose(want, _reference([x.to(vt.float32).numpy() for x in xs], op), rtol=1e-2, atol=1e-2)
    ptrs = xs + [xs[0]] * (F.LAUNCH_RANKS - world)
    fn, _, cx = F.load(f"fab|dar|{dtype.name}|{op}|{world}|{block}|{vec}")
    interpreted(fn)[(2,)](*[wrap(a) for a in ptrs], n, **cx)
    tol = 0 if dtype == vt.float32 else 2 ** -7  # the interpreter's bfloat16 rounding may differ by an ulp
    for x in xs:
        np.testing.assert_allclose(x.to(vt.float32).numpy(), want, rtol=tol, atol=0)
        assert np.array_equal(x.to(vt.float32).numpy(), xs[0].to(vt.float32).numpy())  # every member alike


def test_ll_oneshot_ignores_a_stale_push_and_records_the_missing_rank():
    gen, world, rank, n = rng(), 3, 0, 50
    w = World(world, n, ll_words=64)
    x = vt.tensor(gen.standard_normal(n).astype(np.float32))
    w.push(rank, 1, 1, x)  # rank 1 pushed this call's data
    w.push(rank, 2, 3, x)  # rank 2's words are from an older call of the same parity
    out = vt.full([n], 7.0)
    w.run(f"fab|ll|float32|sum|{world}|64", (1,), x, out, w.bufs, w.flags, w.status, n, rank, 10**9, w.ll_off,
          w.ll_words, spins=20)
    assert w.status[0].item() == 2 + 1  # 1 + the missing rank, for the host
    assert w.header(rank)[F.DEV_STATUS].item() == 2 + 1  # and for this rank's later kernels
    assert np.all(out.numpy() == 7.0)  # no result from data that never arrived
    before = w.header(1).clone()
    w.run(f"fab|barrier|{world}", (1,), w.flags, w.status, rank, 10**9, spins=20)
    assert np.array_equal(w.header(1).numpy(), before.numpy())  # a failed group's kernels do nothing


def _f32(t):
    return t.to(vt.float32).numpy()


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16], ids=str)
@pytest.mark.parametrize("world", [2, 3, 4, 8])
@pytest.mark.parametrize("mode", [1, 2], ids=["reduce_scatter", "all_gather"])
def test_ll_oneshot_over_chunks(mode, world, dtype):
    """fab|llc: the first n elements of chunks `per` apart (n odd: a 16-bit tail word half empty; 75 words over two
    programs of 32: the grid-stride loop runs). Reduce-scatter: chunk q of the input to rank q, and its own chunk
    and the peers' words reduced in rank order in float32; all-gather: the input to every peer, and it and the
    peers' words into their chunks of the output, the gaps between chunks untouched."""
    gen, rank, programs, block, n, per = rng(), world // 2, 2, 32, 75, 80
    w = World(world, 1, dtype, ll_words=80)
    words = -(-n // F.ll_pack(dtype.itemsize))
    for call, op in ((1, "sum"), (2, "min" if mode == 1 else "sum")):  # the epoch goes on across kernels
        size = world * per if mode == 1 else n
        xs = [vt.tensor(gen.standard_normal(size).astype(np.float32)).to(dtype) for _ in range(world)]
        sent = (lambda p, q: xs[p].narrow(0, q * per, n)) if mode == 1 else (lambda p, q: xs[p])  # rank p to q
        for p in range(world):
            if p != rank:
                w.push(rank, p, call, sent(p, rank))
        out = vt.full([n if mode == 1 else world * per], 7.0, dtype=dtype)
        w.run(f"fab|llc|{dtype.name}|{op}|{world}|{block}|{mode}", (programs,), xs[rank], out, w.bufs, w.flags,
              w.status, n, per, rank, 10**9, w.ll_off, w.ll_words)
        assert w.status.tolist() == [0, 0, 0, 0]
        if mode == 1:
            parts = [_f32(sent(p, rank)) for p in range(world)]
            want = _f32(vt.tensor(_reference(parts, op, np.float32)).to(dtype))
            tol = {vt.float32: 1e-5, vt.bfloat16: 1e-2}[dtype]  # float32 sums' and the result's rounding
            np.testing.assert_allclose(want, _reference(parts, op), rtol=tol, atol=tol * world)
            ulp = 0 if dtype == vt.float32 else 2 ** -7  # the interpreter's bfloat16 rounding may differ by an ulp
            np.testing.assert_allclose(_f32(out), want, rtol=ulp, atol=0)
        else:
            got = _f32(out).reshape(world, per)
            assert np.array_equal(got[:, :n], np.stack([_f32(x) for x in xs]))  # bit for bit
            assert np.all(got[:, n:] == 7.0)
        for q in range(world):  # what it pushed, flagged with this call's epoch (never to itself)
            mine = _ll_words(w, q, call % 2, rank, words)
            if q == rank:
                assert not mine.any()
            else:
                assert np.array_equal(mine, ll_payloads(sent(rank, q)) | (call << 32)), q
        assert w.header(rank)[F.LL_EPOCH].item() == call and w.header(rank)[F.LL_DONE].item() == 0


@pytest.mark.parametrize("mode", [1, 2], ids=["reduce_scatter", "all_gather"])
def test_ll_oneshot_over_chunks_records_the_missing_rank(mode):
    gen, world, rank, n = rng(), 4, 1, 50
    w = World(world, 1, ll_words=64)
    x = vt.tensor(gen.standard_normal(world * n).astype(np.float32))
    for p, epoch in ((0, 1), (2, 3), (3, 1)):  # rank 2's words are from an older call of the same parity
        w.push(rank, p, epoch, x.narrow(0, 0, n))
    out = vt.full([n if mode == 1 else world * n], 7.0)
    w.run(f"fab|llc|float32|sum|{world}|64|{mode}", (1,), x if mode == 1 else x.narrow(0, 0, n), out, w.bufs, w.flags,
          w.status, n, n, rank, 10**9, w.ll_off, w.ll_words, spins=20)
    assert w.status[0].item() == w.header(rank)[F.DEV_STATUS].item() == 2 + 1
    rest = out.numpy() if mode == 1 else out.numpy()[2 * n:3 * n]
    assert np.all(rest == 7.0)  # no result from data that never arrived
    with pytest.raises(ValueError, match="mode 1 .* or 2"):
        F.load(f"fab|llc|float32|sum|{world}|64|0")  # the all-reduce is fab|ll's


def _pointee(tensors, addr):
    """The tensor of `tensors` that addr points into, from there on (a launch's pointer argument, for the
    interpreter)."""
    for t in tensors:
        lo = (addr - t.data_ptr()) // t.element_size()
        if 0 <= lo <= t.numel() and t.data_ptr() + lo * t.element_size() == addr:
            return t.narrow(0, lo, t.numel() - lo)
    raise AssertionError(f"no tensor holds address {addr:#x}")


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16], ids=str)
@pytest.mark.parametrize("kind", ["reduce_scatter", "all_gather"])
def test_ll_oneshot_chunks_longer_than_a_slot_go_in_launches(kind, dtype, monkeypatch):
    """cuda_peer's one-shot reduce_scatter and all_gather of chunks longer than an LL slot (16 words here): a
    launch per piece of every chunk, run by the interpreter from the launch's own arguments (pointers mapped back
    to the tensors they point into), with the peers' words of that piece written before it. Every piece of every
    chunk must come from and land in its place."""
    from types import SimpleNamespace
    from vibetensor.fabric.collectives import cuda_peer as peer
    gen, world, rank, k, ll_words, pack = rng(), 3, 1, 101, 16, F.ll_pack(dtype.itemsize)
    w = World(world, 1, dtype, ll_words=ll_words)
    ep = SimpleNamespace(world=world, rank=rank, bufs_ptr=w.bufs.data_ptr(), flags_ptr=w.flags.data_ptr(),
                         status=SimpleNamespace(ptr=w.status.data_ptr()), timeout_ns=10**9, ll_off=w.ll_off,
                         ll_words=ll_words, ll_programs=2)
    rs = kind == "reduce_scatter"
    xs = [vt.tensor(gen.standard_normal(world * k if rs else k).astype(np.float32)).to(dtype) for _ in range(world)]
    src, dst = xs[rank], vt.full([k if rs else world * k], 7.0, dtype=dtype)
    sent = lambda p, q, lo, m: xs[p].narrow(0, q * k + lo if rs else lo, m)  # noqa: E731 - rank p's words to q
    pieces = []

    def launch(key, grid, args):
        lo, m = (args[0][1] - src.data_ptr()) // dtype.itemsize, args[5][1]
        epoch = w.header(rank)[F.LL_EPOCH].item() + 1
        for p in range(world):
            if p != rank:
                w.push(rank, p, epoch, sent(p, rank, lo, m))
        fn, _, cx = F.load(key, timed=False)
        vals = [_pointee([src, dst, w.bufs, w.flags, w.status], v) if t == "ptr" else v for t, v in args]
        interpreted(fn)[grid](*[wrap(v) for v in vals], **cx)
        for q in range(world):
            if q != rank:
                words = ll_payloads(sent(rank, q, lo, m))
                assert np.array_equal(_ll_words(w, q, epoch % 2, rank, len(words)), words | (epoch << 32)), q
        pieces.append((lo, m))

    monkeypatch.setattr(peer._C._cuda, "prepare_launch", unprepared(launch))
    if rs:
        peer.oneshot_reduce_scatter(ep, src, dst, peer.ReduceOp.SUM)
    else:
        peer.oneshot_all_gather(ep, src, dst)
    step = ll_words * pack  # a slot's elements: 16 of float32, 32 of bfloat16 (a half-empty word at the end)
    assert pieces == [(lo, min(step, k - lo)) for lo in range(0, k, step)] and len(pieces) > 3
    assert w.status.tolist() == [0, 0, 0, 0] and w.header(rank)[F.LL_EPOCH].item() == len(pieces)
    if rs:
        parts = [_f32(sent(p, rank, 0, k)) for p in range(world)]
        want = _f32(vt.tensor(_reference(parts, "sum", np.float32)).to(dtype))
        np.testing.assert_allclose(_f32(dst), want, rtol=0 if dtype == vt.float32 else 2 ** -7, atol=0)
    else:
        assert np.array_equal(_f32(dst), np.concatenate([_f32(x) for x in xs]))


@pytest.mark.parametrize("vec", [1, 4])
@pytest.mark.parametrize("n", [300, 77])
def test_twoshot_pushes_its_parts_reduces_and_gathers(vec, n):
    gen, world, rank, programs, block, dtype = rng(), 3, 1, 2, 64, vt.float32
    align = 128 // dtype.itemsize
    per = -(-n // (world * vec)) * vec  # one piece's chunks, as cuda_peer.twoshot_all_reduce cuts them
    stride = -(-per // align) * align  # a slot: the chunk rounded up to a cache line (cuda_peer._push)
    w = World(world, 4 * world * stride, dtype)
    for call in (1, 2):
        xs = [vt.tensor(gen.standard_normal(n).astype(np.float32)) for _ in range(world)]
        ref = _reference([x.numpy() for x in xs], "sum").astype(np.float32)
        chunk = lambda a, c: a[c * per:min((c + 1) * per, n)]  # noqa: E731
        mine = w.data(rank)
        mine.narrow(0, rank * stride, stride).fill_(float("nan"))  # its own IN slot: never written nor read
        for p in range(world):  # what the peers pushed: their part of this rank's chunk (IN), their chunk reduced (OUT)
            if p != rank:
                part = chunk(xs[p].numpy(), rank)
                mine.narrow(0, p * stride, len(part)).copy_(vt.tensor(part))
                red = chunk(ref, p)
                mine.narrow(0, world * stride + p * stride, len(red)).copy_(vt.tensor(red))
                for pid in range(programs):
                    w.header(rank)[F.TS_BAR + pid * F.MAX_WORLD + p] = 3 * call
        out = xs[rank].clone()
        w.run(f"fab|tp|float32|sum|{world}|{block}|{vec}|0", (programs,), out, out, w.bufs, w.flags, w.status, n,
              per, per, stride, rank, 10**9)
        assert w.status.tolist() == [0, 0, 0, 0]
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-6)
        assert np.isnan(mine.narrow(0, rank * stride, stride).numpy()).all()
        for q in range(world):  # it pushed its part of q's chunk into q's IN slot, its reduced chunk into q's OUT
            if q != rank:
                part = chunk(xs[rank].numpy(), q)
                got_in = w.data(q).narrow(0, rank * stride, len(part)).numpy()
                assert np.array_equal(got_in, part), q
                red = chunk(ref, rank)
                got_out = w.data(q).narrow(0, world * stride + rank * stride, len(red)).numpy()
                np.testing.assert_allclose(got_out, red, rtol=1e-6, atol=1e-6)
        assert w.header(rank)[F.TS_EPOCH:F.TS_EPOCH + programs].tolist() == [3 * call] * programs  # meetings


@pytest.mark.parametrize("vec", [1, 4])
@pytest.mark.parametrize("mode", [0, 1, 2], ids=["all_reduce", "reduce_scatter", "all_gather"])
@pytest.mark.parametrize("world, rank", [(3, 2), (2, 0), (4, 1)])
def test_twoshot_pieces_alternate_halves(vec, mode, world, rank):
    """One launch over chunks longer than a piece: piece q of every chunk in half q % 2 (the second piece
    shorter: the chunk's rest; the all-reduce's last chunk shorter still), one meeting, then one per piece
    (and one more for the all-reduce)."""
    gen, programs, block = rng(), 2, 64
    per, length, stride = 100, 64, 64  # chunk spacing, piece length, slot length (a cache line multiple)
    pieces = [(0, 64), (64, 36)]
    half = 2 * world * stride
    w = World(world, 2 * half)
    n = world * per - 30 if mode == 0 else world * per  # the all-reduce's last chunk: 70 elements
    part = lambda a, c, lo, m: a[c * per + lo:c * per + lo + max(0, min(m, n - c * per - lo))]  # noqa: E731
    in_slot = lambda r, q, p, m: w.data(r).narrow(0, q * half + p * stride, m)  # noqa: E731
    out_slot = lambda r, q, p, m: w.data(r).narrow(0, q * half + world * stride + p * stride, m)  # noqa: E731
    if mode == 2:
        xs = [gen.standard_normal(per).astype(np.float32) for _ in range(world)]
        want = np.concatenate(xs)
    else:
        xs = [gen.standard_normal(n).astype(np.float32) for _ in range(world)]
        ref = _reference(xs, "sum").astype(np.float32)
        want = ref if mode == 0 else ref[rank * per:(rank + 1) * per]
    for q, (lo, m) in enumerate(pieces):  # what the peers pushed into this rank's halves
        in_slot(rank, q, rank, stride).fill_(float("nan"))  # its own IN slot: never written nor read
        for p in range(world):
            if p == rank:
                continue
            if mode == 2:
                out_slot(rank, q, p, m).copy_(vt.tensor(xs[p][lo:lo + m]))
                continue
            mine = part(xs[p], rank, lo, m)
            in_slot(rank, q, p, len(mine)).copy_(vt.tensor(mine))
            if mode == 0:
                red = part(ref, p, lo, m)
                out_slot(rank, q, p, len(red)).copy_(vt.tensor(red))
    meetings = 1 + len(pieces) + (mode == 0)  # the all-reduce's last meeting precedes its last copy out
    for pid in range(programs):
        for p in range(world):
            w.header(rank)[F.TS_BAR + pid * F.MAX_WORLD + p] = meetings
    src = vt.tensor(xs[rank])
    out = src if mode == 0 else vt.empty(per if mode == 1 else world * per)
    w.run(f"fab|tp|float32|sum|{world}|{block}|{vec}|{mode}", (programs,), src, out, w.bufs, w.flags, w.status, n,
          per, length, stride, rank, 10**9)
    assert w.status.tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6, atol=1e-6)
    for q, (lo, m) in enumerate(pieces):  # this rank's pushes, piece q into half q of every rank
        for c in range(world):
            if mode == 2:
                if c != rank:
                    assert np.array_equal(out_slot(c, q, rank, m).numpy(), xs[rank][lo:lo + m]), (q, c)
                continue
            mine = part(xs[rank], c, lo, m)
            if c == rank:
                assert np.isnan(in_slot(c, q, rank, stride).numpy()).all(), q
            else:
                assert np.array_equal(in_slot(c, q, rank, len(mine)).numpy(), mine), (q, c)
            if mode == 0 and c != rank:
                red = part(ref, rank, lo, m)
                np.testing.assert_allclose(out_slot(c, q, rank, len(red)).numpy(), red, rtol=1e-6, atol=1e-6)
    assert w.header(rank)[F.TS_EPOCH:F.TS_EPOCH + programs].tolist() == [meetings] * programs


@pytest.mark.parametrize("vec", [1, 4])
def test_twoshot_reduce_scatter_and_all_gather_modes(vec):
    gen, world, rank, programs, block, k = rng(), 3, 2, 2, 64, 40
    stride = 64  # k rounded up to a cache line of float32
    w = World(world, 2 * world * stride)
    w.data(rank).narrow(0, rank * stride, stride).fill_(float("nan"))  # its own IN slot: never read
    xs = [gen.standard_normal(world * k).astype(np.float32) for _ in range(world)]
    for p in range(world):  # reduce-scatter: what the peers pushed into this rank's IN slots
        if p != rank:
            w.data(rank).narrow(0, p * stride, k).copy_(vt.tensor(xs[p][rank * k:(rank + 1) * k]))
            for pid in range(programs):
                w.header(rank)[F.TS_BAR + pid * F.MAX_WORLD + p] = 3
    out = vt.empty(k)
    w.run(f"fab|tp|float32|sum|{world}|{block}|{vec}|1", (programs,), vt.tensor(xs[rank]), out, w.bufs, w.flags,
          w.status, world * k, k, k, stride, rank, 10**9)
    ref = _reference([x[rank * k:(rank + 1) * k] for x in xs], "sum")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-6)
    for q in range(world):  # its part of q's chunk, in q's IN slot (its own: read from its input)
        if q != rank:
            assert np.array_equal(w.data(q).narrow(0, rank * stride, k).numpy(), xs[rank][q * k:(q + 1) * k])
    ys = [gen.standard_normal(k).astype(np.float32) for _ in range(world)]
    for p in range(world):  # all-gather: the peers' pieces in this rank's OUT slots
        if p != rank:
            w.data(rank).narrow(0, world * stride + p * stride, k).copy_(vt.tensor(ys[p]))
            for pid in range(programs):
                w.header(rank)[F.TS_BAR + pid * F.MAX_WORLD + p] = 6
    gathered = vt.empty(world * k)
    w.run(f"fab|tp|float32|sum|{world}|{block}|{vec}|2", (programs,), vt.tensor(ys[rank]), gathered, w.bufs,
          w.flags, w.status, world * k, k, k, stride, rank, 10**9)
    assert np.array_equal(gathered.numpy(), np.concatenate(ys))
    for q in range(world):
        if q != rank:
            assert np.array_equal(w.data(q).narrow(0, world * stride + rank * stride, k).numpy(), ys[rank])
    assert w.status.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_twoshot_records_the_missing_rank_and_writes_nothing(mode):
    """A peer that never reaches the two-shot's first meeting: the programs agree that they are out of time
    (_settle), record that peer once for the host and for this rank's later kernels, and leave out untouched."""
    gen, world, rank, programs, block, k = rng(), 3, 2, 2, 64, 40
    stride = 64
    w = World(world, 2 * world * stride)
    for pid in range(programs):  # rank 0 is there for every meeting; rank 1 never came
        w.header(rank)[F.TS_BAR + pid * F.MAX_WORLD + 0] = 10
    n, per = world * k, k  # (all-reduce: n elements in and out, chunks of per)
    src = vt.tensor(gen.standard_normal(k if mode == 2 else n).astype(np.float32))
    out = vt.full([k if mode == 1 else n], 7.0)
    w.run(f"fab|tp|float32|sum|{world}|{block}|1|{mode}", (programs,), src, out, w.bufs, w.flags, w.status, n,
          per, k, stride, rank, 10**9, spins=20)
    assert w.status[0].item() == w.header(rank)[F.DEV_STATUS].item() == 1 + 1
    assert np.all(out.numpy() == 7.0)


def test_barrier_meets_every_rank():
    world, rank = 4, 2
    w = World(world, 1)
    for call in (1, 2, 3):
        for p in range(world):
            if p != rank:
                w.arrive(rank, p, call)
        w.run(f"fab|barrier|{world}", (1,), w.flags, w.status, rank, 10**9)
        assert w.status[0].item() == 0
        assert [w.header(p)[F.BAR_OFF + rank].item() for p in range(world)] == [call] * world
    w.run(f"fab|barrier|{world}", (1,), w.flags, w.status, rank, 10**9, spins=20)  # nobody came to call 4
    assert w.status[0].item() == 1  # rank 0, the first it waited for


def test_ring_sync_publishes_relative_to_its_base_and_waits():
    world, rank = 4, 1
    w = World(world, 1)
    me = w.header(rank)
    me[F.RING_BASE] = 100  # counters continue from earlier collectives
    me[F.RING_OFF + 0] = 103  # the predecessor finished step 2
    args = lambda sig_rel, wait_rel, advance: (w.flags, w.status, rank, 0, 2, sig_rel, 0, wait_rel, -1, 0,  # noqa: E731
                                               advance, 10**9)
    w.run("fab|sync|4", (1,), *args(2, 3, 0))
    assert w.status[0].item() == 0
    assert w.header(0)[F.RING_OFF + rank].item() == 102 and w.header(2)[F.RING_OFF + rank].item() == 102
    assert w.header(3)[F.RING_OFF + rank].item() == 0  # not a neighbour: untouched
    w.run("fab|sync|4", (1,), *args(4, 3, 7))  # the last boundary: moves the base on
    assert me[F.RING_BASE].item() == 107
    w.run("fab|sync|4", (1,), *args(1, 1, 0), spins=20)  # the predecessor is at 103 < 107 + 1
    assert w.status[0].item() == 0 + 1
    assert w.header(0)[F.RING_OFF + rank].item() == 108  # it published (107 + 1) before it waited


def test_keys_are_validated():
    with pytest.raises(ValueError, match="1 to 16 ranks"):
        F.load("fab|barrier|17")
    with pytest.raises(ValueError, match="not a fabric kernel key"):
        F.load("fab|nope")


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16], ids=str)
def test_triton_reduce_copy_step(op, dtype):
    gen, n, block = rng(), 1000, 256
    a, b = (vt.tensor(gen.standard_normal(n).astype(np.float32)).to(dtype) for _ in range(2))
    ref = _reference([a.to(vt.float32).numpy(), b.to(vt.float32).numpy()], op)
    World(1, 1).run(f"fab|rc|{dtype.name}|{op}|{block}", (-(-n // block),), b, a, b, n)  # dst aliases b
    tol = 1e-6 if dtype == vt.float32 else 1e-3
    np.testing.assert_allclose(b.to(vt.float32).numpy(), ref, rtol=tol, atol=tol)


_COMPILE = """
import sys
from triton import compile
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from vibetensor.kernels.triton import fabric as F
for key in sys.argv[1:]:
    fn, sig, cx = F.load(key)
    ck = compile(ASTSource(fn=fn, signature=sig, constexprs=cx), target=GPUTarget("cuda", 90, 32),
                 options={"num_warps": F.num_warps(key)})
    assert ck.asm["cubin"], key
"""


def test_kernels_compile_for_hopper_without_a_gpu():
    """The interpreter does not lower to PTX: this catches what only the compiler rejects (types, scopes). A
    child process, because this one's kernels were made for the interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    keys = ["fab|ll|bfloat16|sum|4|1024", "fab|ll|float32|max|8|512", "fab|llr|bfloat16|sum|4|1024",
            "fab|llr|float16|min|8|256", "fab|dar|bfloat16|sum|4|1024|8", "fab|dar|float32|max|8|1024|1",
            "fab|tp|bfloat16|sum|4|2048|8|0",
            "fab|tp|float32|sum|4|8192|4|1", "fab|tp|float16|sum|8|2048|8|2", "fab|tp|float32|min|2|1024|1|0",
            "fab|tp|bfloat16|sum|4|16384|8|0", "fab|tp|float32|max|3|2048|1|0", "fab|llc|bfloat16|sum|4|1024|1",
            "fab|llc|float32|max|8|256|1", "fab|llc|float16|sum|3|256|2", "fab|llc|float32|sum|16|1024|2",
            "fab|sync|4", "fab|barrier|8", "fab|rc|float16|sum|2048"]
    done = subprocess.run([sys.executable, "-c", _COMPILE, *keys], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _tuned_endpoint(monkeypatch, programs=None, block=None, sharing=1):
    """An Endpoint's launch shape as the tuning variables (and `sharing` ranks on a 132-SM GPU) set it (no
    segments: only __init__'s reading of them)."""
    from vibetensor.fabric.collectives import cuda_peer as peer
    for name, value in (("VIBETENSOR_FABRIC_TS_PROGRAMS", programs), ("VIBETENSOR_FABRIC_TS_BLOCK", block)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(peer._C._cuda, "device_properties", lambda index: {"multi_processor_count": 132},
                        raising=False)
    ep = peer.Endpoint.__new__(peer.Endpoint)
    peer.Endpoint._read_tuning(ep, vt.device("cpu"), sharing)
    return ep


def test_twoshot_block_and_warps_follow_the_chunk_length(monkeypatch):
    from vibetensor.fabric.collectives import cuda_peer as peer
    assert peer.TS_BLOCKS["all_reduce"] == (2048, 8192) and peer.TS_BLOCKS["reduce_scatter"][-1] == 16384
    for kind, blocks in peer.TS_BLOCKS.items():
        ep = _tuned_endpoint(monkeypatch)
        assert ep.ts_programs == peer.TS_PROGRAMS and peer._ts_blocks(ep, kind) == blocks
        assert peer._ts_block(ep, kind, 1) == blocks[0]
        for smaller, block in zip(blocks, blocks[1:]):  # the largest block every program gets one of
            assert peer._ts_block(ep, kind, peer.TS_PROGRAMS * block - 1) == smaller
            assert peer._ts_block(ep, kind, peer.TS_PROGRAMS * block) == block
        assert peer._ts_block(ep, kind, 1 << 40) == blocks[-1]
        ep = _tuned_endpoint(monkeypatch, programs=264)  # more programs: each block from a longer chunk on
        big = blocks[-1]
        assert peer._ts_block(ep, kind, 264 * big - 1) == blocks[-2] and peer._ts_block(ep, kind, 264 * big) == big
        ep = _tuned_endpoint(monkeypatch, programs=264, block=4096)  # one block at every size
        assert peer._ts_block(ep, kind, 1) == 4096 and peer._ts_blocks(ep, kind) == (4096,)
    # virtual ranks of one GPU: every rank's programs must be resident at once (they meet), one per SM each
    assert _tuned_endpoint(monkeypatch, sharing=4).ts_programs == 33
    assert _tuned_endpoint(monkeypatch, sharing=2).ts_programs == 66
    assert _tuned_endpoint(monkeypatch, programs=16, sharing=4).ts_programs == 16
    assert _tuned_endpoint(monkeypatch, sharing=200).ts_programs == 1
    # and a launch per rank of the one-shot (its programs wait for the peers' words)
    assert [_tuned_endpoint(monkeypatch, sharing=s).ll_programs for s in (1, 2, 4, 200)] == \
        [peer.LL_MAX_PROGRAMS, peer.LL_MAX_PROGRAMS, 33, 1]
    ep = _tuned_endpoint(monkeypatch, sharing=4)
    monkeypatch.setattr(peer, "LL_MAX_PROGRAMS", 16)  # read per call: the one-shot sweeps set it
    assert ep.ll_programs == 16
    for programs, block in ((F.MAX_PROGRAMS + 1, None), (1, 3000), (1, 512), (1, 32768)):
        with pytest.raises(ValueError, match="VIBETENSOR_FABRIC_TS_(PROGRAMS|BLOCK) must"):
            _tuned_endpoint(monkeypatch, programs=programs, block=block)
    assert [F.num_warps(f"fab|tp|bfloat16|sum|4|{b}|8|0") for b in (2048, 8192, 16384)] == [4, 8, 16]
    assert F.num_warps("fab|barrier|4") == 1 and F.num_warps("fab|ll|float32|sum|4|1024") == F.NUM_WARPS


def test_oneshot_kernels_by_kind():
    """prepare() loads, for "oneshot", the LL kernel each kind launches: fab|llc with the kind's mode for
    reduce_scatter and all_gather (a launch per rank, even where the ranks share a GPU), fab|ll or fab|llr for
    all_reduce."""
    from types import SimpleNamespace
    from vibetensor.fabric.collectives import cuda_peer as peer
    ep = SimpleNamespace(world=4, one_launch=False, ts_block=0)

    def keys(kind):
        return [k for k in peer._keys(ep, vt.bfloat16, peer.ReduceOp.SUM, kind, "oneshot") if k.startswith("fab|ll")]
    for one_launch, all_reduce in ((False, "ll"), (True, "llr")):
        ep.one_launch = one_launch
        assert keys("reduce_scatter") == [f"fab|llc|bfloat16|sum|4|{b}|1" for b in peer.LL_BLOCKS]
        assert keys("all_gather") == [f"fab|llc|bfloat16|sum|4|{b}|2" for b in peer.LL_BLOCKS]
        assert keys("all_reduce") == [f"fab|{all_reduce}|bfloat16|sum|4|{b}" for b in peer.LL_BLOCKS]
    assert not keys("broadcast")
