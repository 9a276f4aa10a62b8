"""RankPool: N spawned processes, each a rank of one ShmGroup, that run functions on request.

Tests and benchmarks use it to exercise the real transport with real processes while paying the process start
once: `pool.run(fn, *args)` calls fn(group, *args) on every rank (args may be per-rank: see `PerRank`) and
returns the per-rank results, or raises with the ranks' tracebacks. Waits are bounded, so a hung or dead rank
shows up as an error, never as a hang of the caller.
"""
import itertools
import multiprocessing as mp
import multiprocessing.connection
import os
import time
import traceback

_counter = itertools.count()


class PerRank(list):
    """An argument whose element r goes to rank r."""


class RankError(RuntimeError):
    """A function raised (or its process died) on one or more ranks."""

    def __init__(self, failures):
        self.failures = failures  # {rank: traceback text or why it is missing}
        text = "\n".join(f"--- rank {r}:\n{tb}" for r, tb in sorted(failures.items()))
        super().__init__(f"ranks {sorted(failures)} failed:\n{text}")


class RankPool:
    def __init__(self, size, job=None, env=None, timeout=None):
        self.size = size
        self.job = job or f"pool{os.getpid()}x{next(_counter)}"
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for r in range(size):
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(r, size, self.job, dict(env or {}), timeout, theirs), daemon=True)
            p.start()
            theirs.close()
            self.conns.append(ours)
            self.procs.append(p)

    def run(self, fn, *args, timeout=60.0, allow_failures=False):
        """fn(group, *args) on every rank -> [result of rank 0, ...]. With allow_failures, a rank that raised
        gives its exception object and a rank that died gives None, instead of raising RankError."""
        for r, c in enumerate(self.conns):
            c.send((fn, tuple(a[r] if isinstance(a, PerRank) else a for a in args)))
        results, failures = [None] * self.size, {}
        waiting, deadline = dict(enumerate(self.conns)), time.monotonic() + timeout
        while waiting:
            ready = multiprocessing.connection.wait(list(waiting.values()), max(0.0, deadline - time.monotonic()))
            if not ready:
                failures.update({r: f"no answer within {timeout} s" for r in waiting})
                break
            for r, c in list(waiting.items()):
                if c in ready:
                    del waiting[r]
                    try:
                        ok, value, tb = c.recv()
                    except (EOFError, OSError):
                        failures[r] = f"process died (exit code {self.procs[r].exitcode})"
                        continue
                    results[r] = value
                    if not ok:
                        failures[r] = tb
        if failures and not allow_failures:
            raise RankError(failures)
        return results

    def close(self, timeout=10.0):
        for c, p in zip(self.conns, self.procs):
            if p.is_alive():
                try:
                    c.send(None)
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + timeout
        for p in self.procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        for c in self.conns:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _worker(rank, size, job, env, timeout, conn):
    os.environ.update(env)
    from .shm import ShmGroup
    group = None
    while True:
        task = conn.recv()
        if task is None:
            break
        fn, args = task
        try:
            if group is None:
                group = ShmGroup(rank, size, job=job, timeout=timeout)
            conn.send((True, fn(group, *args), None))
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
            conn.send((False, e if _picklable(e) else None, traceback.format_exc()))
    if group is not None:
        group.close()


def _picklable(e):
    import pickle
    try:
        pickle.loads(pickle.dumps(e))
        return True
    except Exception:  # noqa: BLE001
        return False
