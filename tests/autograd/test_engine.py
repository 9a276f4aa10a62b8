"""The autograd engine: accumulation, retain/create graph, hooks, grad modes, versions, views, threads, errors."""
import gc
import threading

import numpy as np
import pytest

import vibetensor as vt
from helpers import rng, torch


def leaf(*shape, seed=0):
    g = np.random.default_rng(seed)
    return vt.tensor(g.uniform(-2, 2, size=shape), dtype=vt.float64, requires_grad=True)


def test_fan_out_and_leaf_accumulation():
    x = leaf(3)
    y = x * x + x.exp() * x  # x used four times
    y.sum().backward()
    a = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a + np.exp(a) * (1 + a), rtol=1e-12)
    (x * 3).sum().backward()  # accumulates into .grad
    np.testing.assert_allclose(x.grad.numpy(), 2 * a + np.exp(a) * (1 + a) + 3, rtol=1e-12)
    assert x.is_leaf and not y.is_leaf and y.grad_fn is not None and x.grad_fn is None


def test_grad_is_not_shared_between_leaves():
    a, b = leaf(2), leaf(2, seed=1)
    (a + b).sum().backward()
    a.grad.mul_(5)  # must not change b.grad
    assert b.grad.tolist() == [1.0, 1.0]


def test_grad_takes_the_layout_of_a_contiguous_leaf():
    """PyTorch's layout contract: a linear weight's gradient arrives as a transposed view (x^T g, then the
    weight.t() node), an expanded one from sum(); .grad is a contiguous tensor of its own either way, with the
    same values. A leaf that is itself a transposed view keeps the gradient's own layout."""
    w = leaf(5, 3)
    x = vt.tensor(rng().normal(size=(4, 3)))
    (vt.nn.functional.linear(x, w) ** 2).sum().backward()
    assert w.grad.is_contiguous() and tuple(w.grad.stride()) == (3, 1)
    want = 2 * (x.numpy() @ w.detach().numpy().T).T @ x.numpy()
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-12)
    b = leaf(2, 3)
    b.sum().backward()  # the gradient is ones expanded from a scalar (stride 0)
    assert b.grad.is_contiguous() and b.grad.numpy().tolist() == [[1.0] * 3] * 2
    b.grad.add_(1.0)  # its own storage: every element moves, not one shared one
    assert b.grad.numpy().tolist() == [[2.0] * 3] * 2
    t = vt.tensor(rng().normal(size=(3, 4)), requires_grad=False).t().detach().requires_grad_()
    (t * 2).sum().backward()
    assert t.grad.numpy().tolist() == [[2.0] * 3] * 4


def test_a_gradient_nobody_else_holds_becomes_grad_without_a_copy(monkeypatch):
    """As PyTorch's AccumulateGrad: a fresh gradient that only the engine holds (nor any other tensor its memory)
    is kept as .grad, not copied (a kernel and the parameter's bytes twice per step); one anybody else may still
    read or write (shared between leaves, the caller's grad_output or a view of it, a tensor a hook kept) is
    copied, so that updating .grad in place changes nothing else."""
    from vibetensor.autograd import engine
    copies = []
    copy = engine._owned_copy
    monkeypatch.setattr(engine, "_owned_copy", lambda leaf, g: copies.append(tuple(g.shape)) or copy(leaf, g))
    gen = rng()
    w, b = leaf(4, 3), leaf(4, seed=1)
    x = vt.tensor(gen.normal(size=(5, 3)))
    (vt.nn.functional.linear(x, w, b) ** 2).sum().backward()
    assert copies == []  # both gradients are fresh GEMM and sum results
    y = x.numpy() @ w.detach().numpy().T + b.detach().numpy()
    np.testing.assert_allclose(w.grad.numpy(), 2 * y.T @ x.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), 2 * y.sum(0), rtol=1e-12)
    assert w.grad.is_contiguous()
    a, c = leaf(3), leaf(3, seed=2)
    (a + c).sum().backward()  # one gradient routed to both leaves
    a.grad.add_(1.0)
    assert c.grad.tolist() == [1.0] * 3 and a.grad.tolist() == [2.0] * 3
    gy = vt.tensor(gen.normal(size=(6,)))
    keep = gy.numpy().copy()
    p = leaf(2, 3, seed=3)
    p.reshape(6).backward(gy)  # the gradient is a view of the caller's grad_output
    p.grad.mul_(0.0)
    np.testing.assert_array_equal(gy.numpy(), keep)
    q, kept = leaf(3, seed=4), []
    q.register_hook(lambda g: kept.append(g))
    (q * 2).sum().backward()
    q.grad.add_(1.0)
    assert kept[0].tolist() == [2.0] * 3 and q.grad.tolist() == [3.0] * 3
    r = leaf(3, seed=5)
    loss = (r * r).sum()
    loss.backward(retain_graph=True)
    loss.backward()  # the second one adds into the first's .grad
    np.testing.assert_allclose(r.grad.numpy(), 4 * r.detach().numpy(), rtol=1e-12)


