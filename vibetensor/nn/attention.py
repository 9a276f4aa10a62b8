"""MultiheadAttention with PyTorch's interface (batch_first, masks, averaged attention weights)."""
import math

from .. import _C
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

ops = _C._ops


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise AssertionError("embed_dim must be divisible by num_heads")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = Parameter(ops.empty([3 * embed_dim, embed_dim], dtype=dtype, device=device))
        self.in_proj_bias = Parameter(ops.zeros([3 * embed_dim], dtype=dtype, device=device)) if bias else None
        from .layers import Linear
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        B, L, E = query.shape
        S = key.shape[1]
        w, b = self.in_proj_weight, self.in_proj_bias
        q = F.linear(query, w[:E], b[:E] if b is not None else None)
        k = F.linear(key, w[E:2 * E], b[E:2 * E] if b is not None else None)
        v = F.linear(value, w[2 * E:], b[2 * E:] if b is not None else None)
        heads = lambda t, n: t.reshape(B, n, self.num_heads, self.head_dim).transpose(1, 2)  # noqa: E731
        q, k, v = heads(q, L), heads(k, S), heads(v, S)
        scores = q.matmul(k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        if is_causal and attn_mask is None:
            attn_mask = ~ops.ones([L, S], dtype=_C.bool).tril()
        if attn_mask is not None:  # PyTorch's convention here: True marks positions NOT allowed to attend
            scores = scores.masked_fill(attn_mask, -math.inf) if attn_mask.dtype == _C.bool else scores + attn_mask
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask.reshape(B, 1, 1, S), -math.inf)
        weights = scores.softmax(-1)
        if self.dropout > 0 and self.training:
            weights = ops.dropout(weights, self.dropout, True)
        out = weights.matmul(v).transpose(1, 2).reshape(B, L, E)
        out = self.out_proj(out)
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, (weights.mean(1) if average_attn_weights else weights)
