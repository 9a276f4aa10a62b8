"""nn.functional: the stateless layer functions, in PyTorch's signatures.

The compound ones (layer_norm, cross_entropy, attention ...) are written with core ops, so autograd flows
through them; fused kernels replace them on devices where one wins. Those that autocast in PyTorch are
marked @autocast_op: vibetensor/amp/policy.py says how their inputs are cast.
"""
import math

from .. import _C
from ..amp.autocast_mode import autocast_op
from ..tensor_core.dtypes import finfo
from . import fused as _fused

ops = _C._ops

# ---- activations ---------------------------------------------------------------------------------------


def relu(input, inplace=False):
    return input.relu_() if inplace else ops.relu(input)


def gelu(input, approximate="none"):
    return ops.gelu(input, approximate=approximate)


def silu(input, inplace=False):
    return input.silu_() if inplace else ops.silu(input)


# bias + activation fused (after a Linear without bias), and rotary position embedding: one kernel each way
# on CUDA
from .fused_act import apply_rotary_emb, bias_gelu, bias_silu  # noqa: E402,F401


def sigmoid(input):
    return ops.sigmoid(input)


def tanh(input):
    return ops.tanh(input)


def mish(input):
    return ops.mish(input)


def softplus(input, beta=1.0, threshold=20.0):
    return ops.softplus(input, beta, threshold)


def elu(input, alpha=1.0):
    return ops.elu(input, alpha)


def leaky_relu(input, negative_slope=0.01):
    return ops.leaky_relu(input, negative_slope)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    return ops.hardtanh(input, min_val, max_val)


def softmax(input, dim=None, dtype=None):
    return ops.softmax(input, _softmax_dim(input, dim), dtype)


def log_softmax(input, dim=None, dtype=None):
    return ops.log_softmax(input, _softmax_dim(input, dim), dtype)


def _softmax_dim(input, dim):
    if dim is not None:
        return dim
    return 0 if input.dim() in (0, 1, 3) else 1  # PyTorch's legacy implicit choice


# ---- linear, embedding, dropout ------------------------------------------------------------------------


def linear(input, weight, bias=None):
    return ops.linear(input, weight, bias)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return ops.embedding(weight, input, -1 if padding_idx is None else padding_idx)


def one_hot(tensor, num_classes=-1):
    return ops.one_hot(tensor, num_classes)


def dropout(input, p=0.5, training=True, inplace=False):
    out = ops.dropout(input, p, training)
    return input.copy_(out) if inplace and training else out


# ---- normalisation -------------------------------------------------------------------------------------


def _norm_dims(input, normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.dim() - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, shape))}], but got input of size{list(input.shape)}")
    return list(range(input.dim() - len(shape), input.dim()))


def _normalize(input, dims, eps, centre):
    """(x - mean) * rstd over dims (RMSNorm: x * rstd) in fp32 (fp64 for float64 inputs), with the mean
    (None without centring) and rstd, kept dims."""
    x = input.float() if input.dtype in (_C.float16, _C.bfloat16) else input
    mean = x.mean(dims, keepdim=True) if centre else None
    xc = x - mean if centre else x
    rstd = ((xc * xc).mean(dims, keepdim=True) + eps).rsqrt()
    return xc * rstd, mean, rstd


@autocast_op
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if _fused.norm_applies(input, normalized_shape, weight, bias):
        return ops.native_layer_norm(input, _fused.shape_list(normalized_shape), weight, bias, eps)[0]
    # The affine part in the normalising precision too; the result has the input's dtype even when the weights
    # are wider (PyTorch's mixed-dtype layer_norm: a bf16 activation under CPU autocast, float32 weights).
    y = _normalize(input, _norm_dims(input, normalized_shape), eps, True)[0]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.to(input.dtype)


@autocast_op
def rms_norm(input, normalized_shape, weight=None, eps=None):
    if eps is None:
        eps = finfo(input.dtype).eps
    if _fused.norm_applies(input, normalized_shape, weight, None):
        return ops._fused_rms_norm(input, _fused.shape_list(normalized_shape), weight, eps)[0]
    y = _normalize(input, _norm_dims(input, normalized_shape), eps, False)[0]
    return (y * weight if weight is not None else y).to(input.dtype)  # the input's dtype, as layer_norm


@autocast_op
def normalize(input, p=2.0, dim=1, eps=1e-12):
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


# ---- losses ----------------------------------------------------------------------------------------------


def _reduce(loss, reduction, denom=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / denom if denom is not None else loss.mean()
    raise ValueError(f"{reduction} is not a valid value for reduction")


@autocast_op
def mse_loss(input, target, reduction="mean"):
    d = input - target
    return _reduce(d * d, reduction)


@autocast_op
def l1_loss(input, target, reduction="mean"):
    return _reduce((input - target).abs(), reduction)


@autocast_op
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    d = (input - target).abs()
    loss = ops.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta) if beta > 0 else d
    return _reduce(loss, reduction)


