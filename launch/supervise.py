"""Spawning and supervising one node's ranks: fail fast, forward signals, time out, restart.

Each rank is the leader of its own process group, so stopping a rank (``killpg``) also stops what
it started (data-loader workers, compilers). Terminal Ctrl-C reaches only the launcher; the
launcher forwards it. Whatever happens (success, a failed rank, a signal, a timeout, a restart),
every group is swept with SIGKILL before the launcher moves on: no orphans. Then the shared-memory
segments of the attempt's job (``VIBETENSOR_FABRIC_JOB``) are removed: a rank killed by a signal cannot remove its
own, and with a new job id per attempt no later rendezvous would find them.

Exit status: 0 when every rank exits 0; the first failed rank's exit code (128 + signal number
when a signal killed it); 124 on ``--timeout``; on SIGINT/SIGTERM/SIGHUP the launcher, after
stopping the ranks, dies of the same signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import config
from ..fabric.collectives.shm_segment import job_prefix, remove_all
from .output import OutputMux

__all__ = ["Rank", "JobSpec", "Supervisor", "describe_exit", "PROG"]

PROG = "vibetensor-launch"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_S = 0.05
TIMEOUT_EXIT = 124  # what coreutils `timeout` returns
# Each rank leads its own process group (set in the fork, no preexec_fn: safe with our threads).
# Python < 3.11 has only setsid, which also detaches the rank from the terminal: fine, stdin is closed.
_OWN_GROUP = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``signal SIGKILL (9)`` from a Popen return code.

    >>> describe_exit(3), describe_exit(-9)
    ('exit code 3', 'signal SIGKILL (9)')
    """
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "unknown signal"
    return f"signal {name} ({-returncode})"


@dataclass
class Rank:
    """One running rank: its global rank, process, and when it was seen to exit."""

    rank: int
    proc: subprocess.Popen
    returncode: int | None = None

    @property
    def pgid(self) -> int:
        return self.proc.pid  # the rank leads its own group


@dataclass
class JobSpec:
    """What to start: per-attempt (argv, environment) for each local rank, built by the caller so a
    restart can get a new port and job id."""

    build: Callable[[int], list[tuple[int, list[str], dict[str, str]]]]  # attempt -> [(rank, argv, env)]
    max_restarts: int = 0
    timeout: float | None = None
    grace: float = 3.0


@dataclass
class _Outcome:
    kind: str  # "ok", "failed", "signal", "timeout"
    rank: Rank | None = None
    signum: int = 0
    hung: list[Rank] = field(default_factory=list)


