"""Supervision: a failed or killed rank stops the rest, a hung job times out, signals reach the ranks,
restarts, and no process survives any of it."""

from __future__ import annotations

import signal
import time

from launch_harness import launch, pids_in, script, start, wait_files, wait_gone

# Every rank records its pid (and a grandchild's, the kind of process that outlives careless launchers).
RECORD = """
    import os, subprocess, sys, time
    d, r = sys.argv[1], int(os.environ["RANK"])
    def record(name, pid):
        with open(f"{d}/{name}.tmp", "w") as f:
            f.write(str(pid))
        os.rename(f"{d}/{name}.tmp", f"{d}/{name}")
    child = subprocess.Popen(["sleep", "60"])
    record(f"pid_{r}", os.getpid())
    record(f"pid_child_{r}", child.pid)
"""

FAILING = RECORD + """
    def train_step():
        raise ValueError("loss went to the moon")
    if r == 1:
        while len([p for p in os.listdir(d) if p.startswith("pid_child_")]) < 3:
            time.sleep(0.02)  # fail only once everyone is up, so the test can watch them die
        try:
            train_step()
        except ValueError:
            import traceback; traceback.print_exc()
            sys.exit(3)
    time.sleep(60)
"""


def test_failing_rank_stops_the_others_and_is_reported(tmp_path):
    res, elapsed = launch("--nproc-per-node", 3, script(tmp_path, FAILING), tmp_path)
    assert res.returncode == 3
    assert elapsed < 15, f"took {elapsed:.1f} s to notice rank 1's failure"
    assert "rank 1 (pid" in res.stderr and "failed with exit code 3" in res.stderr
    assert "[1] ValueError: loss went to the moon" in res.stderr and "in train_step" in res.stderr
    assert "stopped the other running rank(s): 0, 2" in res.stderr
    pids = pids_in(tmp_path)
    assert len(pids) == 6 and wait_gone(pids) == []


def test_rank_killed_by_a_signal_is_named(tmp_path):
    body = RECORD + """
    if r == 0:
        os.kill(os.getpid(), 9)
    time.sleep(60)
    """
    res, elapsed = launch("--nproc-per-node", 2, script(tmp_path, body), tmp_path)
    assert res.returncode == 128 + 9 and elapsed < 15
    assert "rank 0" in res.stderr and "signal SIGKILL (9)" in res.stderr
    assert "rank 0 wrote nothing to stderr" in res.stderr
    assert wait_gone(pids_in(tmp_path)) == []


def test_hung_rank_times_out_with_its_stack(tmp_path):
    body = RECORD + """
    def wait_for_peer():
        time.sleep(60)
    if r == 1:
        wait_for_peer()
    """
    res, elapsed = launch("--nproc-per-node", 2, "--timeout", 1.5, script(tmp_path, body), tmp_path)
    assert res.returncode == 124 and elapsed < 15
    assert "timed out after 1.5 s (--timeout); rank(s) still running: 1" in res.stderr
    # The faulthandler dump says where the rank was stuck.
    assert "in wait_for_peer" in res.stderr
    assert wait_gone(pids_in(tmp_path)) == []


def _started(tmp_path, body, n, *extra):
    proc = start("--nproc-per-node", n, *extra, script(tmp_path, body), tmp_path)
    wait_files([tmp_path / f"pid_child_{r}" for r in range(n)])
    return proc


def test_sigterm_to_the_launcher_reaches_every_rank(tmp_path):
    body = RECORD + """
    import signal
    def on_term(signum, frame):
        open(f"{d}/got_{signal.Signals(signum).name}_{r}", "w").close()
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    time.sleep(60)
    """
    proc = _started(tmp_path, body, 2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == -signal.SIGTERM  # the launcher dies of the signal it forwarded
    assert "got SIGTERM; forwarding it to all ranks" in err
    assert sorted(p.name for p in tmp_path.glob("got_*")) == ["got_SIGTERM_0", "got_SIGTERM_1"]
    assert wait_gone(pids_in(tmp_path)) == []


def test_sigint_reaches_ranks_and_stubborn_ranks_are_killed_after_the_grace(tmp_path):
    body = RECORD + """
    import signal
    signal.signal(signal.SIGINT, lambda *a: open(f"{d}/got_SIGINT_{r}", "w").close())
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
    """
    proc = _started(tmp_path, body, 2, "--grace", 0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert proc.returncode == -signal.SIGINT and time.monotonic() - t0 < 10
    assert len(list(tmp_path.glob("got_SIGINT_*"))) == 2  # seen, ignored, then SIGKILLed
    assert wait_gone(pids_in(tmp_path)) == []


def test_max_restarts_reruns_the_group_until_it_succeeds(tmp_path):
    body = """
    import os, sys
    attempt = int(os.environ["VIBETENSOR_RESTART_COUNT"])
    print("attempt", attempt, os.environ["VIBETENSOR_FABRIC_JOB"], os.environ["MASTER_PORT"])
    if attempt == 0 and os.environ["RANK"] == "1":
        sys.exit(5)
    """
    logs = tmp_path / "logs"
    res, _ = launch("--nproc-per-node", 2, "--max-restarts", 2, "--log-dir", logs, script(tmp_path, body))
    assert res.returncode == 0, res.stderr
    assert "rank 1 (pid" in res.stderr and "exit code 5" in res.stderr
    assert "restarting all ranks (restart 1 of 2)" in res.stderr
    first = [l.split() for l in res.stdout.splitlines() if "attempt 0" in l]
    second = [l.split() for l in res.stdout.splitlines() if "attempt 1" in l]
    assert len(second) == 2 and {l[0] for l in second} == {"[0]", "[1]"}
    assert first and first[0][3] != second[0][3]  # a new job id for the new group
    assert "===== attempt 2 (VIBETENSOR_RESTART_COUNT=1) =====" in (logs / "rank_1.log").read_text()


def test_restarts_run_out(tmp_path):
    res, _ = launch("--nproc-per-node", 2, "--max-restarts", 1, script(tmp_path, "import sys; sys.exit(4)"))
    assert res.returncode == 4
    assert res.stderr.count("failed with exit code 4") == 2 and res.stderr.count("restarting") == 1


def test_successful_job_leaves_no_grandchildren(tmp_path):
    res, _ = launch("--nproc-per-node", 2, script(tmp_path, RECORD), tmp_path)
    assert res.returncode == 0, res.stderr
    pids = pids_in(tmp_path)
    assert len(pids) == 4 and wait_gone(pids) == []  # the `sleep 60` each rank left behind is gone too
