"""Fabric counters from outside the process: the at-exit stats files and `python -m vibetensor.fabric.stats`."""
import json
import os
import subprocess
import sys

import pytest

from vibetensor.fabric import stats

RANK_SCRIPT = """
import vibetensor as vt
from vibetensor import fabric
g = fabric.LocalGroup(fabric.virtual_devices("cpu", 2))
for _ in range(3):
    g.all_reduce([vt.randn(1000), vt.randn(1000)])
"""


def _run_rank(rank, directory):
    env = dict(os.environ, VIBETENSOR_FABRIC_STATS=str(directory), RANK=str(rank))
    subprocess.run([sys.executable, "-c", RANK_SCRIPT], env=env, check=True, timeout=120)


def test_ranks_write_their_counters_at_exit_and_the_cli_lines_them_up(tmp_path):
    for rank in (0, 1):
        _run_rank(rank, tmp_path)
    snap = json.loads((tmp_path / "fabric_rank1.json").read_text())
    assert snap["rank"] == 1 and snap["counters"]["all_reduce.count"] == 3
    assert [e["kind"] for e in snap["events"]] == ["all_reduce"] * 3
    out = subprocess.run([sys.executable, "-m", "vibetensor.fabric.stats", str(tmp_path)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    header, *rows = out.splitlines()
    assert header.split() == ["counter", "rank", "0", "rank", "1"]
    counts = next(r for r in rows if r.startswith("all_reduce.count ")).split()
    assert counts[1:] == ["3", "3"]


def test_bad_inputs_are_clear(tmp_path):
    with pytest.raises(SystemExit, match="no fabric stats files"):
        stats.load([str(tmp_path)])
    bad = tmp_path / "fabric_rank0.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit, match="not a fabric stats file"):
        stats.load([str(tmp_path)])


def test_a_process_without_collectives_writes_nothing(tmp_path):
    env = dict(os.environ, VIBETENSOR_FABRIC_STATS=str(tmp_path), RANK="0")
    subprocess.run([sys.executable, "-c", "import vibetensor.fabric"], env=env, check=True, timeout=120)
    assert not list(tmp_path.iterdir())