class Supervisor:
    """Runs a :class:`JobSpec` to completion; :meth:`run` returns the launcher's exit status."""

    def __init__(self, spec: JobSpec, mux: OutputMux) -> None:
        self.spec = spec
        self.mux = mux
        self._signals: list[int] = []
        self._start = time.monotonic()
        self._jobs: set[str] = set()  # VIBETENSOR_FABRIC_JOB of the current attempt's ranks

    # -- the job ----------------------------------------------------------------------------------

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in FORWARDED}
        try:
            attempt = 0
            while True:
                ranks = self._spawn(attempt)
                outcome = self._watch(ranks)
                status = self._finish(ranks, outcome, attempt)
                self._remove_segments()  # every rank of the attempt is gone now
                if outcome.kind == "failed" and attempt < self.spec.max_restarts and not self._signals:
                    attempt += 1
                    self.mux.message(f"{PROG}: restarting all ranks (restart {attempt} of "
                                     f"{self.spec.max_restarts})")
                    continue
                break
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            self.mux.close()
        if outcome.kind == "signal":
            # Die of the same signal, so a shell (or a parent launcher) sees what happened.
            signal.signal(outcome.signum, signal.SIG_DFL)
            os.kill(os.getpid(), outcome.signum)
        return status

    def _on_signal(self, signum: int, frame) -> None:  # noqa: ARG002 - signal handler signature
        self._signals.append(signum)

    def _spawn(self, attempt: int) -> list[Rank]:
        ranks = []
        header = f"attempt {attempt + 1} (VIBETENSOR_RESTART_COUNT={attempt})" if attempt else None
        try:
            for rank, argv, env in self.spec.build(attempt):
                if env.get("VIBETENSOR_FABRIC_JOB"):
                    self._jobs.add(env["VIBETENSOR_FABRIC_JOB"])
                proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, **_OWN_GROUP)
                ranks.append(Rank(rank, proc))
                # The pipes now belong to the output threads (they close them at end of file).
                out, err = os.dup(proc.stdout.fileno()), os.dup(proc.stderr.fileno())
                proc.stdout.close()
                proc.stderr.close()
                self.mux.attach(rank, out, err, header)
                cpus = config.get("VIBETENSOR_CPUS", env)
                if cpus:
                    _pin(proc.pid, cpus)
        except BaseException:
            self._stop(ranks, signal.SIGKILL)
            raise
        return ranks

    def _watch(self, ranks: list[Rank]) -> _Outcome:
        deadline = self._start + self.spec.timeout if self.spec.timeout else None
        while True:
            if self._signals:
                return _Outcome("signal", signum=self._signals[0])
            running = 0
            for r in ranks:
                if r.returncode is None:
                    r.returncode = r.proc.poll()
                    if r.returncode is None:
                        running += 1
                    elif r.returncode != 0:
                        return _Outcome("failed", rank=r)
            if not running:
                return _Outcome("ok")
            if deadline is not None and time.monotonic() > deadline:
                return _Outcome("timeout", hung=[r for r in ranks if r.returncode is None])
            time.sleep(POLL_S)

    # -- stopping and reporting ------------------------------------------------------------------

    def _finish(self, ranks: list[Rank], outcome: _Outcome, attempt: int) -> int:
        if outcome.kind == "ok":
            self._stop(ranks, signal.SIGTERM)  # sweeps what finished ranks left behind
            self._drain(ranks)
            return 0
        if outcome.kind == "signal":
            name = signal.Signals(outcome.signum).name
            self.mux.message(f"{PROG}: got {name}; forwarding it to all ranks")
            self._stop(ranks, outcome.signum)
            self._drain(ranks)
            return 128 + outcome.signum
        if outcome.kind == "timeout":
            return self._timed_out(ranks, outcome.hung)
        failed = outcome.rank
        others = [r.rank for r in ranks if r is not failed and r.returncode is None]
        self._stop(ranks, signal.SIGTERM)
        self._drain(ranks)
        elapsed = time.monotonic() - self._start
        lines = [f"{PROG}: rank {failed.rank} (pid {failed.proc.pid}) failed with "
                 f"{describe_exit(failed.returncode)} after {elapsed:.1f} s"
                 + (f" (attempt {attempt + 1})" if self.spec.max_restarts else "")]
        lines += self._tail_lines(failed)
        if others:
            lines.append(f"{PROG}: stopped the other running rank(s): {', '.join(map(str, others))}")
        self.mux.message("\n".join(lines))
        rc = failed.returncode
        return rc if 0 < rc < 256 else 128 + (-rc if rc < 0 else 1)

    def _timed_out(self, ranks: list[Rank], hung: list[Rank]) -> int:
        # SIGABRT first: with PYTHONFAULTHANDLER (set by the launcher) Python prints every thread's
        # stack, which shows where the rank hung.
        for r in hung:
            _signal_leader(r, signal.SIGABRT)
        _wait_exit(hung, 2.0)
        self._stop(ranks, signal.SIGTERM)
        self._drain(ranks)
        lines = [f"{PROG}: job timed out after {self.spec.timeout:g} s (--timeout); rank(s) still running: "
                 f"{', '.join(str(r.rank) for r in hung)}; stopped them (SIGABRT first, so Python printed their stacks)"]
        for r in hung[:2]:
            lines += self._tail_lines(r)
        self.mux.message("\n".join(lines))
        return TIMEOUT_EXIT

    def _tail_lines(self, r: Rank) -> list[str]:
        tail = self.mux.tail(r.rank)
        if not tail:
            return [f"{PROG}: rank {r.rank} wrote nothing to stderr"]
        return [f"{PROG}: last {len(tail)} line(s) of rank {r.rank}'s stderr:"] + [f"  [{r.rank}] {t}" for t in tail]

    def _stop(self, ranks: list[Rank], first: int) -> None:
        """``first`` to every group, SIGKILL to whatever is left after the grace period."""
        for r in ranks:
            _signal_group(r, first)
        _wait_exit([r for r in ranks if r.returncode is None], self.spec.grace, self._signals)
        for r in ranks:
            _signal_group(r, signal.SIGKILL)
        for r in ranks:
            if r.returncode is None:
                r.returncode = r.proc.wait()

    def _remove_segments(self) -> None:
        for job in self._jobs:
            remove_all(job_prefix(job))
        self._jobs.clear()

    def _drain(self, ranks: list[Rank]) -> None:
        for r in ranks:
            self.mux.drain(r.rank, 2.0)


def _signal_group(r: Rank, signum: int) -> None:
    try:
        os.killpg(r.pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is gone already


def _signal_leader(r: Rank, signum: int) -> None:
    try:
        r.proc.send_signal(signum)
    except ProcessLookupError:
        pass


def _wait_exit(ranks: list[Rank], seconds: float, interrupts: list[int] | None = None) -> None:
    """Poll until the ranks exit, ``seconds`` pass, or (with ``interrupts``) a new signal arrives:
    a second Ctrl-C cuts the grace period short."""
    seen = len(interrupts) if interrupts is not None else 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for r in ranks:
            if r.returncode is None:
                r.returncode = r.proc.poll()
        if all(r.returncode is not None for r in ranks):
            return
        if interrupts is not None and len(interrupts) > seen:
            return
        time.sleep(POLL_S / 2)


def _pin(pid: int, cpulist: str) -> None:
    try:
        os.sched_setaffinity(pid, {int(c) for c in cpulist.split(",")})
    except OSError:
        pass  # the rank already exited, or the CPUs went away: it runs unpinned
