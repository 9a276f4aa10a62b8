"""benchmarks/multigpu_collectives.py in its CPU mode (our shm backend against torch's gloo) under
vibetensor-launch with 2 ranks at tiny sizes: it runs, checks ours against torch, and writes every row."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "launch"))
from launch_harness import clean_env, launch  # noqa: E402

pytest.importorskip("torch")
BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "multigpu_collectives.py")


def test_multigpu_collectives_cpu_mode(tmp_path):
    out = tmp_path / "bench.json"
    res, _ = launch("--nproc-per-node", 2, "--device", "cpu", BENCH, "--device", "cpu", "--sizes", 64, "1K",
                    "--iters", 2, "--samples", 2, "--out", out, env=clean_env(VIBETENSOR_FABRIC_TIMEOUT="30"),
                    timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["world_size"] == 2 and got["backends"] == {"ours": "shm", "theirs": "gloo"}
    rows = got["results"]
    # all_reduce: auto plus forced oneshot and ring; the others one row; for each dtype and size
    assert len(rows) == (3 + 1 + 1) * 2 * 2
    assert {(r["op"], r["dtype"], r["bytes"]) for r in rows} == {
        (op, dt, b) for op in ("all_reduce", "reduce_scatter", "all_gather")
        for dt in ("bfloat16", "float32") for b in (64, 1024)}
    assert {r["algorithm"] for r in rows if r["op"] == "all_reduce"} == {"auto:oneshot", "oneshot", "ring"}
    for r in rows:
        assert "error" not in r and not r["fallbacks"]
        assert r["ours_us"] > 0 and r["gloo_us"] > 0
        assert r["ours_over_gloo"] == pytest.approx(r["gloo_us"] / r["ours_us"])
        factor = 2 * (2 - 1) / 2 if r["op"] == "all_reduce" else (2 - 1) / 2  # nccl-tests' busbw, 2 ranks
        assert r["ours_busbw_GBps"] == pytest.approx(r["ours_algbw_GBps"] * factor)
        assert r["ours_algbw_GBps"] == pytest.approx(r["bytes"] / (r["ours_us"] * 1e-6) / 1e9)
    assert "all_gather, 2 x" in res.stdout and "ours/gloo" in res.stdout  # rank 0's tables
