"""The main job: examples/train_gpt.py through vibetensor-launch on 2 CPU ranks learns the reversal task and
writes its loss curve and summary; with --data it trains a character model of a text file."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launch(tmp_path, *args, nproc=2):
    env = dict(os.environ, VIBETENSOR_FABRIC_TIMEOUT="60")
    cmd = [sys.executable, "-m", "vibetensor.launch", "--nproc-per-node", str(nproc), "--device", "cpu",
           os.path.join(ROOT, "examples", "train_gpt.py"), "--out", str(tmp_path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)


def test_two_ranks_learn_reversal_and_report(tmp_path):
    r = launch(tmp_path, "--steps", "200")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[0] done: 2 rank(s) (rank 0 on cpu)" in r.stdout and "[1]" not in r.stdout.split("done:")[1]
    s = json.load(open(tmp_path / "summary.json"))
    assert s["ranks"] == 2 and s["final_loss"] < 0.1 and s["exact_match"] > 0.9
    assert len(s["peak_memory_mib_per_rank"]) == 2 and 0 < s["collective_time_share"] < 1
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_file_and_bad_batch(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    r = launch(tmp_path, "--data", str(data), "--steps", "30", "--block", "12")
    assert r.returncode == 0, r.stdout + r.stderr
    s = json.load(open(tmp_path / "summary.json"))
    assert s["task"].startswith("text") and s["final_loss"] < 3.0
    r = launch(tmp_path, "--batch", "33")
    assert r.returncode != 0 and "divisible by the number of ranks" in r.stdout + r.stderr


def test_world_of_one_without_launcher(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_gpt.py"), "--steps", "10",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.load(open(tmp_path / "summary.json"))["ranks"] == 1
