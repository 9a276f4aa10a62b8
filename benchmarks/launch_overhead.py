"""Launch overhead: from starting the launcher to the first line of each rank, and to the job's end,
for the same 2-rank CPU job under vibetensor-launch and torchrun (`python -m torch.distributed.run`).

    python benchmarks/launch_overhead.py [--runs 9]

The job imports nothing and prints one line per rank, so the times are the launchers' own: their
start-up (imports), spawning, and for vibetensor-launch the output relay. Runs alternate between the
launchers; medians are reported.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402

JOB = "import os\nprint('first', os.environ['RANK'], flush=True)\n"
NPROC = 2
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(NPROC)]


def free_port():
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


# Each entry builds a fresh command per run. torchrun's default static rendezvous listens on 29500,
# which another job on a shared machine may hold: give it a free port, as vibetensor-launch picks one.
LAUNCHERS = {
    "vibetensor-launch": lambda: [sys.executable, "-m", "vibetensor.launch", "--nproc-per-node", str(NPROC)],
    "torchrun": lambda: [*TORCHRUN, "--master-port", str(free_port())],
    "torchrun --standalone": lambda: [*TORCHRUN, "--standalone"],
}


def one_run(name, script):
    """Seconds until each rank's first line reached us, and until the launcher exited."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_PORT")}
    env["CUDA_VISIBLE_DEVICES"] = ""  # the same CPU job for both
    t0 = time.perf_counter()
    proc = subprocess.Popen([*LAUNCHERS[name](), script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    firsts = {}
    for raw in proc.stdout:
        words = raw.decode().split()
        if "first" in words:
            firsts.setdefault(words[words.index("first") + 1], time.perf_counter() - t0)
    proc.wait()
    total = time.perf_counter() - t0
    if proc.returncode != 0 or len(firsts) != NPROC:
        raise RuntimeError(f"{name} failed: exit {proc.returncode}, first lines from ranks {sorted(firsts)}")
    return max(firsts.values()), min(firsts.values()), total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "job.py")
        with open(script, "w") as f:
            f.write(JOB)
        samples = {name: [] for name in LAUNCHERS}
        for name in LAUNCHERS:  # warm the page cache, not counted
            one_run(name, script)
        for _ in range(args.runs):
            for name in LAUNCHERS:
                samples[name].append(one_run(name, script))
    results = []
    for name, runs in samples.items():
        last, first, total = (statistics.median(x) for x in zip(*runs))
        results.append({"launcher": name, "nproc": NPROC, "runs": args.runs, "first_rank_line_s": first,
                        "all_ranks_first_line_s": last, "job_done_s": total})
    vt_ = results[0]
    ratios = {f"{r['launcher']} / vibetensor-launch": {
        "all_ranks_first_line": r["all_ranks_first_line_s"] / vt_["all_ranks_first_line_s"],
        "job_done": r["job_done_s"] / vt_["job_done_s"]} for r in results[1:]}
    print_table(f"Launch overhead, {NPROC} CPU ranks, median of {args.runs} runs (seconds)",
                ["launcher", "first line (any rank)", "first line (all ranks)", "job done"],
                [[r["launcher"], f"{r['first_rank_line_s']:.3f}", f"{r['all_ranks_first_line_s']:.3f}",
                  f"{r['job_done_s']:.3f}"] for r in results])
    for what, r in ratios.items():
        print(f"{what}: first lines {r['all_ranks_first_line']:.2f}x, job done {r['job_done']:.2f}x")
    write_results("launch_overhead", results, versions=versions(), ratios=ratios, job=JOB)


if __name__ == "__main__":
    main()
