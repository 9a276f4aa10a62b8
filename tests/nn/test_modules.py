"""vt.nn modules and functional ops against float64 references and torch; Module bookkeeping; bad input."""
import math

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.nn as nn
import vibetensor.nn.functional as F
from helpers import rng, torch


def t64(a, grad=False):
    return vt.tensor(np.asarray(a, np.float64), requires_grad=grad)


def test_module_registration_and_traversal():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.LayerNorm(4)])
            self.register_buffer("steps", vt.zeros(1))
            self.register_buffer("scratch", vt.zeros(2), persistent=False)
            self.scale = nn.Parameter(vt.ones(1))

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x * self.scale

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "a.weight", "a.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                     "blocks.1.bias"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "scratch"]
    sd = net.state_dict()
    assert "scratch" not in sd and "steps" in sd and len(sd) == 8
    assert [n for n, _ in net.named_modules()] == ["", "a", "blocks", "blocks.0", "blocks.1"]
    net.eval()
    assert not net.blocks[0].training
    net.train()
    assert net.blocks[1].training
    net.half()
    assert net.a.weight.dtype == vt.float16 and net.steps.dtype == vt.float16
    net.float()
    assert isinstance(net.a.weight, nn.Parameter) and net.a.weight.requires_grad
    with pytest.raises(TypeError, match="cannot assign 'int' as parameter"):
        net.scale = 3
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        net.nope  # noqa: B018


