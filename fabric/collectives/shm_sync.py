"""The control block of a shared-memory group: per-rank slots of int64 flags, and bounded waits on them.

Flags only grow (sequence numbers), each is written by one rank and read by the others, so the hot path needs no
locks: a writer fills its data, then stores the flag; a reader sees the flag, then reads the data. That ordering
relies on x86-64's total store order (numpy stores an aligned int64 with one instruction, and every flag access
is a separate interpreter-level call, so the compiler cannot reorder data and flag accesses around it).

Layout (int64 words): a header, `size` slots of SLOT words (whole cache lines, so ranks spinning on a
neighbour's flag do not share a line with their own), then size*size point-to-point pair records. A slot holds
two op descriptors, one per buffer half: a rank may start collective s while a slow peer still checks its
descriptor of collective s - 1.
"""
import os
import time

import numpy as np

from ... import config
from .api import CollectiveError, RankFailure
from ...tensor_core.process import is_alive

MAGIC = 0x7674666162726963  # "vtfabric"
HEADER = 8
SLOT = 32
PAIR = 8
# slot fields
PID, START, READY, DONE, BUFVER, BUFCAP, ABORT, LEFT, ABORT_WHY, PIPED, CONSUMED, REDUCED = range(12)
OPSEQ, OPCODE, OPNBYTES, OPARG = range(16, 20)  # + 4 * (seq % 2)
_WHY = {1: "died", 2: "did not arrive within {t:g} s"}
# pair fields (written by the sender: SENT, NBYTES, VER, CAP; by the receiver: ACKED)
SENT, ACKED, NBYTES, VER, CAP = range(5)

LIVENESS_S = 0.05  # how often a waiting rank checks that its peers are still alive


def control_words(size):
    return HEADER + size * SLOT + size * size * PAIR


class Control:
    """The control block of one group as seen by one rank (`rank` of `size`)."""

    def __init__(self, words, rank, size, timeout):
        self.w, self.rank, self.size, self.timeout = words, rank, size, timeout
        self.identities = None  # [(pid, start)] once everyone has joined

    def slot(self, r, field):
        return HEADER + r * SLOT + field

    def pair(self, src, dst, field):
        return HEADER + self.size * SLOT + (src * self.size + dst) * PAIR + field

    def get(self, r, field):
        return int(self.w[self.slot(r, field)])

    def set(self, field, value):
        self.w[self.slot(self.rank, field)] = value

    def wait_slots(self, ranks, field, target, collective):
        """Returns once slot `field` of every rank in `ranks` is >= target."""
        self.wait_words([self.slot(r, field) for r in ranks], list(ranks), target, collective)

    def wait_words(self, idx, ranks, target, collective):
        """Returns once w[i] >= target for every i in idx (ranks[k] is whose word idx[k] is, for errors).
        Raises RankFailure when one of the group died, gave up, or did not get there within the timeout."""
        w = self.w
        pending = [k for k in range(len(idx)) if w[idx[k]] < target]
        if not pending:
            return
        # A wait busy-polls VIBETENSOR_FABRIC_SPIN_US (default 0: see shm_direct.Direct), then sched_yields for
        # VIBETENSOR_FABRIC_YIELD_MS (ranks may outnumber cores: give ours to them), then naps up to 1 ms (a peer
        # that is truly late). Read at call time, past the fast return: only a wait that blocks pays.
        start = time.monotonic()
        spin_until = start + config.get("VIBETENSOR_FABRIC_SPIN_US") * 1e-6
        while True:
            for _ in range(16):
                pending = [k for k in pending if w[idx[k]] < target]
                if not pending:
                    return
            if time.monotonic() > spin_until:
                break
        next_check, nap = start + LIVENESS_S, 5e-5
        yield_s = config.get("VIBETENSOR_FABRIC_YIELD_MS") * 1e-3
        while True:
            pending = [k for k in pending if w[idx[k]] < target]
            if not pending:
                return
            now = time.monotonic()
            if now - start < yield_s:
                os.sched_yield()
                continue
            if now >= next_check:
                self.check_peers(collective)
                if now - start > self.timeout:
                    missing = sorted({ranks[k] for k in pending})
                    raise RankFailure(collective, missing, f"did not arrive within {self.timeout:g} s")
                next_check = now + LIVENESS_S
            time.sleep(nap)
            nap = min(nap * 2, 1e-3)

    def check_peers(self, collective):
        """Raises RankFailure if a member died or reported a failure of its own (so we stop waiting at once)."""
        dead = [r for r, (pid, st) in enumerate(self.identities or ()) if r != self.rank and not is_alive(pid, st)]
        if dead:
            pids = ", ".join(str(self.identities[r][0]) for r in dead)
            raise RankFailure(collective, dead, f"died (pid {pids})")
        for r in range(self.size):
            failed = self.get(r, ABORT)
            if r != self.rank and failed:
                why = _WHY.get(self.get(r, ABORT_WHY), "failed").format(t=self.timeout)
                raise RankFailure(collective, [failed - 1], f"{why} (reported by rank {r})")

    def abort(self, failure):
        """Tells the others we gave up because of `failure` (a RankFailure), so they raise at once instead of
        waiting out the timeout."""
        ranks = [r for r in failure.ranks if r != self.rank]
        if ranks:
            self.set(ABORT_WHY, 1 if failure.reason.startswith("died") else 2)
            self.set(ABORT, ranks[0] + 1)


def check_same_op(ctl, peers, seq, code, nbytes, arg, collective):
    """Every rank publishes (seq, op, bytes, root) with its first flag of a collective: a peer that called a
    different collective, or the same one with other sizes, makes the collective fail loudly, not corrupt."""
    at = 4 * (seq % 2)
    for p in peers:
        theirs = tuple(ctl.get(p, f + at) for f in (OPSEQ, OPCODE, OPNBYTES, OPARG))
        if theirs != (seq, code, nbytes, arg):
            raise CollectiveError(
                f"{collective}: rank {p} is in a different collective (call {theirs[0]}, op code {theirs[1]}, "
                f"{theirs[2]} bytes, root {theirs[3]}) than rank {ctl.rank} (call {seq}, op code {code}, "
                f"{nbytes} bytes, root {arg}): every rank must call the same collectives in the same order "
                f"with the same sizes")


def new_words(seg, size):
    """The control words of a fresh segment, header filled in."""
    w = seg.array(np.int64)
    w[:] = 0
    w[1] = size
    w[0] = MAGIC  # last: a joiner that sees the magic sees the rest
    return w
