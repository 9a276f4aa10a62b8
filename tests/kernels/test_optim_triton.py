"""The multi-tensor optimizer kernels (kernels/triton/optim*.py) under Triton's interpreter, on CPU tensors:
against a float64 numpy mirror of PyTorch's fused Adam/AdamW/SGD formulas, against torch.optim itself, and
through the optimizers' fused path (optim/fused.py, let onto the CPU for the test) against their
per-parameter path. Sizes: one tensor under a block, a partial block, a 2-D one, one over several blocks."""
import math

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels.triton import optim as K
from vibetensor.kernels.triton import optim_launch as L
from vibetensor.optim import fused
from helpers import TOLERANCES, random_array, rng, round_to

triton = pytest.importorskip("triton")

SHAPES = [(1,), (37,), (5, 30), (200,)]
BLOCK = 64  # small, so the shapes above span one to four tiles
CPU = vt.device("cpu")
HALF = [vt.float32, vt.float16, vt.bfloat16]


@pytest.fixture
def fused_on_cpu(monkeypatch):
    """The optimizers' fused path for CPU tensors too: the same tables and kernels, run by the interpreter."""
    monkeypatch.setattr(fused, "FUSED_DEVICE_TYPES", {"cuda", "cpu"})


def adam_reference(p, g, m, v, mx, step, lr, b1, b2, eps, wd, decoupled, amsgrad, maximize):
    """PyTorch's fused Adam/AdamW step in float64; step is the count reached by this step."""
    g = -g if maximize else g
    if wd and decoupled:
        p = p - lr * wd * p
    elif wd:
        g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    if amsgrad:
        mx = np.maximum(mx, v)
    denom = np.sqrt(mx if amsgrad else v) / math.sqrt(1 - b2 ** step) + eps
    return p - (lr / (1 - b1 ** step)) * m / denom, m, v, mx


def sgd_reference(p, g, buf, lr, momentum, dampening, wd, nesterov, maximize):
    g = -g if maximize else g
    if wd:
        g = g + wd * p
    if momentum:
        buf = g if buf is None else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def stored(a, dtype):
    """What a kernel under the interpreter stores for float32 math: its float32 -> bfloat16 cast truncates
    (compiled kernels round to nearest; the CUDA tests hold those against torch)."""
    if dtype == vt.bfloat16:
        return (np.asarray(a, np.float32).view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32).astype(np.float64)
    return round_to(a, dtype)


def tensors(arrays, dtype):
    return [vt.tensor(a.astype(np.float32)).to(dtype) for a in arrays]


def f64(ts):
    return [t.to(vt.float64).numpy() for t in ts]


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("flags", ["-", "w", "l", "a", "m", "c", "wamc", "lma"])
def test_adam_kernel_matches_reference(dtype, flags):
    gen = rng()
    hyper = dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-6, weight_decay=0.0 if flags in "-amc" else 0.1)
    params = tensors([random_array(s, dtype, gen) for s in SHAPES], dtype)
    states = [[vt.zeros(p.shape, dtype=dtype) for p in params] for _ in range(3)]
    steps = [vt.zeros([]) for _ in params]
    ref = [f64(params), *[f64(s) for s in states]]
    tables = L.Tables(CPU, BLOCK)
    for step in (1, 2, 3):  # several steps: bias corrections move, states carry over
        grads = tensors([random_array(s, dtype, gen) for s in SHAPES], dtype)
        L.adam(tables, params, grads, *states, steps, **hyper, decoupled="w" in flags, amsgrad="a" in flags,
               maximize="m" in flags, host_step=None if "c" in flags else step)
        for i, g in enumerate(f64(grads)):
            out = adam_reference(ref[0][i], g, ref[1][i], ref[2][i], ref[3][i], step, hyper["lr"], hyper["beta1"],
                                 hyper["beta2"], hyper["eps"], hyper["weight_decay"], "w" in flags, "a" in flags,
                                 "m" in flags)
            for r, o in zip(ref, out):
                r[i] = stored(o, dtype)  # the kernel stores params and states in their dtype every step
    rtol, atol = TOLERANCES[dtype]
    for got, want in zip([params, *states], ref):
        for t, w in zip(got, want):
            np.testing.assert_allclose(t.to(vt.float64).numpy(), w, rtol=rtol, atol=atol)
    assert [s.item() for s in steps] == [3.0] * len(steps)


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("cfg", [dict(), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3, weight_decay=0.05),
                                 dict(momentum=0.8, nesterov=True, maximize=True), dict(weight_decay=0.1)], ids=str)