def test_retain_graph_and_second_backward_error():
    x = leaf(3)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp(x.detach().numpy()), rtol=1e-12)
    z = (x.exp() * 2).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        z.backward()


def test_autograd_grad_and_create_graph():
    x = leaf(4)
    y = (x * x * x).sum()
    (g,) = vt.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * x.detach().numpy() ** 2, rtol=1e-12)
    (h,) = vt.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.detach().numpy(), rtol=1e-12)
    assert x.grad is None  # grad() returns, it does not accumulate
    w = leaf(4, seed=3)
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        vt.autograd.grad((x * 2).sum(), [x, w])
    gx, gw = vt.autograd.grad((x * 2).sum(), [x, w], allow_unused=True)
    assert gw is None and gx.tolist() == [2.0] * 4


def test_non_scalar_backward_needs_grad_output():
    x = leaf(3)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        y.backward(vt.ones(2, dtype=vt.float64))
    y.backward(vt.tensor([1.0, 2.0, 3.0], dtype=vt.float64))
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        vt.ones(2).sum().backward()


def test_grad_modes():
    x = leaf(2)
    with vt.no_grad():
        y = x * 2
        with vt.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad
    with vt.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert vt.is_grad_enabled()
    with vt.inference_mode():
        assert not (x * 2).requires_grad
    @vt.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


def test_detach_and_requires_grad_rules():
    x = leaf(3)
    d = x.detach()
    assert not d.requires_grad and d._is_view_of(x)
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        (x * 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="floating point"):
        vt.ones(2, dtype=vt.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used in an in-place"):
        x.add_(1)
    with vt.no_grad():
        x.add_(1)  # allowed: optimisers do this


def test_saved_tensor_version_check():
    x = leaf(3)
    y = x.exp()  # saves its result
    z = y * 1
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (y.sum() + z.sum()).backward()


def test_inplace_on_non_leaf_rebases_history():
    x = leaf(3)
    y = x * 2
    y.mul_(x).add_(x)  # y = 2x^2 + x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.detach().numpy() + 1, rtol=1e-12)
    z = x * 2
    z.mul_(z)  # the op overwrites a tensor its own derivative needs: an error, as in PyTorch
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_through_a_view():
    x = leaf(2, 3)
    y = x * 1
    y[:, 0].mul_(10)     # writes into y through a view
    y[1] = 0.0           # and through another
    y.sum().backward()
    assert x.grad.tolist() == [[10.0, 1.0, 1.0], [0.0, 0.0, 0.0]]


def test_hooks():
    x = leaf(3)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
    y = x * 3
    y.register_hook(lambda g: g + 1)
    y.sum().backward()
    assert seen == [[6.0, 6.0, 6.0]] and x.grad.tolist() == [12.0, 12.0, 12.0]
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]
    m = x * 2
    m.retain_grad()
    (m * m).sum().backward()
    np.testing.assert_allclose(m.grad.numpy(), 2 * m.detach().numpy())


def test_node_hooks_and_prehooks():
    """grad_fn.register_prehook sees (and may replace) the node's incoming grads, register_hook its outputs;
    handles remove them; a node that never had a hook shares no list with another."""
    x = leaf(3)
    y = x * 3
    calls = []
    pre = y.grad_fn.register_prehook(lambda grads: calls.append("pre") or [g * 2 for g in grads])
    post = y.grad_fn.register_hook(lambda outs, grads: calls.append("post") or [o + 1 for o in outs])
    assert (x * 5).grad_fn.hooks == () and (x * 5).grad_fn.pre_hooks == ()
    y.sum().backward(retain_graph=True)
    assert calls == ["pre", "post"] and x.grad.tolist() == [7.0, 7.0, 7.0]  # 1 * 2 * 3 + 1
    pre.remove()
    post.remove()
    x.grad = None
    y.sum().backward()
    assert calls == ["pre", "post"] and x.grad.tolist() == [3.0, 3.0, 3.0]


def test_custom_function():
    class Cube(vt.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x * x * x * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return g * 3 * x * x * ctx.k, None

    x = leaf(4)
    y = Cube.apply(x, 2.0)
    assert type(y.grad_fn).__name__ == "CubeBackward" or y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy() ** 2, rtol=1e-12)
    assert vt.autograd.gradcheck(lambda t: Cube.apply(t, 2.0), (leaf(3),))


