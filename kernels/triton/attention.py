"""Fused attention (FlashAttention-2 style) forward and backward: the keys the native core asks for
(csrc/cuda/attention.cpp) and how each becomes a compiled kernel of attention_kernels.py.

    attn|<pass>|<dtype>|<head dim>|<c or n>|<BLOCK_M>|<BLOCK_N>|<warps>|<stages>

pass: fwd (output and log-sum-exp), delta (rowsum(dO * O)), dkdv (dK, dV over query blocks, summed over
the query heads of a GQA group), dq (dQ over key blocks). c: causal. BLOCK_M tiles query rows, BLOCK_N
key rows (delta uses BLOCK_M only and passes 0). The native side picks the block sizes, warps and stages
from its table (attention.cpp, kConfigs, overridable with VIBETENSOR_ATTENTION_CONFIG), so a key names
one compiled variant exactly.

The native launcher guarantees 16-byte aligned operands and every stride a multiple of 8 elements (it
copies an operand that is not), and the compiled kernels are told so (`attrs`): row starts are then
16-byte aligned and tiles load as 16-byte vectors.
"""
from . import kernels_module

PASSES = ("fwd", "delta", "dkdv", "dq")
DTYPES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32"}  # float32: 3xTF32 dots (float32 accuracy)
HEAD_DIMS = (16, 32, 64, 128)
STRIDE_ALIGN = 8  # elements: 16 bytes of a 2-byte dtype (32 of float32)

# argument names by kind, in each kernel's order (a stride's name ends in b, h: batch/head, 64-bit; any
# other stride is a row stride, 32-bit: the native side checks the head's extent fits)
_ARGS = {
    "fwd": "Q K V O LSE sm_scale Lq Lk H GROUP sqb sqh sqm skb skh skn svb svh svn sob soh som",
    "delta": "O DO DELTA Lq H sob soh som sdb sdh sdm",
    "dkdv": "Q K V DO LSE DELTA DK DV sm_scale Lq Lk H GROUP sqb sqh sqm skb skh skn svb svh svn sdb sdh sdm "
            "sdkb sdkh sdkn sdvb sdvh sdvn",
    "dq": "Q K V DO LSE DELTA DQ sm_scale Lq Lk H GROUP sqb sqh sqm skb skh skn svb svh svn sdb sdh sdm sdqb sdqh "
          "sdqm",
}
_STATS = ("LSE", "DELTA")  # fp32 [B, H, Lq]
_SIZES = ("Lq", "Lk", "H", "GROUP")


def parse_key(key):
    parts = key.split("|")
    if len(parts) != 9 or parts[0] != "attn" or parts[1] not in PASSES or parts[2] not in DTYPES \
            or parts[4] not in ("c", "n"):
        raise KeyError(f"not an attention kernel key: {key!r}")
    head_dim, block_m, block_n, warps, stages = (int(p) for p in (parts[3], *parts[5:]))
    if head_dim not in HEAD_DIMS:
        raise KeyError(f"attention: head dim {head_dim} is not one of {HEAD_DIMS} (key {key!r})")
    blocks = (block_m,) if parts[1] == "delta" else (block_m, block_n)
    if any(b < 16 or b & (b - 1) for b in blocks) or warps < 1 or stages < 1:
        raise KeyError(f"attention: blocks are powers of two >= 16, warps and stages >= 1 (key {key!r})")
    return {"pass": parts[1], "dtype": parts[2], "head_dim": head_dim, "causal": parts[4] == "c",
            "block_m": block_m, "block_n": block_n, "warps": warps, "stages": stages}


def _arg_type(name, dtype):
    if name in _STATS:
        return "*fp32"
    if name in _SIZES:
        return "i32"
    if name == "sm_scale":
        return "fp32"
    if name.startswith("s"):
        return "i64" if name[-1] in "bh" else "i32"
    return "*" + DTYPES[dtype]  # Q K V O DO DQ DK DV


def load(key, cache_dir=None, module_suffix=""):
    """(jit function, signature, constexprs) for an attn| key."""
    k = parse_key(key)
    fn = getattr(kernels_module("attention_kernels", module_suffix), "attn_" + ("bwd_" if k["pass"] != "fwd" else "")
                 + k["pass"])
    signature = {a: _arg_type(a, k["dtype"]) for a in _ARGS[k["pass"]].split()}
    constexprs = {"HEAD_DIM": k["head_dim"], "BLOCK_M": k["block_m"]}
    if k["pass"] != "delta":
        constexprs.update(BLOCK_N=k["block_n"], CAUSAL=k["causal"])
    signature.update({c: "constexpr" for c in constexprs})
    return fn, signature, constexprs


def attrs(key):
    """Compile-time facts the launcher guarantees: 4-d operands' pointers 16-byte aligned, strides multiples
    of 8 (the statistics' pointers are not declared: a launch split over batches moves them by B*H*Lq
    floats)."""
    names = _ARGS[parse_key(key)["pass"]].split()
    return {(i,): [["tt.divisibility", STRIDE_ALIGN if n.startswith("s") else 16]]
            for i, n in enumerate(names) if n not in _SIZES + _STATS and n != "sm_scale"}


def num_warps(key):
    return parse_key(key)["warps"]


def num_stages(key):
    return parse_key(key)["stages"]
