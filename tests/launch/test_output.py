"""Ranks' output: prefixed whole lines, --ranks-filter, --log-dir."""

from __future__ import annotations

import re
import subprocess

from launch_harness import LAUNCH, clean_env, launch, script
from vibetensor.launch.output import split_lines

CHATTY = """
    import os, sys
    r = os.environ["RANK"]
    for i in range(300):
        # Long lines written in pieces: a launcher that copied bytes, not lines, would mix ranks.
        sys.stdout.write(f"rank {r} line {i} ")
        sys.stdout.write("x" * 200 + "\\n")
        if i % 100 == 0:
            print(f"rank {r} err {i}", file=sys.stderr)
    sys.stdout.write(f"rank {r} no newline at the end")
"""


def test_every_line_is_whole_and_prefixed_with_its_rank(tmp_path):
    res, _ = launch("--nproc-per-node", 3, script(tmp_path, CHATTY))
    assert res.returncode == 0, res.stderr
    pattern = re.compile(r"^\[(\d)\] rank (\d) (line \d+ x{200}|no newline at the end)$")
    counts = {0: 0, 1: 0, 2: 0}
    for line in res.stdout.splitlines():
        m = pattern.match(line)
        assert m and m.group(1) == m.group(2), f"mixed or unprefixed line: {line[:80]!r}"
        counts[int(m.group(1))] += 1
    assert counts == {0: 301, 1: 301, 2: 301}
    err = [l for l in res.stderr.splitlines() if " err " in l]
    assert len(err) == 9 and all(re.match(r"^\[(\d)\] rank \1 err \d+$", l) for l in err)


def test_ranks_filter_shows_some_ranks_and_log_dir_keeps_all(tmp_path):
    logs = tmp_path / "logs"
    res, _ = launch("--nproc-per-node", 3, "--ranks-filter", "0,2", "--log-dir", logs, script(tmp_path, CHATTY))
    assert res.returncode == 0, res.stderr
    shown = {line[:3] for line in (res.stdout + res.stderr).splitlines() if line.startswith("[")}
    assert shown == {"[0]", "[2]"}
    for r in range(3):
        text = (logs / f"rank_{r}.log").read_text()
        lines = text.splitlines()
        # Unprefixed: the file is the rank's own output, stdout and stderr in order of arrival (which
        # interleaves the two streams only at line boundaries, in no fixed order).
        assert len(lines) == 301 + 3 and f"rank {r} no newline at the end" in lines
        assert sum(l.startswith(f"rank {r} line") for l in lines) == 300 and not text.startswith("[")


def test_carriage_returns_end_lines_for_progress_bars(tmp_path):
    bar = """
        import sys
        for i in range(3):
            sys.stdout.write(f"\\rstep {i}")
        sys.stdout.write("\\n")
    """
    res = subprocess.run([*LAUNCH, "--nproc-per-node", "1", str(script(tmp_path, bar))], capture_output=True,
                         env=clean_env(), timeout=30)  # bytes: text mode would turn \r into \n
    assert res.stdout == b"[0] \r[0] step 0\r[0] step 1\r[0] step 2\n"


def test_split_lines_keeps_terminators_and_the_unfinished_rest():
    assert split_lines(b"a\nb") == ([b"a\n"], b"b")
    assert split_lines(b"a\r\nb\r") == ([b"a\r\n"], b"b\r")
    assert split_lines(b"\r\rx") == ([b"\r", b"\r"], b"x")
    assert split_lines(b"") == ([], b"")


def test_log_dir_collects_each_ranks_fabric_counters(tmp_path):
    body = """
        import vibetensor as vt
        from vibetensor import fabric
        g = fabric.init()
        g.all_reduce(vt.randn(100))
        fabric.destroy()
    """
    logs = tmp_path / "logs"
    res, _ = launch("--nproc-per-node", 2, "--log-dir", logs, script(tmp_path, body))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in logs.glob("fabric_rank*.json")) == ["fabric_rank0.json", "fabric_rank1.json"]
    table = subprocess.run([LAUNCH[0], "-m", "vibetensor.fabric.stats", str(logs)], capture_output=True,
                           text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    row = next(l for l in table.stdout.splitlines() if l.startswith("all_reduce.count "))
    assert row.split()[1:] == ["1", "1"]
