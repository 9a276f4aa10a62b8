"""send/recv of a shared-memory group: one channel per ordered pair, outside the collectives' sequence.

The sender owns a buffer per destination. Message k: the sender waits until the receiver acknowledged message
k-1 (so the buffer is free), copies the data in, publishes its size and SENT = k, and returns (buffered, like
MPI's eager sends: two ranks sending to each other first do not deadlock). The receiver waits for SENT >= k,
copies out and sets ACKED = k.
"""
import numpy as np

from .. import observe
from .api import CollectiveError
from .checks import check_peer
from .shm_segment import Segment
from .shm_sync import ACKED, CAP, NBYTES, SENT, VER

_MIN = 1 << 12


class PointToPoint:
    def __init__(self, group):
        self.g = group
        self.sent, self.received = {}, {}
        self.out_bufs, self.in_bufs = {}, {}  # dst -> (version, Segment); src -> (version, Segment)

    def _peer(self, what, r):
        check_peer(what, r, self.g.rank, self.g.size)

    def send(self, x, dst):
        self._peer("send", dst)
        g, ctl = self.g, self.g._ctl
        k = self.sent.get(dst, 0) + 1
        ctl.wait_words([ctl.pair(g.rank, dst, ACKED)], [dst], k - 1, "send")
        ver, seg = self.out_bufs.get(dst, (0, None))
        if seg is None or seg.size < x.nbytes:
            if seg is not None:
                seg.unlink()
                seg.close()
            ver += 1
            size = max(_MIN, 1 << (max(x.nbytes, 1) - 1).bit_length())
            seg = Segment(f"{g._prefix}-p{g.rank}-{dst}-v{ver}", size, create=True)
            self.out_bufs[dst] = (ver, seg)
            ctl.w[ctl.pair(g.rank, dst, CAP)] = size
            ctl.w[ctl.pair(g.rank, dst, VER)] = ver
        np.copyto(seg.array(np.uint8, x.nbytes), x.flat.view(np.uint8))
        ctl.w[ctl.pair(g.rank, dst, NBYTES)] = x.nbytes
        ctl.w[ctl.pair(g.rank, dst, SENT)] = k
        self.sent[dst] = k

    def recv(self, x, src):
        self._peer("recv", src)
        g, ctl = self.g, self.g._ctl
        k = self.received.get(src, 0) + 1
        ctl.wait_words([ctl.pair(src, g.rank, SENT)], [src], k, "recv")
        nbytes = int(ctl.w[ctl.pair(src, g.rank, NBYTES)])
        if nbytes != x.nbytes:
            raise CollectiveError(f"recv: rank {src} sent {nbytes} bytes but the receiving tensor holds {x.nbytes}")
        ver = int(ctl.w[ctl.pair(src, g.rank, VER)])
        have = self.in_bufs.get(src)
        if have is None or have[0] != ver:
            if have is not None:
                have[1].close()
            have = self.in_bufs[src] = (ver, Segment(f"{g._prefix}-p{src}-{g.rank}-v{ver}", 0, create=False))
        np.copyto(x.flat.view(np.uint8), have[1].array(np.uint8, nbytes))
        ctl.w[ctl.pair(src, g.rank, ACKED)] = k
        self.received[src] = k
        gr = g.global_ranks
        observe.record("recv", group=g.gid, rank=gr[g.rank], nbytes=nbytes, links={(gr[src], gr[g.rank]): nbytes})

    def flush(self):
        """Waits (bounded) until every receiver took what we sent: our buffers go when we close."""
        ctl = self.g._ctl
        for dst, k in self.sent.items():
            ctl.wait_words([ctl.pair(self.g.rank, dst, ACKED)], [dst], k, "close")

    def owned(self):
        return [s for _, s in self.out_bufs.values()]

    def segments(self):
        return self.owned() + [s for _, s in self.in_bufs.values()]