def test_state_dict_round_trip_and_errors(tmp_path):
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert b.weight.tolist() == a.weight.tolist()
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "bias"'):
        b.load_state_dict({"weight": a.weight.detach()})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        b.load_state_dict({**a.state_dict(), "extra": vt.ones(1)})
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        b.load_state_dict({"weight": vt.ones(5, 5), "bias": vt.ones(2)})
    missing, unexpected = b.load_state_dict({"weight": a.weight.detach()}, strict=False)
    assert missing == ["bias"] and unexpected == []
    path = tmp_path / "m.safetensors"
    vt.save_file(a.state_dict(), str(path))
    c = nn.Linear(3, 2)
    c.load_state_dict(vt.load_file(str(path)))
    assert c.weight.tolist() == a.weight.tolist() and c.bias.tolist() == a.bias.tolist()  # bit-exact


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_layers_match_torch_forward_and_backward():
    gen = rng()
    x = gen.normal(size=(4, 6))
    cases = [
        (nn.Linear(6, 3), torch.nn.Linear(6, 3)),
        (nn.LayerNorm(6), torch.nn.LayerNorm(6)),
        (nn.RMSNorm(6, eps=1e-6), torch.nn.RMSNorm(6, eps=1e-6)),
        (nn.Sequential(nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 2)),
         torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.GELU(), torch.nn.Linear(5, 2))),
    ]
    for vm, tm in cases:
        vm.double()
        tm.double()
        with torch.no_grad():  # same weights in both
            for (name, vp), (tname, tp) in zip(vm.named_parameters(), tm.named_parameters()):
                assert name == tname
                vp_np = gen.normal(size=tuple(vp.shape))
                tp.copy_(torch.from_numpy(vp_np))
                with vt.no_grad():
                    vp.copy_(vt.tensor(vp_np))
        vx, tx = t64(x, True), torch.tensor(x, requires_grad=True)
        vy, ty = vm(vx), tm(tx)
        np.testing.assert_allclose(vy.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        (vy * vy).sum().backward()
        (ty * ty).sum().backward()
        np.testing.assert_allclose(vx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        for (_, vp), (_, tp) in zip(vm.named_parameters(), tm.named_parameters()):
            np.testing.assert_allclose(vp.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("kwargs", [{}, {"ignore_index": 1}, {"label_smoothing": 0.1}, {"reduction": "sum"},
                                    {"reduction": "none"}, {"weight": [0.5, 2.0, 1.0, 1.5]}])
def test_cross_entropy_matches_torch(kwargs):
    gen = rng()
    logits = gen.normal(size=(5, 4))
    target = np.array([0, 1, 3, 1, 2])
    vk = {k: (t64(v) if k == "weight" else v) for k, v in kwargs.items()}
    tk = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v) for k, v in kwargs.items()}
    vx, tx = t64(logits, True), torch.tensor(logits, requires_grad=True)
    vl = F.cross_entropy(vx, vt.tensor(target), **vk)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(target), **tk)
    np.testing.assert_allclose(vl.detach().numpy(), tl.detach().numpy(), rtol=1e-10)
    vl.sum().backward()
    tl.sum().backward()
    np.testing.assert_allclose(vx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_functional_matches_torch():
    gen = rng()
    x, y = gen.normal(size=(3, 5)), gen.normal(size=(3, 5))
    pairs = [
        (F.mse_loss(t64(x), t64(y)), torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y))),
        (F.l1_loss(t64(x), t64(y), reduction="sum"), torch.nn.functional.l1_loss(torch.tensor(x), torch.tensor(y), reduction="sum")),
        (F.softmax(t64(x), 1), torch.nn.functional.softmax(torch.tensor(x), 1)),
        (F.log_softmax(t64(x), 0), torch.nn.functional.log_softmax(torch.tensor(x), 0)),
        (F.binary_cross_entropy_with_logits(t64(x), t64((y > 0) * 1.0)),
         torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor((y > 0) * 1.0))),
        (F.one_hot(vt.tensor([0, 2, 1]), 4), torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), 4)),
        (F.pad(t64(x), (1, 2)), torch.nn.functional.pad(torch.tensor(x), (1, 2))),
        (F.normalize(t64(x)), torch.nn.functional.normalize(torch.tensor(x))),
    ]
    for got, want in pairs:
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_norms_keep_the_input_dtype_with_wider_weights():
    gen = rng()
    x, w, b = gen.normal(size=(3, 8)), gen.normal(size=8), gen.normal(size=8)
    vx, tx = vt.tensor(x).to(vt.bfloat16), torch.tensor(x).to(torch.bfloat16)
    vw, vb, tw, tb = vt.tensor(w).float(), vt.tensor(b).float(), torch.tensor(w).float(), torch.tensor(b).float()
    for got, want in ((F.layer_norm(vx, (8,), vw, vb), torch.nn.functional.layer_norm(tx, (8,), tw, tb)),
                      (F.rms_norm(vx, (8,), vw), torch.nn.functional.rms_norm(tx, (8,), tw))):
        assert got.dtype == vt.bfloat16 and want.dtype == torch.bfloat16
        np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=1.6e-2, atol=2e-2)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("causal,mask,gqa", [(False, False, False), (True, False, False), (False, True, False),
                                             (True, False, True)])
