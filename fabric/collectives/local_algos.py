"""The collective algorithms over flat per-device buffers, for one process driving every member.

Each function takes the member devices, one 1-D contiguous buffer per device and a `links` dict it adds
{(src, dst): bytes} to. Work for device d is issued on d's stream after waiting on the marks it depends
on (see local_streams); on CPU slots the same code runs in program order.

Ring steps follow fabric.collectives.schedule exactly. In a step, receiver d reads its predecessor's
send chunk and writes its own receive chunk, which differ, so no staging copy is needed; before step g a
device waits on its predecessor's step g-1 (the data it reads) and on its successor's step g-1 (the last
reader of the chunk it overwrites: in the all-gather phase that reader is one full phase behind).
"""
from . import schedule
from . import local_streams as ls
from .api import ReduceOp
from ... import _C


def combine(op, dst, src):
    """dst <- dst (op) src, in place."""
    if op in (ReduceOp.SUM, ReduceOp.AVG):
        dst.add_(src)
    elif op is ReduceOp.MAX:
        dst.copy_(_C._ops.maximum(dst, src))
    else:
        dst.copy_(_C._ops.minimum(dst, src))


def _add_link(links, src, dst, nbytes):
    if nbytes and src is not dst:
        key = (str(src), str(dst))
        links[key] = links.get(key, 0) + nbytes


def _ring_phase(devs, bufs, bounds, steps_of, apply, links):
    n = len(devs)
    steps = [steps_of(d, n) for d in range(n)]
    item = bufs[0].element_size()
    for s in range(n - 1):
        marks = [ls.mark(d) for d in devs]
        for d in range(n):
            prev, nxt = (d - 1) % n, (d + 1) % n
            lo, hi = bounds[steps[d][s][1]]
            if hi == lo:
                continue
            dev = devs[d]
            with ls.on(dev):
                ls.wait(dev, (marks[prev], marks[nxt]))
                apply(bufs[d].narrow(0, lo, hi - lo), ls.fetch(bufs[prev].narrow(0, lo, hi - lo), dev))
            _add_link(links, devs[prev], dev, (hi - lo) * item)


def ring_reduce_scatter(devs, bufs, op, links):
    """Afterwards bufs[r] holds the full reduction of chunk r (schedule.chunk_bounds)."""
    bounds = schedule.chunk_bounds(bufs[0].numel(), len(devs))
    _ring_phase(devs, bufs, bounds, schedule.ring_reduce_scatter, lambda d, s: combine(op, d, s), links)


def ring_all_gather(devs, bufs, links):
    """bufs[r] starts with chunk r complete; afterwards every buffer holds every chunk."""
    bounds = schedule.chunk_bounds(bufs[0].numel(), len(devs))
    _ring_phase(devs, bufs, bounds, schedule.ring_all_gather, lambda d, s: d.copy_(s), links)


def ring_all_reduce(devs, bufs, op, links):
    ring_reduce_scatter(devs, bufs, op, links)
    ring_all_gather(devs, bufs, links)


def oneshot_reduce(devs, srcs, dsts, op, links, piece=None):
    """dsts[d] <- reduction over every rank p of piece(srcs[p], d) (piece: which part of a source device d
    needs; default all of it). Every device adds the sources in rank order, so all results are bitwise
    equal. dsts must not alias srcs (the in-place all-reduce stages through scratch)."""
    piece = piece or (lambda t, d: t)
    ready = [ls.mark(d) for d in devs]
    for d, dev in enumerate(devs):
        with ls.on(dev):
            ls.wait(dev, ready)
            for p in range(len(devs)):
                src = ls.fetch(piece(srcs[p], d), dev)
                dsts[d].copy_(src) if p == 0 else combine(op, dsts[d], src)
                _add_link(links, devs[p], dev, src.numel() * src.element_size())


def oneshot_all_reduce(devs, bufs, op, links):
    scratch = []
    for dev, b in zip(devs, bufs):
        with ls.on(dev):
            scratch.append(b.new_empty(b.shape))
    oneshot_reduce(devs, bufs, scratch, op, links)
    ls.join_members(devs)  # everyone has read every input before anyone overwrites its own
    for dev, b, s in zip(devs, bufs, scratch):
        with ls.on(dev):
            b.copy_(s)


def oneshot_all_gather(devs, inputs, outputs, links):
    """outputs[d] (flat) <- concatenation of every flat input, each read straight from its owner."""
    ready = [ls.mark(d) for d in devs]
    for d, dev in enumerate(devs):
        with ls.on(dev):
            ls.wait(dev, ready)
            for p, src in enumerate(inputs):
                k = src.numel()
                outputs[d].narrow(0, p * k, k).copy_(ls.fetch(src, dev))
                _add_link(links, devs[p], dev, k * src.element_size())


def chain_broadcast(devs, bufs, src, links):
    """Pipelined broadcast along the ring from `src`: the message in len(devs) chunks, hop h forwarding
    chunk s - h at step s."""
    n = len(devs)
    order = [(src + i) % n for i in range(n)]
    bounds = schedule.chunk_bounds(bufs[0].numel(), n)
    item = bufs[0].element_size()
    for s in range(2 * n - 2):
        marks = [ls.mark(d) for d in devs]
        for h in range(n - 1):
            c = s - h
            if not 0 <= c < n:
                continue
            lo, hi = bounds[c]
            a, b = order[h], order[h + 1]
            if hi == lo:
                continue
            with ls.on(devs[b]):
                ls.wait(devs[b], (marks[a],))
                bufs[b].narrow(0, lo, hi - lo).copy_(ls.fetch(bufs[a].narrow(0, lo, hi - lo), devs[b]))
            _add_link(links, devs[a], devs[b], (hi - lo) * item)


def direct_broadcast(devs, bufs, src, links):
    ready = ls.mark(devs[src])
    for d, dev in enumerate(devs):
        if d == src:
            continue
        with ls.on(dev):
            ls.wait(dev, (ready,))
            bufs[d].copy_(ls.fetch(bufs[src], dev))
        _add_link(links, devs[src], dev, bufs[d].numel() * bufs[d].element_size())


def direct_all_to_all(devs, inputs, outputs, links):
    """Chunk j of rank i's flat input becomes chunk i of rank j's flat output."""
    n = len(devs)
    k = inputs[0].numel() // n
    ready = [ls.mark(d) for d in devs]
    for j, dev in enumerate(devs):
        with ls.on(dev):
            ls.wait(dev, ready)
            for i in range(n):
                outputs[j].narrow(0, i * k, k).copy_(ls.fetch(inputs[i].narrow(0, j * k, k), dev))
                _add_link(links, devs[i], dev, k * inputs[i].element_size())
