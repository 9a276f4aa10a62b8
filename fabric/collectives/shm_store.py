"""Rendezvous and teardown of shared-memory groups (the cold path: file locks are fine here).

A group's control block is the segment `<job prefix>-<gid>.ctl`. Each rank writes its (pid, start time) into its
own slot and waits until every slot is filled. A control block left by a crashed run of the same job (a slot
held by a dead process) is removed with everything else that run left, and a fresh one is made; a rank that
joined the old one notices its name now points elsewhere and joins again.
"""
import glob
import os
import time

from ... import config
from .api import CollectiveError, RankFailure
from .shm_segment import Segment, job_prefix, locked, path_of, remove_all
from ...tensor_core.process import is_alive, process_identity
from .shm_sync import LEFT, MAGIC, PID, START, Control, control_words, new_words


def job_id(job=None):
    """The job key: the argument, else VIBETENSOR_FABRIC_JOB, else MASTER_ADDR:MASTER_PORT (torchrun and
    vibetensor-launch set both), else None."""
    job = job or config.get("VIBETENSOR_FABRIC_JOB")
    if job:
        return str(job)
    if os.environ.get("MASTER_PORT"):
        return f"{os.environ.get('MASTER_ADDR', 'localhost')}:{os.environ['MASTER_PORT']}"
    return None


def names(job, gid):
    prefix = job_prefix(job)
    return prefix, f"{prefix}.lock", f"{prefix}-{gid}"


def join(job, gid, rank, size, timeout):
    """Joins group `gid` of `job` as `rank` of `size`; returns (control segment, Control) once all have joined."""
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} is out of range for a group of size {size}")
    _, lock, group = names(job, gid)
    me = process_identity()
    deadline = time.monotonic() + timeout
    while True:
        with locked(lock):
            seg = _attach_or_create(group, size, rank, me, job)
            w = seg.array("int64")
            ctl = Control(w, rank, size, timeout)
            ctl.set(START, me[1])
            ctl.set(PID, me[0])  # last: a peer that sees the pid sees the start time
        try:
            if _wait_all_joined(seg, ctl, deadline, timeout):
                return seg, ctl
        except RankFailure:
            leave(job, gid, ctl, seg, whole_job=gid == "w")  # don't leave a half-joined block behind
            raise
        seg.close()  # replaced by a stale-job cleanup while we waited: join the new one


def _attach_or_create(group, size, rank, me, job):
    name = f"{group}.ctl"
    words = control_words(size)
    if os.path.exists(path_of(name)):
        seg = Segment(name, 0, create=False)
        w = seg.array("int64")
        stale = len(w) != words or w[0] != MAGIC or w[1] != size
        if not stale:
            ctl = Control(w, rank, size, 0)
            live = [r for r in range(size) if ctl.get(r, PID) and is_alive(ctl.get(r, PID), ctl.get(r, START))]
            dead = [r for r in range(size) if ctl.get(r, PID) and r not in live]
            if rank in live and ctl.get(rank, PID) != me[0]:
                raise CollectiveError(
                    f"rendezvous: rank {rank} of job {job!r} is already held by live process {ctl.get(rank, PID)} "
                    f"(two processes with the same RANK, or another job with the same id: set VIBETENSOR_FABRIC_JOB)")
            stale = bool(dead) or any(ctl.get(r, LEFT) for r in range(size))
        if not stale:
            return seg
        seg.close()
        remove_all(group)  # the crashed run's control block, buffers and subgroups
    seg = Segment(name, words * 8, create=True)
    new_words(seg, size)
    return seg


def _wait_all_joined(seg, ctl, deadline, timeout):
    nap = 1e-4
    while True:
        missing = [r for r in range(ctl.size) if ctl.get(r, PID) == 0]
        if not missing:
            ctl.identities = [(ctl.get(r, PID), ctl.get(r, START)) for r in range(ctl.size)]
            return True
        if not seg.still_named():
            return False
        joined = [r for r in range(ctl.size) if r not in missing]
        ctl.identities = [(ctl.get(r, PID), ctl.get(r, START)) if r in joined else (0, 0) for r in range(ctl.size)]
        dead = [r for r in joined if r != ctl.rank and not is_alive(*ctl.identities[r])]
        if dead:
            raise RankFailure("rendezvous", dead, "died before every rank had joined")
        if time.monotonic() > deadline:
            raise RankFailure("rendezvous", missing, f"did not join within {timeout:g} s")
        time.sleep(nap)
        nap = min(nap * 2, 0.02)


def leave(job, gid, ctl, seg, whole_job):
    """Marks this rank gone; the last member out removes the group's segments (for the world group, all the
    job's files), including those of members that were killed. The lock file goes with the job's last
    control block, whoever removes that."""
    prefix, lock, group = names(job, gid)
    ctl.set(LEFT, 1)
    with locked(lock):
        if seg.still_named():
            gone = all(r == ctl.rank or ctl.get(r, LEFT) or not is_alive(*ctl.identities[r])
                       for r in range(ctl.size)) if ctl.identities else True
            if gone:
                remove_all(group)
                if whole_job:
                    remove_all(prefix + "-")
        if not glob.glob(path_of(glob.escape(prefix)) + "-*.ctl"):
            os.unlink(path_of(lock))
    seg.close()