def test_sdpa_matches_torch(causal, mask, gqa):
    gen = rng()
    q = gen.normal(size=(2, 4, 5, 8))
    kv_heads = 2 if gqa else 4
    k, v = gen.normal(size=(2, kv_heads, 5, 8)), gen.normal(size=(2, kv_heads, 5, 8))
    m = gen.uniform(size=(5, 5)) > 0.3
    np.fill_diagonal(m, True)
    args_v = [t64(q, True), t64(k, True), t64(v, True)]
    args_t = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    kw_v = dict(is_causal=causal, enable_gqa=gqa, attn_mask=vt.tensor(m) if mask else None)
    kw_t = dict(is_causal=causal, enable_gqa=gqa, attn_mask=torch.tensor(m) if mask else None)
    out_v = F.scaled_dot_product_attention(*args_v, **kw_v)
    out_t = torch.nn.functional.scaled_dot_product_attention(*args_t, **kw_t)
    np.testing.assert_allclose(out_v.detach().numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    out_v.sum().backward()
    out_t.sum().backward()
    for a, b in zip(args_v, args_t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_multihead_attention_shapes_and_weights():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = vt.randn(3, 5, 8)
    out, w = mha(x, x, x)
    assert out.shape == (3, 5, 8) and w.shape == (3, 5, 5)
    np.testing.assert_allclose(w.sum(-1).detach().numpy(), np.ones((3, 5)), rtol=1e-5)
    out, w = mha(x, x, x, is_causal=True, need_weights=True)
    assert float(w[0, 0, 1:].abs().sum().item()) == 0.0  # no attention to the future
    out.sum().backward()
    assert mha.in_proj_weight.grad is not None and mha.out_proj.weight.grad is not None


def test_embedding_dropout_and_init():
    emb = nn.Embedding(10, 4, padding_idx=0)
    assert emb.weight[0].abs().sum().item() == 0
    idx = vt.tensor([[0, 3], [3, 9]])
    out = emb(idx)
    assert out.shape == (2, 2, 4)
    out.sum().backward()
    assert emb.weight.grad[0].abs().sum().item() == 0  # padding row gets no gradient
    assert emb.weight.grad[3].tolist() == [2.0] * 4
    d = nn.Dropout(0.5)
    x = vt.ones(1000)
    y = d(x)
    kept = (y != 0).float().mean().item()
    assert 0.4 < kept < 0.6 and set(np.unique(y.numpy()).tolist()) <= {0.0, 2.0}
    d.eval()
    assert d(x).tolist() == x.tolist()
    w = vt.empty(64, 32)
    nn.init.xavier_uniform_(w)
    bound = math.sqrt(6 / 96)
    assert w.abs().max().item() <= bound and w.std().item() > bound / 3
    nn.init.trunc_normal_(w, std=0.02)
    assert w.abs().max().item() <= 2.0
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)


def test_clip_grad_norm():
    p1, p2 = nn.Parameter(vt.ones(3)), nn.Parameter(vt.ones(4))
    p1.grad = vt.tensor([3.0, 0.0, 0.0])
    p2.grad = vt.tensor([0.0, 4.0, 0.0, 0.0])
    total = nn.utils.clip_grad_norm_([p1, p2], 1.0)
    assert abs(total.item() - 5.0) < 1e-6
    np.testing.assert_allclose(p1.grad.numpy(), [0.6, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(p2.grad.numpy(), [0, 0.8, 0, 0], rtol=1e-5)
    nn.utils.clip_grad_value_([p1], 0.1)
    assert p1.grad.tolist()[0] == pytest.approx(0.1)


def test_module_paths_that_import_no_grad_lazily():
    # Module._apply, load_state_dict and Embedding(padding_idx) import no_grad inside the function: a wrong
    # relative import there only fails when called (regression: `from ...autograd` reached above the package).
    emb = nn.Embedding(4, 2, padding_idx=1)
    assert emb.weight[1].tolist() == [0.0, 0.0]
    lin = nn.Linear(2, 3).to(vt.float64)
    assert lin.weight.dtype == vt.float64 and isinstance(lin.weight, nn.Parameter)
    other = nn.Linear(2, 3).double()
    other.load_state_dict(lin.state_dict())
    assert other.weight.tolist() == lin.weight.tolist()
def test_module_hooks():
    lin = nn.Linear(3, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    h2 = lin.register_forward_hook(lambda m, args, out: out + 1)
    h3 = lin.register_full_backward_hook(lambda m, gi, go: calls.append(("full", gi[0].shape, go[0].shape)))
    h4 = lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 10,))
    x = vt.ones(4, 3, requires_grad=True)
    y = lin(x)
    expected = (vt.ones(4, 3) * 2) @ lin.weight.detach().t() + lin.bias.detach() + 1
    np.testing.assert_allclose(y.detach().numpy(), expected.numpy(), rtol=1e-6)
    y.sum().backward()
    assert calls == [("full", (4, 3), (4, 2))]
    # the pre-hook scaled grad_output by 10 and the forward pre-hook doubled x: dL/dx = 20 * W summed over outputs
    np.testing.assert_allclose(x.grad.numpy(), np.tile(20 * lin.weight.detach().numpy().sum(0), (4, 1)), rtol=1e-5)
    for h in (h1, h2, h3, h4):
        h.remove()
    x.grad = None
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.tile(lin.weight.detach().numpy().sum(0), (4, 1)), rtol=1e-5)
