"""Running ``python -m vibetensor.launch`` on tiny scripts, and checking that processes are gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

LAUNCH = [sys.executable, "-m", "vibetensor.launch"]
# Variables an outer launcher (a CI runner under srun/mpirun, or a developer's shell) may have set;
# the tests describe their own environment.
FOREIGN = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "VIBETENSOR_DEVICE", "VIBETENSOR_CPUS",
           "VIBETENSOR_NUM_THREADS", "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in FOREIGN and not k.startswith(("OMPI_", "PMI_", "PMIX_", "SLURM_", "MPI_LOCAL"))}
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU ranks, also on the GPU machine
    env.update(extra)
    return env


def script(tmp_path: Path, body: str, name: str = "job.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def launch(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> tuple[subprocess.CompletedProcess, float]:
    """Run the launcher to completion; returns the result and its wall time."""
    t0 = time.monotonic()
    res = subprocess.run([*LAUNCH, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                         env=env or clean_env())
    return res, time.monotonic() - t0


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([*LAUNCH, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env or clean_env())


def json_lines(stdout: str) -> dict[int, dict]:
    """``[r] {json}`` lines by rank."""
    out = {}
    for line in stdout.splitlines():
        prefix, _, rest = line.partition(" ")
        if prefix.startswith("[") and rest.startswith("{"):
            out[int(prefix[1:-1])] = json.loads(rest)
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids, seconds: float = 5.0) -> list[int]:
    """PIDs still alive after ``seconds`` (an empty list is the pass)."""
    end = time.monotonic() + seconds
    left = list(pids)
    while left and time.monotonic() < end:
        left = [p for p in left if alive(p)]
        time.sleep(0.05)
    return left


def wait_files(paths, seconds: float = 15.0) -> None:
    end = time.monotonic() + seconds
    while not all(Path(p).exists() for p in paths):
        if time.monotonic() > end:
            raise AssertionError(f"never appeared: {[str(p) for p in paths if not Path(p).exists()]}")
        time.sleep(0.05)


def pids_in(tmp_path: Path, pattern: str = "pid_*") -> list[int]:
    return [int(p.read_text()) for p in tmp_path.glob(pattern) if p.read_text().strip()]
