"""PyTorch-style scripts (scripts/*.py) run unchanged with `torch` = PyTorch and `torch` = vibetensor.torch;
their RESULTS must agree within tolerance. Without PyTorch they still run, and their own asserts still hold."""
import math
import os
import runpy

import numpy as np
import pytest

import vibetensor.torch as vtorch
from helpers import torch as real_torch

SCRIPTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
SCRIPTS = sorted(f[:-3] for f in os.listdir(SCRIPTS_DIR) if f.endswith(".py") and not f.startswith("_"))
# float32 work in both libraries; training loops compound rounding over their steps.
RTOL, ATOL = 2e-4, 2e-5


def run_script(name, torch_module):
    """Runs scripts/<name>.py with the module-level name `torch` bound to `torch_module`; returns RESULTS."""
    globals_after = runpy.run_path(os.path.join(SCRIPTS_DIR, name + ".py"), init_globals={"torch": torch_module},
                                   run_name=f"compat_{name}")
    return globals_after["RESULTS"]


def plain(value):
    """RESULTS values as numpy arrays / Python values, whichever library made them."""
    if hasattr(value, "detach") and hasattr(value, "tolist"):
        return np.asarray(value.detach().cpu().tolist(), dtype=np.float64)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return float(value)
    return value


def assert_close(ours, ref, where):
    if isinstance(ref, list):
        assert isinstance(ours, list) and len(ours) == len(ref), f"{where}: {ours!r} vs {ref!r}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(ref, (np.ndarray, float)):
        ours, ref = np.asarray(ours), np.asarray(ref)
        assert ours.shape == ref.shape, f"{where}: shape {ours.shape} vs torch's {ref.shape}"
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL, err_msg=where)
    else:
        assert ours == ref, f"{where}: {ours!r} vs torch's {ref!r}"


def all_finite(value):
    if isinstance(value, list):
        return all(all_finite(v) for v in value)
    if isinstance(value, (np.ndarray, float)):
        return bool(np.all(np.isfinite(value)))
    return True


@pytest.fixture(autouse=True)
def scripts_importable(monkeypatch):
    monkeypatch.syspath_prepend(SCRIPTS_DIR)  # the scripts share _weights.py


@pytest.fixture(autouse=True)
def torch_one_thread():
    """PyTorch single-threaded: its spinning workers crawl on a busy 2-core CI box (seconds per script)."""
    if real_torch is None:
        yield
        return
    before = real_torch.get_num_threads()
    real_torch.set_num_threads(1)
    yield
    real_torch.set_num_threads(before)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_matches_torch(name):
    ours = {k: plain(v) for k, v in run_script(name, vtorch).items()}
    assert ours and all_finite(list(ours.values())), f"{name}: non-finite results"
    if real_torch is None:
        pytest.skip("torch not installed: ran the script with vibetensor.torch only")
    ref = {k: plain(v) for k, v in run_script(name, real_torch).items()}
    assert sorted(ours) == sorted(ref)
    for key in ref:
        assert_close(ours[key], ref[key], f"{name}: RESULTS['{key}']")


def test_scripts_never_import_torch_themselves():
    for name in SCRIPTS:
        with open(os.path.join(SCRIPTS_DIR, name + ".py")) as f:
            source = f.read()
        assert "import torch" not in source, f"{name}.py must use the injected `torch`"
    assert math.isfinite(RTOL) and len(SCRIPTS) >= 7