def test_sgd_kernel_matches_reference(dtype, cfg):
    gen = rng()
    hyper = {**dict(lr=0.05, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False), **cfg}
    params = tensors([random_array(s, dtype, gen) for s in SHAPES], dtype)
    bufs = [vt.empty(p.shape, dtype=dtype) for p in params] if hyper["momentum"] else None
    ref_p, ref_b = f64(params), [None] * len(params)
    tables = L.Tables(CPU, BLOCK)
    for step in range(3):
        grads = tensors([random_array(s, dtype, gen) for s in SHAPES], dtype)
        L.sgd(tables, params, grads, bufs, **hyper, first=step == 0)
        for i, g in enumerate(f64(grads)):
            p, b = sgd_reference(ref_p[i], g, ref_b[i], *(hyper[k] for k in ("lr", "momentum", "dampening",
                                                                                   "weight_decay", "nesterov",
                                                                                   "maximize")))
            ref_p[i], ref_b[i] = stored(p, dtype), None if b is None else stored(b, dtype)
    rtol, atol = TOLERANCES[dtype]
    for t, w in zip(params, ref_p):
        np.testing.assert_allclose(t.to(vt.float64).numpy(), w, rtol=rtol, atol=atol)
    for t, w in zip(bufs or [], ref_b):
        np.testing.assert_allclose(t.to(vt.float64).numpy(), w, rtol=rtol, atol=atol)


def _model(gen, shapes=((3, 5), (7,), (5000,), (1,))):  # 5000: two tiles of the default block
    return [vt.tensor(gen.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]


def _run(make_opt, params, grad_arrays, skip=()):
    """Steps an optimizer through the given gradients; skip: (step, param index) pairs left without a gradient."""
    opt = make_opt(params)
    for k, gs in enumerate(grad_arrays):
        for i, (p, g) in enumerate(zip(params, gs)):
            p.grad = None if (k, i) in skip else vt.tensor(g)
        opt.step()
    return opt


def _grads(gen, params, steps=3):
    return [[gen.standard_normal(tuple(p.shape)).astype(np.float32) for p in params] for _ in range(steps)]


@pytest.mark.parametrize("name,kw", [
    ("AdamW", dict(lr=0.01, weight_decay=0.1)), ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, amsgrad=True, maximize=True)), ("AdamW", dict(lr=0.01, capturable=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.2, maximize=True)), ("SGD", dict(lr=0.1))])
def test_fused_path_equals_per_parameter_path(fused_on_cpu, name, kw):
    gen = rng()
    init = [p.detach().clone() for p in _model(gen)]
    grads = _grads(gen, init, steps=4)
    skip = {(1, 0), (2, 3)}  # a param without a gradient: the bucket changes, step counts diverge
    results = {}
    for flag in (None, False):
        params = [t.clone().requires_grad_(True) for t in init]
        opt = _run(lambda ps: getattr(vt.optim, name)(ps, fused=flag, **kw), params, grads, skip)
        results[flag] = (params, opt)
    for a, b in zip(results[None][0], results[False][0]):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    fused_opt = results[None][1]
    if name != "SGD":  # the counts: in the step tensors, and mirrored on the host while the host knows them
        assert [fused_opt.state[p]["step"].item() for p in results[None][0]] == [3.0, 4.0, 4.0, 3.0]
        assert fused_opt._fused.host_steps == {} or set(fused_opt._fused.host_steps.values()) <= {3, 4}


@pytest.mark.parametrize("name", ["AdamW", "SGD"])
def test_fused_path_resumes_from_a_state_dict(fused_on_cpu, name):
    gen = rng()
    init = [p.detach().clone() for p in _model(gen)]
    grads = _grads(gen, init, steps=4)
    kw = dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    a = [t.clone().requires_grad_(True) for t in init]
    _run(lambda ps: getattr(vt.optim, name)(ps, **kw), a, grads)
    b = [t.clone().requires_grad_(True) for t in init]
    first = _run(lambda ps: getattr(vt.optim, name)(ps, **kw), b, grads[:2])
    resumed = getattr(vt.optim, name)(b, **kw)
    resumed.load_state_dict(first.state_dict())  # the host no longer knows the counts: read on the device
    _run(lambda ps: resumed, b, grads[2:])
    for x, y in zip(a, b):  # bias corrections in float32 on the device vs float64 on the host: ulps apart
        np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kw", [("AdamW", dict(lr=0.01, weight_decay=0.1)),
                                     ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True)),
                                     ("Adam", dict(lr=0.01, maximize=True)),
                                     ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                     ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1))])
def test_fused_path_matches_torch(fused_on_cpu, name, kw):
    torch = pytest.importorskip("torch")
    gen = rng()
    init = [p.detach().clone() for p in _model(gen)]
    grads = _grads(gen, init)
    ours = [t.clone().requires_grad_(True) for t in init]
    _run(lambda ps: getattr(vt.optim, name)(ps, **kw), ours, grads)
    theirs = [torch.tensor(t.numpy(), requires_grad=True) for t in init]
    opt = getattr(torch.optim, name)(theirs, fused=True, **kw)  # torch's fused CPU kernels
    for gs in grads:
        for p, g in zip(theirs, gs):
            p.grad = torch.tensor(g)
        opt.step()
    for x, y in zip(ours, theirs):
        np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [1.0, 1e4])  # clipped, and left alone (scale 1)
