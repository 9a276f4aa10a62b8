"""Attention: scaled_dot_product_attention (causal, boolean mask, float mask) and nn.MultiheadAttention with
the same weights, forward and backward."""
import numpy as np

from _weights import init_from_numpy

F = torch.nn.functional
gen = np.random.default_rng(10)


def leaf(*shape):
    return torch.tensor(gen.normal(size=shape).astype(np.float32), requires_grad=True)


q, k, v = leaf(2, 3, 5, 8), leaf(2, 3, 5, 8), leaf(2, 3, 5, 8)
keep = torch.tensor(gen.uniform(size=(5, 5)) > 0.3) | torch.eye(5, dtype=torch.bool)
bias = torch.tensor(gen.normal(size=(5, 5)).astype(np.float32))
outs = [F.scaled_dot_product_attention(q, k, v, is_causal=True),
        F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
        F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.5)]
sum(o.sum() for o in outs).backward()

mha = init_from_numpy(torch, torch.nn.MultiheadAttention(8, 2, batch_first=True), seed=11)
x = leaf(2, 5, 8)
causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
out, weights = mha(x, x, x, attn_mask=causal)
(out ** 2).mean().backward()

RESULTS = {"sdpa": outs, "q_grad": q.grad, "k_grad": k.grad, "v_grad": v.grad, "mha_out": out,
           "mha_weights": weights, "x_grad": x.grad, "in_proj_grad": mha.in_proj_weight.grad}
