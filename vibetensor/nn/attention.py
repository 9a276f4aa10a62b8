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
        """PyTorch's semantics: in attn_mask ([L, S] or [batch * num_heads, L, S]) and key_padding_mask
        ([batch, S]) a bool True hides a key and a float is added to the scores. is_causal says attn_mask is the
        causal mask; without one vibetensor builds it (torch raises). Without need_weights the heads go through
        F.scaled_dot_product_attention, and, as in torch, a causal call without a key padding mask reaches it as
        is_causal=True with no mask, which the fused CUDA kernels take."""
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
        # torch's rule: the weights and a key padding mask need the causal mask itself, so only without them
        # does is_causal stand in for attn_mask.
        causal = is_causal and key_padding_mask is None and not need_weights
        mask = None if causal else self._scores_mask(attn_mask, key_padding_mask, is_causal, B, L, S, q)
        dropout_p = self.dropout if self.training else 0.0
        if not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal)
            return self._output(out, B, L, E), None
        weights = F._attention_probs(q, k, mask)
        if dropout_p > 0:
            weights = ops.dropout(weights, dropout_p, True)
        out = self._output(weights.matmul(v), B, L, E)
        return out, (weights.mean(1) if average_attn_weights else weights)

    def _output(self, heads_out, B, L, E):
        out = self.out_proj(heads_out.transpose(1, 2).reshape(B, L, E))
        return out if self.batch_first else out.transpose(0, 1)

    def _scores_mask(self, attn_mask, key_padding_mask, is_causal, B, L, S, q):
        """attn_mask and key_padding_mask merged into one float mask for the [B, heads, L, S] scores, in q's
        dtype (torch's merge), or None. The causal mask, where built, is built on q's device."""
        if attn_mask is None and is_causal:
            attn_mask = ~F._causal_keep(L, S, q.device)
        masks = []
        if attn_mask is not None:
            want = {2: (L, S), 3: (B * self.num_heads, L, S)}.get(attn_mask.dim())
            if want is None:
                raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
            if tuple(attn_mask.shape) != want:
                raise RuntimeError(f"The shape of the {attn_mask.dim()}D attn_mask is {tuple(attn_mask.shape)}, "
                                   f"but should be {want}.")
            masks.append(attn_mask.reshape(B, self.num_heads, L, S) if attn_mask.dim() == 3 else attn_mask)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (B, S):
                raise RuntimeError(f"key_padding_mask should have shape {(B, S)}, got {tuple(key_padding_mask.shape)}")
            masks.append(key_padding_mask.reshape(B, 1, 1, S))
        masks = [_additive(m, q.dtype) for m in masks]
        return masks[0] + masks[1] if len(masks) == 2 else (masks[0] if masks else None)


def _additive(mask, dtype):
    """A mask as the float tensor added to the scores: -inf where a bool mask is True."""
    if mask.dtype == _C.bool:
        return ops.zeros(list(mask.shape), dtype=dtype, device=mask.device).masked_fill(mask, -math.inf)
    if not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating masks are supported, got {mask.dtype}")
    return mask.to(dtype)
