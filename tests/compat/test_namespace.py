"""vibetensor.torch as a drop-in `torch`: real submodules, vibetensor's own objects, and the shims."""
import io
import pickle
import sys
import types

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.torch as torch
import vibetensor.torch.nn.functional as F
from vibetensor.torch import nn
from helpers import torch as real_torch


def test_submodules_are_real_modules_holding_vibetensor_objects():
    import vibetensor.torch.optim.lr_scheduler as lr_scheduler
    import vibetensor.torch.utils.data as data
    for name in ("nn", "nn.functional", "nn.init", "nn.utils", "optim", "optim.lr_scheduler", "utils", "utils.data",
                 "autograd", "cuda", "backends", "backends.cudnn"):
        mod = sys.modules[f"vibetensor.torch.{name}"]
        assert isinstance(mod, types.ModuleType)
    assert torch.nn is nn and nn.functional is F and torch.optim.lr_scheduler is lr_scheduler
    assert torch.utils.data is data
    assert torch.Tensor is vt.Tensor and nn.Parameter is vt.nn.Parameter and nn.Linear is vt.nn.Linear
    assert F.cross_entropy is vt.nn.functional.cross_entropy and torch.optim.AdamW is vt.optim.AdamW
    assert lr_scheduler.CosineAnnealingLR is vt.optim.lr_scheduler.CosineAnnealingLR
    assert torch.autograd.grad is vt.autograd.grad and torch.no_grad is vt.no_grad
    assert torch.float32 is vt.float32 and torch.long is vt.int64 and torch.device("cpu") == vt.device("cpu")
    assert "no_grad" not in dir(nn.init)  # only what the module defines, not what it imported
    assert torch.get_default_dtype() is torch.float32
    assert set(torch.__all__) <= set(dir(torch))


def test_cuda_is_vibetensors_runtime_and_backends():
    assert torch.cuda.is_available() is vt.cuda.is_available()
    assert torch.cuda.device_count() == vt.cuda.device_count() and torch.cuda.Stream is vt.cuda.Stream
    assert torch.cuda.CUDAGraph is vt.cuda.CUDAGraph and torch.backends.cuda is vt.backends.cuda
    assert torch.backends.cpu is vt.backends.cpu  # get_cpu_capability(), named as in torch
    assert torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2", "AVX512")
    if not vt.cuda.is_available():
        assert torch.device("cuda" if torch.cuda.is_available() else "cpu").type == "cpu"
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            torch.cuda.synchronize()
    assert not torch.backends.cudnn.is_available() and not torch.backends.mps.is_available()
    torch.backends.cudnn.benchmark = True  # scripts set it; no effect without cuDNN


def test_random_factories_take_a_generator():
    a = torch.randn(5, generator=torch.Generator().manual_seed(3))
    b = torch.randn(5, generator=torch.Generator().manual_seed(3))
    assert a.tolist() == b.tolist()
    g = torch.Generator().manual_seed(3)
    first, second = torch.randperm(8, generator=g), torch.randperm(8, generator=g)
    assert sorted(first.tolist()) == list(range(8)) and first.tolist() != second.tolist()  # g advanced
    torch.manual_seed(0)
    x = torch.rand(4)
    torch.manual_seed(0)
    torch.rand(4, generator=torch.Generator().manual_seed(99))  # leaves the default generator alone
    assert torch.rand(4).tolist() == x.tolist()
    with pytest.raises(TypeError, match="generator must be a vibetensor Generator"):
        torch.rand(2, generator=np.random.default_rng(0))


