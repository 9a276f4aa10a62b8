"""Bounded waits on MPI requests: a dead or missing peer raises RankFailure instead of blocking forever.

MPI's blocking calls wait without limit, so every MpiGroup operation is a non-blocking one (Iallreduce, Ibarrier,
Improbe, ...) polled here until the group's timeout. MPI progresses a request only inside MPI calls, so polling
*is* the progress engine: Test tightly for a short while (a blocking MPI_Wait would spin the same way), then back
off to short sleeps, which leaves the CPU to the other ranks of an oversubscribed host while a peer is late.
"""
import time

from .api import CollectiveError, RankFailure

SPIN_SECONDS = 2e-3  # tight polling first: most collectives of a healthy job finish within it
MAX_SLEEP = 1e-3  # slowest polling while waiting: a late peer's data is picked up within ~1 ms


class PeerFailure(RankFailure):
    """A RankFailure where MPI could not say which rank failed (ranks is empty): 'a peer' stands in."""

    def __init__(self, collective, ranks, reason):
        super().__init__(collective, ranks, reason)
        if not self.ranks:
            self.args = (f"{collective}: a peer {reason}",)


def poll(test, timeout, collective, peers=()):
    """Calls test() until it returns something other than None/False and returns that; raises PeerFailure naming
    `peers` (or 'a peer') after `timeout` seconds, and turns MPI errors into CollectiveError/RankFailure."""
    start = time.monotonic()
    deadline, sleep = start + timeout, 0.0
    while True:
        try:
            done = test()
        except Exception as e:  # noqa: BLE001 - mpi4py raises MPI.Exception; others pass through unchanged
            raise translate(e, collective, peers) from e
        if done is not None and done is not False:
            return done
        now = time.monotonic()
        if now >= deadline:
            raise PeerFailure(collective, peers, f"did not arrive within {timeout:g} s (MPI cannot tell which rank "
                                                 f"when several take part)" if not peers else
                              f"did not arrive within {timeout:g} s")
        if now - start > SPIN_SECONDS:
            sleep = min(MAX_SLEEP, max(2e-5, sleep * 2))
            time.sleep(min(sleep, max(0.0, deadline - now)))


def wait_request(req, timeout, collective, peers=()):
    """Waits (bounded) for one MPI request."""
    poll(req.Test, timeout, collective, peers)


def translate(e, collective, peers):
    try:
        from mpi4py import MPI
    except ImportError:  # not an MPI error, then
        return e
    if not isinstance(e, MPI.Exception):
        return e
    failed = {getattr(MPI, n) for n in ("ERR_PROC_FAILED", "ERR_PROC_FAILED_PENDING", "ERR_REVOKED")
              if hasattr(MPI, n)}
    if e.Get_error_class() in failed:
        return PeerFailure(collective, peers, f"failed ({e.Get_error_string()})")
    return CollectiveError(f"{collective}: MPI error: {e.Get_error_string()}")