@autocast_op
def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    log_sig = -ops.softplus(-input)        # log(sigmoid(x))
    log_one_minus = -ops.softplus(input)   # log(1 - sigmoid(x))
    pos = log_sig * target if pos_weight is None else log_sig * target * pos_weight
    loss = -(pos + log_one_minus * (1 - target))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@autocast_op
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log likelihood from log-probabilities `input` (N, C, ...) and class indices (N, ...)."""
    if input.dim() == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    if target.dtype not in (_C.int64, _C.int32):
        raise RuntimeError(f"nll_loss: expected target of dtype int64, got {target.dtype}")
    if input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0]}).")
    valid = target != ignore_index
    safe = ops.where(valid, target, 0)
    picked = -input.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(input.dtype)
    if weight is not None:
        w = w * weight[safe]
    loss = picked * w
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


@autocast_op
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits, with class-index or class-probability targets.

    >>> import vibetensor as vt
    >>> logits = vt.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> round(vt.nn.functional.cross_entropy(logits, vt.tensor([0, 1])).item(), 4)
    0.1269
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if _fused.cross_entropy_applies(input, target, weight, reduction):
        return ops._cross_entropy_logits(input, target, ignore_index, label_smoothing)[0]
    return _cross_entropy_composite(input, target, weight, ignore_index, reduction, label_smoothing)


def _cross_entropy_composite(input, target, weight, ignore_index, reduction, label_smoothing):
    class_dim = 1 if input.dim() > 1 else 0
    logp = log_softmax(input, class_dim)
    n_classes = input.shape[class_dim]
    if target.dtype.is_floating_point:  # class probabilities
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        per = logp * target if weight is None else logp * target * _class_view(weight, input)
        return _reduce(-per.sum(class_dim), reduction)
    if input.dim() > 2:  # (N, C, d1, ...) -> (N * d1 * ..., C)
        logp = logp.movedim(1, -1).reshape(-1, n_classes)
        target = target.reshape(-1)
    elif input.dim() == 1:
        logp, target = logp.unsqueeze(0), target.unsqueeze(0)
    valid = target != ignore_index
    safe = ops.where(valid, target, 0)
    w = valid.to(logp.dtype)
    if weight is not None:
        w = w * weight[safe]
    nll = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    loss = nll * w
    if label_smoothing > 0:
        smooth = -(logp if weight is None else logp * weight).sum(1) / n_classes
        loss = (1 - label_smoothing) * loss + label_smoothing * smooth * valid.to(logp.dtype)
    if reduction == "mean":
        return loss.sum() / w.sum()
    out = _reduce(loss, reduction)
    return out.reshape(input.shape[:1] + input.shape[2:]) if reduction == "none" and input.dim() > 2 else out


def _class_view(weight, input):
    shape = [1] * input.dim()
    shape[1 if input.dim() > 1 else 0] = weight.shape[0]
    return weight.reshape(shape)


# ---- attention ---------------------------------------------------------------------------------------------


@autocast_op
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(q k^T * scale + mask) v over the last two dims; bool masks keep True positions.

    Inputs the fused kernels cover (vt.nn.fused.attention_applies: 4-d, no mask, no dropout; on CUDA
    bfloat16/float16/float32 with head_dim 16/32/64/128, on CPU any float dtype) run FlashAttention-style, never
    holding the [L, S] scores; the rest runs the composite below."""
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal, not both")
    if _fused.attention_applies(query, key, value, attn_mask, dropout_p, scale, enable_gqa):
        return ops._fused_attention(query, key, value, is_causal, scale)[0]
    if enable_gqa and query.shape[-3] != key.shape[-3]:
        groups = query.shape[-3] // key.shape[-3]
        key = _repeat_heads(key, groups)
        value = _repeat_heads(value, groups)
    weights = _attention_probs(query, key, attn_mask, is_causal, scale)
    if dropout_p > 0:
        weights = ops.dropout(weights, dropout_p, True)
    return weights.matmul(value)


def _attention_probs(query, key, attn_mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) over the keys, before dropout: what the composite above applies to the
    values, and the weights nn.MultiheadAttention returns. A bool mask keeps its True positions."""
    scores = _attention_scores(query, key, _attention_scale(query, scale), is_causal)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, -math.inf) if attn_mask.dtype == _C.bool else scores + attn_mask
    return scores.softmax(-1)


def _attention_scale(query, scale):
    return 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale


def _attention_scores(query, key, scale, is_causal):
    """q k^T * scale, with -inf where the causal mask hides a key."""
    scores = query.matmul(key.transpose(-2, -1)) * scale
    if is_causal:
        scores = scores.masked_fill(~_causal_keep(query.shape[-2], key.shape[-2], query.device), -math.inf)
    return scores


def _causal_keep(L, S, device):
    """[L, S] bool on `device`, True where query i may see key j: j <= i (top-left aligned, as torch's)."""
    return ops.ones([L, S], dtype=_C.bool, device=device).tril()


def _repeat_heads(x, groups):
    b = x.shape[:-3]
    h, s, d = x.shape[-3:]
    return x.unsqueeze(-3).expand(*b, h, groups, s, d).reshape(*b, h * groups, s, d)


# ---- padding ---------------------------------------------------------------------------------------------------


def pad(input, pad, mode="constant", value=0.0):
    if mode != "constant":
        raise NotImplementedError(f"pad: mode '{mode}' is not supported (only 'constant')")
    if len(pad) % 2 or len(pad) // 2 > input.dim():
        raise ValueError("pad: padding length must be even and at most twice the number of dims")
    out = input
    for i in range(len(pad) // 2):
        dim = input.dim() - 1 - i
        left, right = pad[2 * i], pad[2 * i + 1]
        if left < 0:
            out = out.narrow(dim, -left, out.shape[dim] + left)
            left = 0
        if right < 0:
            out = out.narrow(dim, 0, out.shape[dim] + right)
            right = 0
        parts = []
        if left:
            s = list(out.shape)
            s[dim] = left
            parts.append(ops.full(s, value, dtype=out.dtype, device=out.device))
        parts.append(out)
        if right:
            s = list(out.shape)
            s[dim] = right
            parts.append(ops.full(s, value, dtype=out.dtype, device=out.device))
        out = ops.cat(parts, dim) if len(parts) > 1 else out
    return out