def _nested_state():
    gen = np.random.default_rng(0)
    lin = nn.Linear(3, 2)
    return {
        "model": lin.state_dict(),
        "param": lin.weight,
        "bf16": torch.tensor(gen.normal(size=(4, 3)).astype(np.float32)).to(torch.bfloat16),
        "f16": torch.tensor(gen.normal(size=5).astype(np.float16)),
        "f64": torch.tensor(gen.normal(size=(2, 2))),
        "ints": torch.tensor(gen.integers(-9, 9, size=6)),
        "u8": torch.tensor(gen.integers(0, 255, size=3).astype(np.uint8)),
        "mask": torch.tensor([True, False]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "strided": torch.tensor(gen.normal(size=(4, 6)).astype(np.float32))[:, ::2],
        "meta": {"step": 7, "lr": 1e-3, "betas": (0.9, 0.95), "name": "run", "none": None},
    }


def _bits(t):
    return t.view(torch.int16).tolist() if t.dtype == torch.bfloat16 else t.tolist()


def test_save_load_round_trip_is_bit_exact(tmp_path):
    state = _nested_state()
    path = tmp_path / "ckpt.pt"
    torch.save(state, path)
    back = torch.load(path, map_location="cpu")
    assert back["meta"] == state["meta"] and list(back["model"]) == ["weight", "bias"]
    for key in ("bf16", "f16", "f64", "ints", "u8", "mask", "scalar", "empty", "strided"):
        assert back[key].dtype == state[key].dtype and back[key].shape == state[key].shape, key
        assert back[key].float().tolist() == state[key].float().tolist(), key
    assert isinstance(back["param"], nn.Parameter) and back["param"].requires_grad
    assert back["model"]["weight"].tolist() == state["model"]["weight"].tolist()
    buf = io.BytesIO()
    torch.save({"x": torch.arange(3)}, buf)
    buf.seek(0)
    assert torch.load(buf)["x"].tolist() == [0, 1, 2]


def test_load_refuses_code_foreign_and_corrupt_files(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(RuntimeError, match="builtins.print, which is not a tensor"):
        torch.load(p)
    p.write_bytes(b"PK\x03\x04" + b"\0" * 32)
    with pytest.raises(RuntimeError, match="PyTorch zip checkpoint"):
        torch.load(p)
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(8)}, good)
    p.write_bytes(good.read_bytes()[:20])
    with pytest.raises(RuntimeError, match="not a file written by vibetensor.torch.save"):
        torch.load(p)
    with pytest.raises(TypeError, match="map_location as a function"):
        torch.load(good, map_location=lambda s, loc: s)
    with pytest.raises(TypeError, match="standard pickle module"):
        torch.save({}, tmp_path / "x.pt", pickle_module=types)
    import collections
    counted = tmp_path / "counter.pt"
    torch.save({"c": collections.Counter("aab"), "w": torch.ones(2)}, counted)
    with pytest.raises(RuntimeError, match="collections.Counter, which is not a tensor"):
        torch.load(counted)
    assert torch.load(counted, weights_only=False)["c"] == {"a": 2, "b": 1}  # trusted files may hold any object


def test_isclose_allclose_equal():
    a = torch.tensor([1.0, float("inf"), float("nan"), 2.0])
    b = torch.tensor([1.0 + 1e-7, float("inf"), float("nan"), 2.1])
    assert torch.isclose(a, b).tolist() == [True, True, False, False]
    assert torch.isclose(a, b, equal_nan=True).tolist() == [True, True, True, False]
    assert torch.allclose(a[:2], b[:2]) and not torch.allclose(a, b, equal_nan=True)
    assert torch.allclose(a[3:], b[3:], atol=0.2)
    assert torch.equal(torch.arange(3), torch.arange(3)) and not torch.equal(torch.arange(3), torch.arange(4))
    with pytest.raises(TypeError, match="same dtype"):
        torch.isclose(torch.ones(2), torch.ones(2, dtype=torch.float64))
    if real_torch is not None:
        x, y = np.array([1.0, 1.00001, 5.0]), np.array([1.0, 1.0, 5.001])
        for kw in ({}, {"rtol": 1e-3}, {"atol": 1e-2}):
            ours = torch.isclose(torch.tensor(x), torch.tensor(y), **kw).tolist()
            assert ours == real_torch.isclose(real_torch.tensor(x), real_torch.tensor(y), **kw).tolist()


@pytest.mark.parametrize("module", ["vibetensor.torch", "vibetensor.torch.serialization", "vibetensor.torch._composites",
                                    "vibetensor.torch.nn", "vibetensor.torch.nn.functional", "vibetensor.torch.optim",
                                    "vibetensor.torch.utils.data.dataloader", "vibetensor.torch.utils.data.collate",
                                    "vibetensor.torch.utils.data.dataset"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_where_with_condition_only_and_nonzero_as_tuple():
    assert [t.tolist() for t in torch.where(torch.tensor([[0, 3], [5, 0]]) > 0)] == [[0, 1], [1, 0]]
    assert [t.tolist() for t in torch.where(torch.tensor(5) > 0)] == [[0]]  # a 0-d condition acts as 1-d
    cases = [[[0, 3], [5, 0]], [1, 0, 2], 5, 0, [], [[[1, 0]], [[0, 1]]]]
    for data in cases:
        ours = [t.tolist() for t in torch.where(torch.tensor(data) > 0)]
        assert all(t.dtype == torch.int64 for t in torch.nonzero(torch.tensor(data), as_tuple=True))
        if real_torch is not None:
            assert ours == [t.tolist() for t in real_torch.where(real_torch.tensor(data) > 0)], data
    assert torch.where(torch.tensor([True, False]), torch.tensor([1.0, 2.0]), torch.tensor(0.0)).tolist() == [1.0, 0.0]
    with pytest.raises(TypeError, match="both input and other"):
        torch.where(torch.tensor([True]), torch.ones(1))
