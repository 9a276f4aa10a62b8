"""Checkpoints are replaced atomically: a save that fails half way (an exception in the writer, or the process
SIGKILLed mid-write) leaves the previous checkpoint loadable and whole."""
import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.tensor_core import serialization

# A process that saves version 1, 2, 3, ... of a ~16 MB checkpoint to one path forever, saying when each is in.
SAVER = textwrap.dedent("""
    import sys, vibetensor as vt
    model = vt.nn.Linear(1024, 1024)
    opt = vt.optim.AdamW(model.parameters())
    path, version = sys.argv[1], 0
    while True:
        version += 1
        with vt.no_grad():
            for p in model.parameters():
                p.fill_(float(version))
        vt.fabric.save_checkpoint(path, model, opt, step=version)
        print(version, flush=True)
""")


def _version_of(path):
    """The version a checkpoint holds; asserts it is whole (every tensor and the step agree)."""
    model = vt.nn.Linear(1024, 1024)
    step, _ = vt.fabric.load_checkpoint(path, model)
    for p in model.parameters():
        assert (p.detach().numpy() == step).all(), f"checkpoint of step {step} holds other values"
    return step


def test_writer_failing_half_way_leaves_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "ckpt.safetensors")
    model = vt.nn.Linear(3, 2)
    vt.fabric.save_checkpoint(path, model, step=1)
    before = open(path, "rb").read()
    written = []

    def failing(t):  # the second tensor's bytes never arrive: a full disk, an I/O error
        if written:
            raise OSError("simulated write failure")
        written.append(t)
        return serialization_bytes(t)

    serialization_bytes = serialization._tensor_bytes
    monkeypatch.setattr(serialization, "_tensor_bytes", failing)
    with pytest.raises(OSError, match="simulated"):
        vt.fabric.save_checkpoint(path, vt.nn.Linear(3, 2), step=2)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # the temporary file is gone too
    assert vt.fabric.load_checkpoint(path, model)[0] == 1


def test_sigkill_during_save_leaves_a_whole_checkpoint(tmp_path, kills=4):
    path = str(tmp_path / "ckpt.safetensors")
    gen = np.random.default_rng(0)
    seen = []
    for k in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, path], stdout=subprocess.PIPE, text=True)
        try:
            first = int(proc.stdout.readline())  # one whole save is in place...
            time.sleep(float(gen.uniform(0.0, 0.3)))  # ...and later ones are being written when it dies
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        version = _version_of(path)
        assert version >= first
        seen.append(version)
    # SIGKILL gives no chance to remove the temporary file; what is left is only ever a temporary...
    leftovers = [os.path.basename(p) for p in glob.glob(str(tmp_path / ".*"))]
    assert all(name.startswith(".ckpt.safetensors.") and name.endswith(".tmp") for name in leftovers), leftovers
    # ...and the next save removes those of writers that are gone (a live writer's stays)
    live = tmp_path / f".ckpt.safetensors.{os.getpid()}.live.tmp"
    live.write_bytes(b"being written")
    vt.save_file({"w": vt.randn(3)}, path)
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.safetensors", live.name])
    print(f"\ncheckpoint kills: {kills}, versions found whole after each: {seen}, temporaries left: {len(leftovers)}")
