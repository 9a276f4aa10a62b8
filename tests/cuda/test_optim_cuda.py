"""The fused multi-tensor optimizers and clip_grad_norm_ on a GPU: against the per-parameter path, against
torch's fused AdamW/SGD on the same GPU, without host syncs, and replayed from a CUDA graph."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng

pytestmark = pytest.mark.cuda

SHAPES = [(1,), (37,), (300, 70), (5000,), (64, 3)]  # under, at and over one 4096-element block


def _params(gen, dtype=vt.float32):
    return [gen.standard_normal(s).astype(np.float32) for s in SHAPES]


def _vt(arrays, dtype=vt.float32):
    return [vt.tensor(a).to(dtype).cuda().requires_grad_(True) for a in arrays]


def _step_all(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = vt.tensor(g).to(p.dtype).cuda()
        opt.step()


@pytest.mark.parametrize("name,kw", [
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)), ("Adam", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=1e-2, maximize=True, capturable=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, maximize=True))])
def test_fused_equals_per_parameter_path(name, kw):
    gen = rng()
    init = _params(gen)
    grads = [[gen.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(4)]
    out = {}
    for flag in (True, False):
        ps = _vt(init)
        _step_all(getattr(vt.optim, name)(ps, fused=flag, **kw), ps, grads)
        out[flag] = [p.detach().cpu().numpy() for p in ps]
    for a, b in zip(out[True], out[False]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("name,kw", [("AdamW", dict(lr=1e-2, weight_decay=0.1)),
                                     ("Adam", dict(lr=1e-2, weight_decay=0.05, amsgrad=True, maximize=True)),
                                     ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True))])
def test_fused_matches_torch_fused(dtype, name, kw):
    torch = pytest.importorskip("torch")
    gen = rng()
    init = _params(gen)
    grads = [[gen.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(5)]
    ours = _vt(init, getattr(vt, dtype))
    _step_all(getattr(vt.optim, name)(ours, **kw), ours, grads)
    tdt = getattr(torch, dtype)
    theirs = [torch.tensor(a, dtype=tdt, device="cuda", requires_grad=True) for a in init]
    opt = getattr(torch.optim, name)(theirs, fused=True, **kw)
    for gs in grads:
        for p, g in zip(theirs, gs):
            p.grad = torch.tensor(g, dtype=tdt, device="cuda")
        opt.step()
    tol = {"float32": (1e-5, 1e-6), "bfloat16": (2e-2, 1e-2), "float16": (3e-3, 1e-3)}[dtype]
    for x, y in zip(ours, theirs):
        np.testing.assert_allclose(x.detach().float().cpu().numpy(), y.detach().float().cpu().numpy(),
                                   rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_without_sync_equals_cpu(norm_type):
    gen = rng()
    grads = [gen.standard_normal(s).astype(np.float32) for s in SHAPES]
    cpu = [vt.zeros(s, requires_grad=True) for s in SHAPES]
    gpu = [vt.zeros(s, device="cuda", requires_grad=True) for s in SHAPES]
    for c, g_, a in zip(cpu, gpu, grads):
        c.grad, g_.grad = vt.tensor(a), vt.tensor(a).cuda()
    want = vt.nn.utils.clip_grad_norm_(cpu, 1.0, norm_type)
    vt.nn.utils.clip_grad_norm_(gpu, 1.0, norm_type)  # warm-up: kernels and tables exist before the capture
    g = vt.cuda.CUDAGraph()  # a capture refuses host syncs: clipping must run without one
    with vt.cuda.graph(g):
        total = vt.nn.utils.clip_grad_norm_(gpu, 1.0, norm_type)
    for c, g_, a in zip(cpu, gpu, grads):
        g_.grad.copy_(vt.tensor(a).cuda())
    g.replay()
    assert total.is_cuda and total.dim() == 0
    np.testing.assert_allclose(total.item(), want.item(), rtol=1e-5)
    for c, g_ in zip(cpu, gpu):
        np.testing.assert_allclose(g_.grad.cpu().numpy(), c.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,kw", [("AdamW", dict(lr=1e-2, weight_decay=0.1, capturable=True)),
                                     ("SGD", dict(lr=0.1, momentum=0.9))])
def test_captured_step_replays(name, kw):
    gen = rng()
    init = _params(gen)
    grads = [[gen.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(5)]
    ref = _vt(init)
    _step_all(getattr(vt.optim, name)(ref, fused=False, **kw), ref, grads)

    ps = _vt(init)
    opt = getattr(vt.optim, name)(ps, **kw)
    _step_all(opt, ps, grads[:1])  # warm-up: state, tables and kernels exist before the capture
    static = [vt.zeros(s, device="cuda") for s in SHAPES]
    for p, s in zip(ps, static):
        p.grad = s  # the graph reads the gradients from these buffers
    graph = vt.cuda.CUDAGraph()
    with vt.cuda.graph(graph):
        opt.step()
    for gs in grads[1:]:
        for s, g in zip(static, gs):
            s.copy_(vt.tensor(g).cuda())
        graph.replay()
    for a, b in zip(ps, ref):
        np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
    if name == "AdamW":
        assert [opt.state[p]["step"].item() for p in ps] == [5.0] * len(ps)


def test_one_launch_per_device_and_dtype():
    gen = rng()
    ps = _vt(_params(gen)) + _vt(_params(gen), vt.bfloat16)
    opt = vt.optim.AdamW(ps, lr=1e-3)
    for p in ps:
        p.grad = vt.ones(p.shape, dtype=p.dtype, device="cuda")
    opt.step()
    assert len(opt._fused.tables) == 2  # float32 and bfloat16 buckets: two tables, two launches
