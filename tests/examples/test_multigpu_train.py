"""benchmarks/multigpu_train.py on CPU ranks: both sides (the main job under vibetensor-launch, its torch DDP
twin under torchrun) run at 1 and 2 ranks and land in the JSON; failed and timed-out launches are rows too."""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "benchmarks", "multigpu_train.py")


@pytest.fixture(scope="module")
def driver():
    spec = importlib.util.spec_from_file_location("multigpu_train", DRIVER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cpu_ranks_both_libraries(tmp_path):
    out = tmp_path / "mgt.json"
    tiny = ["--d-model", "16", "--layers", "1", "--heads", "2", "--block", "8", "--batch-per-rank", "4"]
    env = dict(os.environ, VIBETENSOR_FABRIC_TIMEOUT="60")
    r = subprocess.run([sys.executable, DRIVER, "--device", "cpu", "--max-ranks", "2", "--steps", "3",
                        "--timing-warmup", "1", *tiny, "--out", str(out)], capture_output=True, text=True,
                       timeout=240, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert res["scaling"] == "weak" and res["env"]["NCCL_NVLS_ENABLE"] == "0" and res["config"]["steps"] == 3
    rows = {(row["library"], row["ranks"]): row for row in res["results"]}
    assert sorted(rows) == [("torch", 1), ("torch", 2), ("vibetensor", 1), ("vibetensor", 2)]
    for (lib, k), row in rows.items():
        assert row["ok"], row.get("error")
        assert row["device"] == "cpu" and row["timed_steps"] == 2 and row["tokens_per_s"] > 0
        assert row["scaling_efficiency"] == (1.0 if k == 1 else pytest.approx(
            row["tokens_per_s"] / (2 * rows[(lib, 1)]["tokens_per_s"])))
    for k in (1, 2):  # same weights, rows and optimizer: the twin does the same work
        assert rows[("torch", k)]["final_loss"] == pytest.approx(rows[("vibetensor", k)]["final_loss"], rel=1e-3)


def test_failed_and_timed_out_launches_are_rows(driver, tmp_path):
    args = argparse.Namespace(device="cpu", timeout=60)
    fail = [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
    row = driver.one_run(args, "torch", 1, fail, str(tmp_path))
    assert not row["ok"] and "exit status 3" in row["error"] and "boom" in row["error"]
    # a rank killed by a signal is run once more, and the row keeps what the first launch said
    marker = tmp_path / "first"
    flaky = [sys.executable, "-c", f"import os, pathlib, signal, sys; m = pathlib.Path({str(marker)!r})\n"
             "if not m.exists(): m.touch(); print('dying', file=sys.stderr); os.kill(os.getpid(), signal.SIGABRT)\n"
             "print('second', file=sys.stderr); sys.exit(4)"]
    row = driver.one_run(args, "torch", 1, flaky, str(tmp_path / "out"))
    assert not row["ok"] and "second" in row["error"] and row["retried_after"] == "exit status -6\ndying"
    t0 = time.perf_counter()
    rc, _, _ = driver.launch([sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ), timeout=1)
    assert rc is None and time.perf_counter() - t0 < 20
    rows = [{"library": "torch", "ranks": 1, "ok": False}, {"library": "torch", "ranks": 2, "ok": True,
                                                            "tokens_per_s": 5.0}]
    driver.add_efficiency(rows)
    assert [r["scaling_efficiency"] for r in rows] == [None, None]