def test_backward_from_two_threads():
    """No global lock: concurrent backwards on separate and shared graphs give the right gradients."""
    shared = leaf(100)
    results, errors = [], []

    def work(seed):
        try:
            x = leaf(100, seed=seed)
            for _ in range(20):
                ((x * shared).sin() * 2).sum().backward()
            results.append((x.grad.numpy().copy(), x.detach().numpy(), seed))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in (11, 12, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    s = shared.detach().numpy()
    for g, a, _ in results:
        np.testing.assert_allclose(g, 20 * 2 * np.cos(a * s) * s, rtol=1e-10)
    expected_shared = sum(20 * 2 * np.cos(a * s) * a for _, a, _ in results)
    np.testing.assert_allclose(shared.grad.numpy(), expected_shared, rtol=1e-10)


def test_missing_derivative_raises_not_drops():
    vt.library.define("agtest::double(Tensor x) -> Tensor", differentiable=True)
    vt.library.impl("agtest::double", "cpu", lambda x: vt.ops.mul(x, 2.0))
    x = leaf(2)
    with pytest.raises(RuntimeError, match="derivative for 'agtest::double' is not implemented"):
        vt.ops.agtest_double(x)
    with vt.no_grad():
        assert vt.ops.agtest_double(x).tolist() == (x.detach() * 2).tolist()


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_matches_torch_on_a_small_network():
    gen = rng()
    w1, w2 = gen.normal(size=(4, 5)), gen.normal(size=(5, 3))
    x = gen.normal(size=(6, 4))
    vw1, vw2 = (vt.tensor(a, requires_grad=True) for a in (w1, w2))
    tw1, tw2 = (torch.tensor(a, requires_grad=True) for a in (w1, w2))
    vl = ((vt.tensor(x) @ vw1).tanh() @ vw2).softmax(1).log().mean()
    tl = ((torch.tensor(x) @ tw1).tanh() @ tw2).softmax(1).log().mean()
    vl.backward()
    tl.backward()
    np.testing.assert_allclose(vl.item(), tl.item(), rtol=1e-12)
    np.testing.assert_allclose(vw1.grad.numpy(), tw1.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(vw2.grad.numpy(), tw2.grad.numpy(), rtol=1e-10)


def test_retain_grad_stores_on_the_tensor_itself():
    # Regression: the hook wrote into an alias's fresh AutogradMeta, so h.grad stayed None.
    x = leaf(4)
    h = x.tanh()
    h.retain_grad()
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy(), rtol=1e-12)
    (h * h).sum().backward()  # a second backward accumulates, as for leaves
    np.testing.assert_allclose(h.grad.numpy(), 4 * h.detach().numpy(), rtol=1e-12)
    assert h.is_leaf is False and h.retains_grad


def test_an_input_no_derivative_saves_is_freed_when_the_caller_drops_it():
    """The graph keeps what derivatives saved, not every input: add and sum save no tensor, so y and z go
    as soon as the caller drops them (torch's behaviour; peak memory of a training step depends on it)."""
    def live():
        return vt._C._cpu_memory_stats()["allocated_bytes"]

    x = vt.randn(1, requires_grad=True)
    before = live()
    y = x.expand(1 << 20) * 1.0  # 4 MB each
    z = y + 1
    loss = z.sum()
    held = live() - before
    del y, z
    gc.collect()
    assert live() - before <= held - 2 * (4 << 20)
    loss.backward()
    assert x.grad.item() == float(1 << 20)


def test_composites_without_a_row_run_under_grad_without_the_python_fallback():
    """reshape and dropout have no derivative row: under grad the dispatcher runs their Composite kernels itself
    (the ops inside record themselves), where each call went through the Python fallback only to be sent
    back. Ops with a row still reach the fallback and record."""
    from vibetensor import _C
    from vibetensor.autograd import record
    seen = []

    def spy(name, *args):
        seen.append(name)
        return record.autograd_kernel(name, *args)

    x = leaf(2, 6)
    _C._set_autograd_fallback(spy)
    try:
        y = vt.nn.functional.dropout(x.reshape(3, 4), p=0.0, training=True) * 2
    finally:
        _C._set_autograd_fallback(record.autograd_kernel)
    assert "reshape" not in seen and "dropout" not in seen and "view" in seen and "mul" in seen
    y.sum().backward()
    assert x.grad.tolist() == [[2.0] * 6] * 2
