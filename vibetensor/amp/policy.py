"""THE autocast table: what vt.autocast does to each op's floating inputs, per device type.

Categories and lists are PyTorch's (ATen's autocast_mode.h/.cpp, "Autocast Op Reference" in its docs) for
the ops vibetensor has. PyTorch's CUDA and CPU lists differ, so each op has both columns:

  lower_precision_fp  inputs cast to the region's dtype (bf16 or fp16): matmuls, attention
  fp32                inputs cast to float32: ops that need its range (exp, log, pow), norms and losses
  fp32_set_opt_dtype  inputs left alone, dtype=float32 unless the caller passed one (softmax, sum, cumsum)
  promote             inputs cast to the widest floating type among them (cat, addcmul)

Only floating tensors on the region's device take part; float64 never does. Ops not listed run on the
dtypes that reach them. A name is either a dispatcher op, cast in the dispatcher however it is called
(csrc/dispatch/autocast.cpp), or a function vibetensor writes in Python, marked @autocast_op in
nn.functional and cast at its entry. tests/nn/test_autocast.py checks the table against the installed
torch's own autocast registrations, so an op added to vibetensor that torch autocasts needs a row here.
"""
from .. import _C

L, F32, F32D, P = "lower_precision_fp", "fp32", "fp32_set_opt_dtype", "promote"

POLICIES = {
    # name                              CUDA    CPU
    "mm":                               (L,     L),
    "bmm":                              (L,     L),
    "matmul":                           (L,     L),
    "addmm":                            (L,     L),
    "linear":                           (L,     L),
    "scaled_dot_product_attention":     (L,     L),
    "acos":                             (F32,   None),
    "asin":                             (F32,   None),
    "cosh":                             (F32,   None),
    "sinh":                             (F32,   None),
    "tan":                              (F32,   None),
    "erfinv":                           (F32,   None),
    "exp":                              (F32,   None),
    "expm1":                            (F32,   None),
    "log":                              (F32,   None),
    "log2":                             (F32,   None),
    "log10":                            (F32,   None),
    "log1p":                            (F32,   None),
    "reciprocal":                       (F32,   None),
    "rsqrt":                            (F32,   None),
    "pow":                              (F32,   None),
    "softplus":                         (F32,   None),
    "logsumexp":                        (F32,   None),
    "layer_norm":                       (F32,   None),
    "native_layer_norm":                (F32,   None),
    "rms_norm":                         (F32,   None),
    "normalize":                        (F32,   None),
    "mse_loss":                         (F32,   F32),
    "l1_loss":                          (F32,   F32),
    "smooth_l1_loss":                   (F32,   F32),
    "binary_cross_entropy_with_logits": (F32,   F32),
    "nll_loss":                         (F32,   F32),
    "cross_entropy":                    (F32,   F32),  # CUDA torch: its log_softmax and nll_loss are fp32
    "prod":                             (F32D,  F32),
    "softmax":                          (F32D,  None),
    "log_softmax":                      (F32D,  None),
    "sum":                              (F32D,  None),
    "cumsum":                           (F32D,  None),
    "cumprod":                          (F32D,  None),
    "norm":                             (F32D,  None),  # torch: fp32_append_dtype, the same effect
    "addcdiv":                          (P,     None),
    "addcmul":                          (P,     None),
    "atan2":                            (P,     None),
    "dot":                              (P,     None),
    "index_put":                        (P,     None),
    "scatter_add":                      (P,     None),
    "cat":                              (None,  P),
    "stack":                            (None,  P),
}


def policies(name):
    """(cpu, cuda) cast policies of `name` as the core's enum (none where the table has no entry)."""
    cuda, cpu = POLICIES[name]
    return tuple(getattr(_C.CastPolicy, p or "none") for p in (cpu, cuda))


def install():
    """Gives the dispatcher ops of the table their policies (at import; the core starts with none)."""
    ops = {d["name"] for d in _C._op_table()}
    for name in POLICIES:
        if name in ops:
            cpu, cuda = policies(name)
            _C._set_autocast_policy(name, "cpu", cpu)
            _C._set_autocast_policy(name, "cuda", cuda)
