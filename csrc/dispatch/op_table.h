// THE op table: every op of the core is declared here once, with its schema and flags.
// Kernels (csrc/ops, kernels/), the derivative table (autograd/), the Python bindings and the tests all key
// off these names; tests fail when an op lacks a kernel or (if differentiable) a derivative.
//
// Flags: F = vt.<name>, M = Tensor.<name>, D = differentiable, I = also declare the in-place `<name>_`,
// FAC = factory (dtype/device/requires_grad keywords), RNG = draws random numbers.
// Tensor arguments after the first also accept Python numbers (as wrapped 0-d tensors), like PyTorch.
#define VT_UNARY_FLOAT_OPS(_)                                                                          \
  _(sqrt) _(rsqrt) _(exp) _(exp2) _(expm1) _(log) _(log2) _(log10) _(log1p) _(sin) _(cos) _(tan)      \
  _(asin) _(acos) _(atan) _(sinh) _(cosh) _(tanh) _(asinh) _(acosh) _(atanh) _(erf) _(erfc) _(erfinv) \
  _(lgamma) _(digamma) _(sigmoid) _(reciprocal) _(silu) _(mish)

#define VT_OP_TABLE(OP)                                                                                 \
  /* ---- unary elementwise ---------------------------------------------------------------------- */ \
  OP("abs(Tensor self) -> Tensor", F | M | D | I)                                                       \
  OP("neg(Tensor self) -> Tensor", F | M | D | I)                                                       \
  OP("sign(Tensor self) -> Tensor", F | M | D | I)                                                      \
  OP("square(Tensor self) -> Tensor", F | M | D | I)                                                    \
  OP("relu(Tensor self) -> Tensor", F | M | D | I)                                                      \
  OP("floor(Tensor self) -> Tensor", F | M | D | I)                                                     \
  OP("ceil(Tensor self) -> Tensor", F | M | D | I)                                                      \
  OP("trunc(Tensor self) -> Tensor", F | M | D | I)                                                     \
  OP("frac(Tensor self) -> Tensor", F | M | D | I)                                                      \
  OP("round(Tensor self, *, int decimals=0) -> Tensor", F | M | D | I)                                  \
  OP("gelu(Tensor self, *, str approximate='none') -> Tensor", F | D)                                   \
  OP("softplus(Tensor self, Scalar beta=1, Scalar threshold=20) -> Tensor", F | D)                      \
  OP("elu(Tensor self, Scalar alpha=1.0) -> Tensor", F | D)                                             \
  OP("leaky_relu(Tensor self, Scalar negative_slope=0.01) -> Tensor", F | D)                            \
  OP("hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor", F | D)                     \
  OP("nan_to_num(Tensor self, float? nan=None, float? posinf=None, float? neginf=None) -> Tensor",      \
     F | M | D | I)                                                                                     \
  OP("logical_not(Tensor self) -> Tensor", F | M | I)                                                   \
  OP("bitwise_not(Tensor self) -> Tensor", F | M | I)                                                   \
  OP("isnan(Tensor self) -> Tensor", F | M)                                                             \
  OP("isinf(Tensor self) -> Tensor", F | M)                                                             \
  OP("isfinite(Tensor self) -> Tensor", F | M)                                                          \
  OP("signbit(Tensor self) -> Tensor", F | M)                                                           \
  /* ---- binary elementwise --------------------------------------------------------------------- */ \
  OP("add(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor", F | M | D | I)                      \
  OP("sub(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor", F | M | D | I)                      \
  OP("rsub(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor", F | D)                             \
  OP("mul(Tensor self, Tensor other) -> Tensor", F | M | D | I)                                         \
  OP("div(Tensor self, Tensor other, *, str? rounding_mode=None) -> Tensor", F | M | D | I)             \
  OP("floor_divide(Tensor self, Tensor other) -> Tensor", F | M | I)                                    \
  OP("remainder(Tensor self, Tensor other) -> Tensor", F | M | D | I)                                   \
  OP("fmod(Tensor self, Tensor other) -> Tensor", F | M | D | I)                                        \
  OP("pow(Tensor self, Tensor exponent) -> Tensor", F | M | D | I)                                      \
  OP("atan2(Tensor self, Tensor other) -> Tensor", F | M | D | I)                                       \
  OP("maximum(Tensor self, Tensor other) -> Tensor", F | M | D)                                         \
  OP("minimum(Tensor self, Tensor other) -> Tensor", F | M | D)                                         \
  OP("fmax(Tensor self, Tensor other) -> Tensor", F | M | D)                                            \
  OP("fmin(Tensor self, Tensor other) -> Tensor", F | M | D)                                            \
  OP("hypot(Tensor self, Tensor other) -> Tensor", F | M | D | I)                                       \
  OP("logaddexp(Tensor self, Tensor other) -> Tensor", F | M | D)                                       \
  OP("copysign(Tensor self, Tensor other) -> Tensor", F | M | D | I)                                    \
  OP("xlogy(Tensor self, Tensor other) -> Tensor", F | M | D | I)                                       \
  OP("eq(Tensor self, Tensor other) -> Tensor", F | M | I)                                              \
  OP("ne(Tensor self, Tensor other) -> Tensor", F | M | I)                                              \
  OP("lt(Tensor self, Tensor other) -> Tensor", F | M | I)                                              \
  OP("le(Tensor self, Tensor other) -> Tensor", F | M | I)                                              \
  OP("gt(Tensor self, Tensor other) -> Tensor", F | M | I)                                              \
  OP("ge(Tensor self, Tensor other) -> Tensor", F | M | I)                                              \
  OP("logical_and(Tensor self, Tensor other) -> Tensor", F | M | I)                                     \
  OP("logical_or(Tensor self, Tensor other) -> Tensor", F | M | I)                                      \
  OP("logical_xor(Tensor self, Tensor other) -> Tensor", F | M | I)                                     \
  OP("bitwise_and(Tensor self, Tensor other) -> Tensor", F | M | I)                                     \
  OP("bitwise_or(Tensor self, Tensor other) -> Tensor", F | M | I)                                      \
  OP("bitwise_xor(Tensor self, Tensor other) -> Tensor", F | M | I)                                     \
  OP("bitwise_left_shift(Tensor self, Tensor other) -> Tensor", F | M | I)                              \
  OP("bitwise_right_shift(Tensor self, Tensor other) -> Tensor", F | M | I)                             \
  /* ---- ternary elementwise -------------------------------------------------------------------- */ \
  OP("where(Tensor condition, Tensor self, Tensor other) -> Tensor", F | M | D)                         \
  OP("masked_fill(Tensor self, Tensor mask, Tensor value) -> Tensor", F | M | D | I)                    \
  OP("clamp(Tensor self, Tensor? min=None, Tensor? max=None) -> Tensor", F | M | D | I)                 \
  OP("lerp(Tensor self, Tensor end, Tensor weight) -> Tensor", F | M | D | I)                           \
  OP("addcmul(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor", F | M | D | I) \
  OP("addcdiv(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor", F | M | D | I) \
  /* ---- reductions ----------------------------------------------------------------------------- */ \
  OP("sum(Tensor self, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",     \
     F | M | D)                                                                                         \
  OP("mean(Tensor self, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",    \
     F | M | D)                                                                                         \
  OP("prod(Tensor self, int? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",       \
     F | M | D)                                                                                         \
  OP("max(Tensor self) -> Tensor", F | M | D)                                                           \
  OP("max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)", F | M | D) \
  OP("max.other(Tensor self, Tensor other) -> Tensor", F | M)                                           \
  OP("min(Tensor self) -> Tensor", F | M | D)                                                           \
  OP("min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)", F | M | D) \
  OP("min.other(Tensor self, Tensor other) -> Tensor", F | M)                                           \
  OP("amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor", F | M | D)                       \
  OP("amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor", F | M | D)                       \
  OP("argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor", F | M)                         \
  OP("argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor", F | M)                         \
  OP("var(Tensor self, int[1]? dim=None, bool? unbiased=None, bool keepdim=False, *, "                  \
     "Scalar? correction=None) -> Tensor", F | M | D)                                                   \
  OP("std(Tensor self, int[1]? dim=None, bool? unbiased=None, bool keepdim=False, *, "                  \
     "Scalar? correction=None) -> Tensor", F | M | D)                                                   \
  OP("norm(Tensor self, Scalar? p=2, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) " \
     "-> Tensor", F | M | D)                                                                            \
  OP("logsumexp(Tensor self, int[1] dim, bool keepdim=False) -> Tensor", F | M | D)                     \
  OP("cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor", F | M | D)                    \
  OP("cumprod(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor", F | M | D)                   \
  OP("any(Tensor self, int? dim=None, bool keepdim=False) -> Tensor", F | M)                            \
  OP("all(Tensor self, int? dim=None, bool keepdim=False) -> Tensor", F | M)                            \
  OP("softmax(Tensor self, int dim, ScalarType? dtype=None) -> Tensor", F | M | D)                      \
  OP("log_softmax(Tensor self, int dim, ScalarType? dtype=None) -> Tensor", F | M | D)                  \
  /* ---- fused normalisation and loss (nn.functional's CUDA path): mean / rstd / lse one per row;  */ \
  /* the backward ops return [0] gradients for an absent weight / bias                               */ \
  OP("native_layer_norm(Tensor input, int[] normalized_shape, Tensor? weight, Tensor? bias, float eps) " \
     "-> (Tensor out, Tensor mean, Tensor rstd)", D)                                                    \
  OP("native_layer_norm_backward(Tensor grad_out, Tensor input, int[] normalized_shape, Tensor mean, "   \
     "Tensor rstd, Tensor? weight, bool has_bias) -> (Tensor grad_input, Tensor grad_weight, "          \
     "Tensor grad_bias)", 0)                                                                            \
  OP("_fused_rms_norm(Tensor input, int[] normalized_shape, Tensor? weight, float eps) -> "             \
     "(Tensor out, Tensor rstd)", D)                                                                    \
  OP("_fused_rms_norm_backward(Tensor grad_out, Tensor input, int[] normalized_shape, Tensor rstd, "     \
     "Tensor? weight) -> (Tensor grad_input, Tensor grad_weight)", 0)                                   \
  OP("_cross_entropy_logits(Tensor self, Tensor target, int ignore_index=-100, "                        \
     "float label_smoothing=0.0) -> (Tensor loss, Tensor lse, Tensor count)", D)                        \
  OP("_cross_entropy_logits_backward(Tensor grad, Tensor self, Tensor target, Tensor lse, "             \
     "Tensor count, int ignore_index, float label_smoothing) -> Tensor", 0)                             \
  /* ---- fused attention (scaled_dot_product_attention's CUDA path): lse [B, Hq, Lq], natural log,  */ \
  /* float32 (float64 for float64 inputs); key/value heads divide the query heads (GQA)             */ \
  OP("_fused_attention(Tensor query, Tensor key, Tensor value, bool is_causal=False, float? scale=None) " \
     "-> (Tensor out, Tensor lse)", D)                                                                  \
  OP("_fused_attention_backward(Tensor grad_out, Tensor query, Tensor key, Tensor value, Tensor out, "   \
     "Tensor lse, bool is_causal, float? scale) -> (Tensor grad_query, Tensor grad_key, "                \
     "Tensor grad_value)", 0)                                                                           \
  /* ---- activation gradients (cpu/activation_grad.cpp); fused bias-activation, rotary embedding */  \
  /* and embedding backward (nn.functional's CUDA path; Composite kernels in nn/fused_act.py)     */  \
  OP("gelu_backward(Tensor grad_output, Tensor self, *, str approximate='none') -> Tensor", D)        \
  OP("silu_backward(Tensor grad_output, Tensor self) -> Tensor", D)                                   \
  OP("_bias_act(Tensor input, Tensor bias, str activation) -> Tensor", D)                             \
  OP("_bias_act_backward(Tensor grad_out, Tensor input, Tensor bias, str activation, "                \
     "bool bias_grad) -> (Tensor grad_input, Tensor grad_bias)", D)                                   \
  OP("_rotary_emb(Tensor input, Tensor cos, Tensor sin, int seq_dim, bool interleaved, "              \
     "bool inverse) -> Tensor", D)                                                                    \
  OP("embedding_dense_backward(Tensor grad_output, Tensor indices, int num_weights, "                 \
     "int padding_idx) -> Tensor", D)                                                                 \
  /* ---- linear algebra ------------------------------------------------------------------------- */ \
  OP("mm(Tensor self, Tensor mat2) -> Tensor", F | M | D)                                               \
  OP("bmm(Tensor self, Tensor mat2) -> Tensor", F | M | D)                                              \
  OP("matmul(Tensor self, Tensor other) -> Tensor", F | M | D)                                          \
  OP("addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor",        \
     F | M | D)                                                                                         \
  OP("dot(Tensor self, Tensor tensor) -> Tensor", F | M | D)                                            \
  OP("outer(Tensor self, Tensor vec2) -> Tensor", F | M | D)                                            \
  OP("linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor", D)                             \
  /* ---- copies, shapes, joins ------------------------------------------------------------------ */ \
  OP("clone(Tensor self) -> Tensor", F | M | D)                                                         \
  OP("contiguous(Tensor(a) self) -> Tensor(a)", M | D)                                                  \
  OP("copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)", M | D)                \
  OP("_to_copy(Tensor self, *, ScalarType? dtype=None, Device? device=None, bool non_blocking=False) "  \
     "-> Tensor", D)                                                                                    \
  OP("fill_(Tensor(a!) self, Tensor value) -> Tensor(a!)", M | D)                                       \
  OP("zero_(Tensor(a!) self) -> Tensor(a!)", M | D)                                                     \
  OP("cat(Tensor[] tensors, int dim=0) -> Tensor", F | D)                                               \
  OP("stack(Tensor[] tensors, int dim=0) -> Tensor", F | D)                                             \
  OP("flip(Tensor self, int[] dims) -> Tensor", F | M | D)                                              \
  OP("roll(Tensor self, int[1] shifts, int[1] dims=[]) -> Tensor", F | M | D)                           \
  OP("repeat(Tensor self, int[] repeats) -> Tensor", M | D)                                             \
  OP("tril(Tensor self, int diagonal=0) -> Tensor", F | M | D | I)                                      \
  OP("triu(Tensor self, int diagonal=0) -> Tensor", F | M | D | I)                                      \
  /* ---- views (share storage with self) -------------------------------------------------------- */ \
  OP("as_strided(Tensor(a) self, int[] size, int[] stride, int? storage_offset=None) -> Tensor(a)",    \
     F | M | D)                                                                                         \
  OP("view(Tensor(a) self, int[] size) -> Tensor(a)", M | D)                                            \
  OP("view.dtype(Tensor(a) self, ScalarType dtype) -> Tensor(a)", M)                                    \
  OP("reshape(Tensor(a) self, int[] shape) -> Tensor(a)", F | M | D)                                    \
  OP("permute(Tensor(a) self, int[] dims) -> Tensor(a)", F | M | D)                                     \
  OP("transpose(Tensor(a) self, int dim0, int dim1) -> Tensor(a)", F | M | D)                           \
  OP("t(Tensor(a) self) -> Tensor(a)", F | M | D)                                                       \
  OP("expand(Tensor(a) self, int[] size) -> Tensor(a)", M | D)                                          \
  OP("squeeze(Tensor(a) self, int[1]? dim=None) -> Tensor(a)", F | M | D)                               \
  OP("unsqueeze(Tensor(a) self, int dim) -> Tensor(a)", F | M | D)                                      \
  OP("narrow(Tensor(a) self, int dim, int start, int length) -> Tensor(a)", F | M | D)                  \
  OP("select(Tensor(a) self, int dim, int index) -> Tensor(a)", F | M | D)                              \
  OP("slice(Tensor(a) self, int dim=0, int? start=None, int? end=None, int step=1) -> Tensor(a)", D)    \
  OP("flatten(Tensor(a) self, int start_dim=0, int end_dim=-1) -> Tensor(a)", F | M | D)                \
  OP("unflatten(Tensor(a) self, int dim, int[] sizes) -> Tensor(a)", F | M | D)                         \
  OP("movedim(Tensor(a) self, int[1] source, int[1] destination) -> Tensor(a)", F | M | D)              \
  OP("diagonal(Tensor(a) self, int offset=0, int dim1=0, int dim2=1) -> Tensor(a)", F | M | D)          \
  OP("unbind(Tensor(a) self, int dim=0) -> Tensor(a)[]", F | M | D)                                     \
  OP("split(Tensor(a) self, int split_size, int dim=0) -> Tensor(a)[]", F | M | D)                      \
  OP("split.sizes(Tensor(a) self, int[] split_size, int dim=0) -> Tensor(a)[]", F | M | D)              \
  OP("chunk(Tensor(a) self, int chunks, int dim=0) -> Tensor(a)[]", F | M | D)                          \
  /* ---- indexing ------------------------------------------------------------------------------- */ \
  OP("index(Tensor self, Tensor?[] indices) -> Tensor", D)                                              \
  OP("index_put(Tensor self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor",       \
     F | M | D | I)                                                                                     \
  OP("gather(Tensor self, int dim, Tensor index) -> Tensor", F | M | D)                                 \
  OP("scatter(Tensor self, int dim, Tensor index, Tensor src, *, str? reduce=None) -> Tensor",          \
     F | M | D | I)                                                                                     \
  OP("scatter_add(Tensor self, int dim, Tensor index, Tensor src) -> Tensor", F | M | D | I)            \
  OP("index_select(Tensor self, int dim, Tensor index) -> Tensor", F | M | D)                           \
  OP("index_add(Tensor self, int dim, Tensor index, Tensor source, *, Scalar alpha=1) -> Tensor",       \
     F | M | D | I)                                                                                     \
  OP("masked_select(Tensor self, Tensor mask) -> Tensor", F | M | D)                                    \
  OP("nonzero(Tensor self) -> Tensor", F | M)                                                           \
  OP("embedding(Tensor weight, Tensor indices, int padding_idx=-1) -> Tensor", F | D)                   \
  OP("one_hot(Tensor self, int num_classes=-1) -> Tensor", F)                                           \
  OP("topk(Tensor self, int k, int dim=-1, bool largest=True, bool sorted=True) -> "                    \
     "(Tensor values, Tensor indices)", F | M | D)                                                      \
  OP("sort(Tensor self, int dim=-1, bool descending=False, *, bool stable=False) -> "                   \
     "(Tensor values, Tensor indices)", F | M | D)                                                      \
  OP("argsort(Tensor self, int dim=-1, bool descending=False, *, bool stable=False) -> Tensor", F | M)  \
  /* ---- factories ------------------------------------------------------------------------------ */ \
  OP("arange(Scalar end, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC)           \
  OP("arange.start(Scalar start, Scalar end, Scalar step=1, *, ScalarType? dtype=None, "                \
     "Device? device=None) -> Tensor", F | FAC)                                                         \
  OP("linspace(Scalar start, Scalar end, int steps, *, ScalarType? dtype=None, Device? device=None) "   \
     "-> Tensor", F | FAC)                                                                              \
  OP("eye(int n, int? m=None, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC)      \
  OP("full(int[] size, Scalar fill_value, *, ScalarType? dtype=None, Device? device=None) -> Tensor",   \
     F | FAC)                                                                                           \
  OP("zeros(int[] size, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC)            \
  OP("ones(int[] size, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC)             \
  OP("empty(int[] size, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC)            \
  /* ---- random --------------------------------------------------------------------------------- */ \
  OP("rand(int[] size, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC | RNG)       \
  OP("randn(int[] size, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC | RNG)      \
  OP("randint(int high, int[] size, *, ScalarType? dtype=None, Device? device=None) -> Tensor",         \
     F | FAC | RNG)                                                                                     \
  OP("randint.low(int low, int high, int[] size, *, ScalarType? dtype=None, Device? device=None) "      \
     "-> Tensor", F | FAC | RNG)                                                                        \
  OP("randperm(int n, *, ScalarType? dtype=None, Device? device=None) -> Tensor", F | FAC | RNG)        \
  OP("normal_(Tensor(a!) self, float mean=0, float std=1) -> Tensor(a!)", M | RNG)                      \
  OP("uniform_(Tensor(a!) self, float from=0, float to=1) -> Tensor(a!)", M | RNG)                      \
  OP("bernoulli(Tensor self, float? p=None) -> Tensor", F | M | RNG)                                    \
  OP("bernoulli_(Tensor(a!) self, float p=0.5) -> Tensor(a!)", M | RNG)                                \
  OP("multinomial(Tensor self, int num_samples, bool replacement=False) -> Tensor", F | M | RNG)        \
  /* dropout: a Composite over the fused native_dropout (one kernel; its bool mask is what backward saves) */ \
  OP("dropout(Tensor input, float p=0.5, bool train=True) -> Tensor", F | D | RNG)                      \
  OP("native_dropout(Tensor input, float p, bool? train) -> (Tensor output, Tensor mask)", F | D | RNG) \
  OP("native_dropout_backward(Tensor grad_output, Tensor mask, float scale) -> Tensor", F | D)
