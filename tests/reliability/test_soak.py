"""A soak of the main job: examples/train_gpt.py through vibetensor-launch on 2 CPU ranks, its memory sampled
every few steps (scripts/soak_train_gpt.py). After warm-up the CPU allocator's live bytes must not move at all
and the resident set must stay flat: a per-step leak of even one small tensor shows. CI runs a few hundred
steps; `-m long` runs thousands."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "launch"))
from launch_harness import clean_env, launch  # noqa: E402

DRIVER = os.path.join(os.path.dirname(__file__), "scripts", "soak_train_gpt.py")
RSS_SLACK = 8 << 20  # the allocator's cache, Python's own arenas and the output threads settle within this


def _soak(tmp_path, steps, every):
    res, seconds = launch("--nproc-per-node", 2, "--device", "cpu", DRIVER, every, tmp_path,
                          "--steps", steps, "--out", tmp_path, env=clean_env(), timeout=steps * 0.5 + 60)
    assert res.returncode == 0, res.stderr[-3000:]
    for rank in (0, 1):
        got = json.loads((tmp_path / f"memory_{rank}.json").read_text())
        samples = got["samples"]
        assert len(samples) == steps // every
        settled = samples[len(samples) // 5:]  # the first fifth warms the caches up
        live = {s["live"] for s in settled}
        assert len(live) == 1, f"rank {rank}: live bytes moved after warm-up: {[s['live'] for s in settled]}"
        rss = [s["rss"] for s in settled]
        assert max(rss) - rss[0] < RSS_SLACK, f"rank {rank}: resident set grew {(max(rss) - rss[0]) >> 20} MiB"
        assert got["last_loss"] < got["first_loss"]
    print(f"\nsoak: {steps} steps on 2 CPU ranks in {seconds:.0f} s; live bytes {live.pop()} flat; "
          f"RSS {rss[0] >> 20} -> {rss[-1] >> 20} MiB")


def test_main_job_memory_stays_flat(tmp_path):
    _soak(tmp_path, steps=300, every=10)


@pytest.mark.long
def test_main_job_soak_long(tmp_path):
    _soak(tmp_path, steps=3000, every=50)