def test_clip_grad_norm_on_the_device(fused_on_cpu, norm_type, max_norm):
    gen = rng()
    shapes = [(1,), (300,), (5000,), (7, 3)]
    arrays = [gen.standard_normal(s).astype(np.float32) for s in shapes]
    dtypes = [vt.float32, vt.bfloat16, vt.float32, vt.float16]  # one norm launch per dtype, one total
    fused_ps, plain_ps = ([vt.zeros(s, dtype=d, requires_grad=True) for s, d in zip(shapes, dtypes)]
                          for _ in range(2))
    for ps in (fused_ps, plain_ps):
        for p, a, d in zip(ps, arrays, dtypes):
            p.grad = vt.tensor(a).to(d)
    values = [p.grad.to(vt.float64).numpy() for p in plain_ps]
    norm = np.linalg.norm(np.concatenate([v.ravel() for v in values]), norm_type)
    total = vt.nn.utils.clip_grad_norm_(fused_ps, max_norm, norm_type)
    want = vt.nn.utils.clip_grad_norm_(plain_ps, max_norm, norm_type, foreach=False)  # the per-gradient ops
    assert total.dim() == 0 and total.dtype == vt.float32
    np.testing.assert_allclose(total.item(), norm, rtol=1e-5)
    # the per-gradient path rounds each gradient's norm to its dtype (as torch does): bfloat16-close
    np.testing.assert_allclose(total.item(), want.item(), rtol=TOLERANCES[vt.bfloat16][0])
    scale = min(1.0, max_norm / (norm + 1e-6))
    for p, v, d in zip(fused_ps, values, dtypes):
        rtol, atol = TOLERANCES[d]
        np.testing.assert_allclose(p.grad.to(vt.float64).numpy(), v * scale, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,kw", [("AdamW", dict(lr=0.01)), ("SGD", dict(lr=0.1, momentum=0.9))])
def test_step_as_in_a_capture(fused_on_cpu, monkeypatch, name, kw):
    """What a capture changes on the host: new gradient addresses written by kernels (no upload), the Adam
    counts read on the device from then on. On CPU the 'captured' step also runs, so results must not move."""
    gen = rng()
    init = [p.detach().clone() for p in _model(gen)]
    grads = _grads(gen, init, steps=4)
    ref = [t.clone().requires_grad_(True) for t in init]
    _run(lambda ps: getattr(vt.optim, name)(ps, fused=False, **kw), ref, grads)
    ps = [t.clone().requires_grad_(True) for t in init]
    opt = _run(lambda ps: getattr(vt.optim, name)(ps, **kw), ps, grads[:1])  # the warm-up
    with monkeypatch.context() as m:
        m.setattr(L, "capturing", lambda device: True)
        _run(lambda _: opt, ps, grads[1:2])
    assert opt._fused.host_steps == {}
    _run(lambda _: opt, ps, grads[2:])
    for a, b in zip(ps, ref):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_tables_rewrite_changed_addresses_inside_a_capture(monkeypatch):
    """In a CUDA graph capture no host buffer can be allocated: changed entries are written by kernels."""
    ts = [vt.zeros(n) for n in (3, 40, 9, 2, 11, 5, 6, 7, 8, 12)]
    tables = L.Tables(CPU, BLOCK)
    tables.plan([t.numel() for t in ts])
    before = tables.columns([ts])[0]
    monkeypatch.setattr(L, "capturing", lambda device: True)
    moved = list(ts)
    moved[1], moved[9] = vt.zeros(40), vt.zeros(12)  # new storages, as a captured backward's gradients
    after = tables.columns([moved])[0]
    assert after.tolist() == [t.data_ptr() for t in moved]
    assert before.tolist() == [t.data_ptr() for t in ts]  # the eager table is left as it was
    with pytest.raises(RuntimeError, match="warm-up"):
        L.upload([1, 2], vt.int64, vt.device("cuda"))


def test_keys_and_plan():
    assert K.tile_plan([1, 64, 65, 0, 130], 64) == ([0, 1, 2, 4, 4], [0, 1, 2, 2, 4, 4, 4])
    fn, sig, cx = K.load("optadam|bfloat16|float32|wac|1024")
    assert cx == dict(PCODE=2, SCODE=0, L2=False, DECOUPLED=True, AMSGRAD=True, MAXIMIZE=False, DEVICE_STEP=True,
                      BLOCK=1024) and sig["lr"] == "fp32" and sig["BLOCK"] == "constexpr"
    for bad in ("optadam|float32|float32|lw|1024", "optadam|float64|float64|-|1024", "optsgd|float32|z|1024",
                "optnorm|float32|3|1024", "optadam|float32|float32|-|1000", "optnope|1"):
        with pytest.raises(ValueError):
            K.load(bad)
    from vibetensor.kernels.compile import GENERATORS
    assert all(GENERATORS[p] is K for p in K.KEY_PREFIXES)
