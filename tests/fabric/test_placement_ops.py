"""Ops on FabricTensors: placement rules, the errors for implicit data movement, and a 2-layer tensor-parallel
MLP (column- then row-parallel, gelu between) matching one device, forward and backward."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor import fabric
from vibetensor.fabric import Mesh, Partial, PlacementError, Replicate, Shard, distribute
from helpers import rng


def mesh(n=2):
    return Mesh(fabric.virtual_devices("cpu", n), ("tp",))


def leaf(a):
    return vt.tensor(a).requires_grad_()


@pytest.mark.parametrize("hidden", [8, 7])  # 7: uneven shards of the hidden dim
def test_tensor_parallel_mlp_matches_one_device(hidden):
    gen = rng()
    x, w1, w2 = (gen.standard_normal(s) for s in [(3, 5), (5, hidden), (hidden, 4)])
    t = gen.standard_normal((3, 4))
    # one device
    X, W1, W2 = leaf(x), leaf(w1), leaf(w2)
    ref = vt.gelu(X @ W1) @ W2
    (ref * vt.tensor(t)).sum().backward()
    # two devices: x replicated, w1 column-parallel, w2 row-parallel
    m = mesh(2)
    Xd, W1d, W2d = leaf(x), leaf(w1), leaf(w2)
    h = distribute(Xd, m, [Replicate()]) @ distribute(W1d, m, [Shard(1)])
    assert h.placements == (Shard(1),)
    y = h.gelu() @ distribute(W2d, m, [Shard(0)])
    assert y.placements == (Partial(),)
    yr = y.redistribute([Replicate()])
    assert yr.collectives == ("tp: all_reduce(sum)",)
    out = yr.full_tensor()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    (out * vt.tensor(t)).sum().backward()
    for mine, theirs in [(Xd, X), (W1d, W1), (W2d, W2)]:
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_shard_leaves_get_their_slice_of_the_gradient():
    gen = rng()
    w = gen.standard_normal((4, 6))
    m = mesh(3)
    wd = distribute(vt.tensor(w), m, [Shard(1)]).requires_grad_()
    loss = (wd * wd).sum().redistribute([Replicate()]).full_tensor()
    loss.backward()
    np.testing.assert_allclose(np.concatenate([g.numpy() for g in wd.grad.shards], 1), 2 * w)


def test_elementwise_and_sum_rules():
    gen = rng()
    a, b = gen.standard_normal((5, 6)), gen.standard_normal((5, 6))
    m = mesh(3)
    A, B = distribute(vt.tensor(a), m, [Shard(0)]), distribute(vt.tensor(b), m, [Shard(0)])
    for got, want in [((A + B) * B - A, (a + b) * b - a), (A.relu(), np.maximum(a, 0)), (A * 2.0, a * 2),
                      (A.maximum(B), np.maximum(a, b)), (-A / B, -a / b)]:
        assert got.placements == (Shard(0),)
        np.testing.assert_allclose(got.full_tensor().numpy(), want, rtol=1e-12)
    s0 = A.sum(0)
    assert s0.placements == (Partial(),) and s0.shape == (6,)
    np.testing.assert_allclose(s0.full_tensor().numpy(), a.sum(0), rtol=1e-12)
    s1 = A.sum(1)
    assert s1.placements == (Shard(0),) and s1.shape == (5,)
    np.testing.assert_allclose(s1.full_tensor().numpy(), a.sum(1), rtol=1e-12)
    P = distribute(vt.tensor(a), m, [Partial()])
    for got, want in [(P + P, 2 * a), (P * 3.0, 3 * a), (P.sum(), a.sum()), (-P, -a)]:
        assert got.placements == (Partial(),)
        np.testing.assert_allclose(got.full_tensor().numpy(), want, rtol=1e-12)


def test_data_parallel_and_partial_matmul_rules():
    gen = rng()
    x, w = gen.standard_normal((6, 4)), gen.standard_normal((4, 3))
    m = mesh(2)
    X, W = distribute(vt.tensor(x), m, [Shard(0)]), distribute(vt.tensor(w), m, [Replicate()])
    y = X @ W
    assert y.placements == (Shard(0),)
    np.testing.assert_allclose(y.full_tensor().numpy(), x @ w, rtol=1e-12)
    y = distribute(vt.tensor(x), m, [Partial()]) @ W
    assert y.placements == (Partial(),)
    np.testing.assert_allclose(y.full_tensor().numpy(), x @ w, rtol=1e-12)


def test_implicit_movement_raises_and_says_what_to_call():
    m = mesh(2)
    x = vt.zeros(4, 4)
    S0, S1, R, P = (distribute(x, m, [p]) for p in [Shard(0), Shard(1), Replicate(), Partial()])
    with pytest.raises(PlacementError, match=r"add: operands are Shard\(0\) and Replicate\(\).*redistribute"):
        S0 + R
    with pytest.raises(PlacementError, match=r"gelu: the input is Partial\(\).*all_reduce"):
        P.gelu()
    with pytest.raises(PlacementError, match=r"mul: operands are Partial\(\) and Partial\(\)"):
        P * P
    with pytest.raises(PlacementError, match="scalar once per device"):
        P + 1.0
    with pytest.raises(PlacementError, match=r"matmul: a is Shard\(1\) and b is Shard\(1\).*row-parallel"):
        S1 @ S1
    with pytest.raises(PlacementError, match=r"matmul: a is Replicate\(\) and b is Shard\(0\).*Shard\(1\)"):
        R @ S0
    with pytest.raises(PlacementError, match="global shapes differ"):
        S0 + distribute(vt.zeros(4, 2), m, [Shard(0)])
    with pytest.raises(PlacementError, match="different meshes"):
        S0 + distribute(x, mesh(2), [Shard(0)])
