"""`python -m vibetensor.kernels KEY --arch N --out FILE`: the kernel compiler for processes without Python
(the Node addon runs it; csrc/node/kernel_compiler.cpp parses its one line)."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # a real compile, for sm_90
    return subprocess.run([sys.executable, "-m", "vibetensor.kernels", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_compiles_a_key_for_hopper_and_prints_its_launch_facts(tmp_path):
    out = tmp_path / "k.cubin"
    done = run("fab|barrier|4", "--arch", "90", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    name, warps, shared, scratch = done.stdout.strip().splitlines()[-1].split()
    assert name == "barrier" and int(warps) == 1 and int(shared) >= 0 and int(scratch) >= 0
    assert out.read_bytes()[:4] == b"\x7fELF"  # a cubin is an ELF image


def test_a_key_no_generator_makes_is_one_clear_line(tmp_path):
    done = run("nokernel|1", "--arch", "90", "--out", str(tmp_path / "k.cubin"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "cannot compile 'nokernel|1': \"no kernel generator for key 'nokernel|1'\""
