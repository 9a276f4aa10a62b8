"""The examples train to their stated loss on CPU (vibetensor.torch), and, where PyTorch is installed, follow
PyTorch's loss curve from the same initial weights and batches (dropout 0) step for step.

Stated targets (2 CPU cores, well under a minute together):
  mlp_classification: 600 steps, mean loss of the last 20 steps < 0.1 and training accuracy > 0.97;
  gpt_reversal: 250 steps, mean loss of the last 20 steps < 0.1 and greedy exact-match reversal > 0.9;
  both: per-step losses within rtol 1e-4 of PyTorch's for the first 50 steps (measured: ~1e-6).
"""
import importlib
import importlib.util
import os

import numpy as np
import pytest

import vibetensor.torch as vtorch
from helpers import torch

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")
PARITY_STEPS, PARITY_RTOL = 50, 1e-4


@pytest.fixture
def examples(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)
    return lambda name: importlib.import_module(name)


@pytest.fixture
def torch_one_thread():
    """PyTorch single-threaded for the parity runs (its spinning workers crawl on a busy 2-core CI box)."""
    if torch is None:
        yield None
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


def test_mlp_classification_trains(examples):
    mlp = examples("mlp_classification")
    out = mlp.train(vtorch, mlp.Config(steps=600))
    assert np.mean(out["losses"][-20:]) < 0.1 and out["accuracy"] > 0.97, (out["losses"][-5:], out["accuracy"])
    assert out["losses"][0] > 1.0  # it started from chance (3 classes: ln 3 = 1.1)


def test_gpt_reversal_trains(examples):
    gpt = examples("gpt_reversal")
    cfg = gpt.Config(steps=250)
    out = gpt.train(vtorch, cfg)
    assert out["losses"][0] > 2.5  # chance over 17 tokens is ln 17 = 2.8
    assert np.mean(out["losses"][-20:]) < 0.1 and out["exact_match"] > 0.9, (out["losses"][-5:], out["exact_match"])
    params = dict(out["model"].named_parameters())
    assert "head.weight" not in params and out["model"].head.weight is out["model"].tok_emb.weight  # tied


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("name", ["mlp_classification", "gpt_reversal"])
def test_loss_curve_matches_torch(examples, torch_one_thread, name):
    mod = examples(name)
    cfg = mod.Config(steps=PARITY_STEPS)
    ours = np.array(mod.train(vtorch, cfg)["losses"])
    ref = np.array(mod.train(torch_one_thread, cfg)["losses"])
    np.testing.assert_allclose(ours, ref, rtol=PARITY_RTOL, err_msg=f"{name}: loss curve departs from PyTorch's")
    assert ref[-1] < ref[0]  # the compared stretch is a learning one, not a flat line


def test_gpt_batches_mask_the_prompt(examples):
    gpt = examples("gpt_reversal")
    cfg = gpt.Config(length=4, symbols=6)
    inputs, targets = gpt.make_batch(np.random.default_rng(0), cfg, 3)
    assert inputs.shape == targets.shape == (3, 8)
    assert (targets[:, :3] == gpt.IGNORE).all() and (inputs[:, 4] == cfg.symbols).all()
    assert (targets[:, 3:] == np.concatenate([np.full((3, 1), cfg.symbols), inputs[:, :4][:, ::-1]], 1)).all()


def _benchmark(monkeypatch, name):
    """benchmarks/<name>.py as a module (its folder on sys.path for its own imports)."""
    bench_dir = os.path.join(os.path.dirname(EXAMPLES), "benchmarks")
    monkeypatch.syspath_prepend(bench_dir)
    monkeypatch.syspath_prepend(EXAMPLES)
    spec = importlib.util.spec_from_file_location(name, os.path.join(bench_dir, f"{name}.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_gpt_step_benchmark_runs(examples, monkeypatch, torch_one_thread):
    """benchmarks/cpu_gpt_step.py on a tiny config: it checks both libraries do the same work, then times."""
    bench = _benchmark(monkeypatch, "cpu_gpt_step")
    libs = {"vibetensor": vtorch} | ({"torch": torch} if torch is not None else {})
    rows = bench.time_config("tiny", dict(d_model=16, heads=2, layers=1, length=4, batch=4), libs, threads=1,
                             rounds=1, min_time=0.01)
    assert [r["what"] for r in rows] == ["train step (fwd+bwd+AdamW)", "forward (no_grad)"]
    assert all(r["vibetensor_ms"] > 0 and (torch is None or r["torch_ms"] > 0) for r in rows)


def test_cpu_fused_ops_benchmark_runs(monkeypatch, torch_one_thread):
    """benchmarks/cpu_fused_ops.py on tiny shapes: every case agrees with torch (its own check), then times."""
    if torch is None:
        pytest.skip("torch is not installed")
    bench = _benchmark(monkeypatch, "cpu_fused_ops")
    rows, results = bench.run(bench.cases([("tiny", 24, 8, 16, 2, 4, 5)]), min_time=0.005)
    assert len(results) == 8 and all(r["vibetensor_us"] > 0 and r["torch_us"] > 0 for r in results)
    assert [r["dtype"] for r in results].count("bfloat16") == 1  # the attention autocast sends


@pytest.mark.parametrize("workload", ["gpt_tiny", "gpt_small_bf16", "vit_tiny"])
def test_train_steps_benchmark_models_match_torch(monkeypatch, torch_one_thread, workload):
    """benchmarks/cuda_train_steps.py's models (the GPT at the workloads' shapes, the ViT) from the same numpy
    weights and batches give torch's loss curve, here on CPU at reduced sizes (its GPU run compares 50 steps)."""
    if torch is None:
        pytest.skip("torch is not installed")
    import dataclasses
    bench = _benchmark(monkeypatch, "cuda_train_steps")
    w = dataclasses.replace(bench.WORKLOADS[workload], batch=4, layers=1, d_model=32, heads=4)
    if w.kind == "gpt":
        w = dataclasses.replace(w, vocab=min(w.vocab, 64), block=16)
    ours, theirs = (bench.curve(lib, w, 4, "cpu") for lib in (vtorch, torch))
    tol = 2e-3 if w.autocast else 1e-5  # bfloat16 autocast rounds differently in each library's kernels
    assert np.isfinite(ours).all() and ours[-1] < ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def test_step_profile_benchmark_runs_on_cpu(monkeypatch, torch_one_thread):
    """benchmarks/cuda_step_profile.py's bookkeeping on CPU (no kernels there: host and wall time only)."""
    if torch is None:
        pytest.skip("torch is not installed")
    bench = _benchmark(monkeypatch, "cuda_step_profile")
    rows = bench.main(["--device", "cpu", "--shrink", "--only", "gpt_tiny", "--steps", "2"])
    assert [r["library"] for r in rows] == ["vibetensor", "torch"]
    assert all(r["host_issue_ms"] > 0 and r["wall_ms"] > 0 and r["kernels_per_step"] == 0 for r in rows)
    assert bench.family("void at::native::vectorized_elementwise_kernel<4, Foo>(int)") == \
        "void at::native::vectorized_elementwise_kernel"
    assert bench.family("red_sum_bfloat16_8_512") == "red_sum_bfloat16"
