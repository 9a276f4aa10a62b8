"""Every differentiable op of the op table passes gradcheck in float64 (analytic vs finite differences).

GRAD_SPECS has one entry per differentiable op; a test fails when an op of the table has none, so a new
differentiable op cannot land without its derivative being checked.
"""
import numpy as np
import pytest

import vibetensor as vt

gen = np.random.default_rng(1234)


def T(*shape, low=-2.0, high=2.0, positive=False):
    """A fresh random float64 input that requires grad (never zeros; away from kinks)."""
    a = gen.uniform(0.3 if positive else low, high, size=shape)
    a[np.abs(a) < 0.05] = 0.3
    return vt.tensor(a, dtype=vt.float64, requires_grad=True)


def U(*shape):  # |x| < 1
    return T(*shape, low=-0.8, high=0.8)


def own_stream(seed, *shapes):
    """Inputs like T's from a generator of their own: a spec added later drawing from `gen` would move the
    inputs of every spec sorted after it (clamp's then drew a min above its max, which its row mishandles)."""
    g = np.random.default_rng(seed)
    return tuple(vt.tensor(g.uniform(-2.0, 2.0, size=s), requires_grad=True) for s in shapes)


def I(values):  # an index tensor (no grad)
    return vt.tensor(values, dtype=vt.int64)


def C(t, half, which):  # a rotary table (no grad): cos (which 0) or sin (1) of t * frequencies
    ang = np.arange(t)[:, None] * 0.7 ** np.arange(half)[None, :]
    return vt.tensor(np.sin(ang) if which else np.cos(ang), dtype=vt.float64)


UNARY_ANY = ["neg", "exp", "exp2", "expm1", "sin", "cos", "atan", "sinh", "cosh", "tanh", "asinh", "erf", "erfc",
             "sigmoid", "silu", "mish", "square", "abs", "relu", "frac"]
UNARY_POS = ["sqrt", "rsqrt", "log", "log2", "log10", "log1p", "lgamma", "digamma", "reciprocal"]
UNARY_UNIT = ["asin", "acos", "atanh", "erfinv", "tan"]

def seeded_dropout(a):
    """native_dropout with the same mask on every call (gradcheck calls fn again and again): a fixed linear map."""
    with vt.random.fork_rng():
        vt.manual_seed(7)
        return vt.ops.native_dropout(a, 0.4, True)[0]


GRAD_SPECS = {}
for _n in UNARY_ANY:
    GRAD_SPECS[_n] = (lambda n: (lambda x: getattr(vt, n)(x), lambda: (T(2, 3),)))(_n)
for _n in UNARY_POS:
    GRAD_SPECS[_n] = (lambda n: (lambda x: getattr(vt, n)(x), lambda: (T(2, 3, positive=True),)))(_n)
for _n in UNARY_UNIT:
    GRAD_SPECS[_n] = (lambda n: (lambda x: getattr(vt, n)(x), lambda: (U(2, 3),)))(_n)
GRAD_SPECS.update({
    "acosh": (vt.acosh, lambda: (T(2, 3, low=1.2, high=3.0),)),
    "sign": (vt.sign, lambda: (T(4),)),
    "floor": (vt.floor, lambda: (T(4),)),
    "ceil": (vt.ceil, lambda: (T(4),)),
    "trunc": (vt.trunc, lambda: (T(4),)),
    "round": (vt.round, lambda: (T(4),)),
    "gelu": (lambda x: vt.gelu(x) + vt.gelu(x, approximate="tanh"), lambda: (T(2, 3),)),
    "softplus": (lambda x: vt.softplus(x, 2.0, 1.5), lambda: (T(2, 3),)),
    "elu": (lambda x: vt.elu(x, 0.7), lambda: (T(2, 3),)),
    "leaky_relu": (lambda x: vt.leaky_relu(x, 0.2), lambda: (T(2, 3),)),
    "hardtanh": (lambda x: vt.hardtanh(x, -1.0, 1.0), lambda: (T(2, 3),)),
    "nan_to_num": (vt.nan_to_num, lambda: (T(2, 3),)),
    "add": (lambda a, b: vt.add(a, b, alpha=1.5), lambda: (T(2, 3), T(3))),
    "sub": (lambda a, b: vt.sub(a, b, alpha=0.5), lambda: (T(2, 1), T(2, 3))),
    "rsub": (lambda a, b: vt.rsub(a, b), lambda: (T(2, 3), T(2, 3))),
    "mul": (vt.mul, lambda: (T(2, 3), T(1, 3))),
    "div": (vt.div, lambda: (T(2, 3), T(2, 3, positive=True))),
    "remainder": (vt.remainder, lambda: (T(5), T(5, low=0.5, high=0.9, positive=True))),
    "fmod": (vt.fmod, lambda: (T(5), T(5, low=0.5, high=0.9, positive=True))),
    "pow": (vt.pow, lambda: (T(2, 3, positive=True), T(2, 3))),
    "atan2": (vt.atan2, lambda: (T(2, 3), T(2, 3))),
    "maximum": (vt.maximum, lambda: (T(2, 3), T(2, 3))),
    "minimum": (vt.minimum, lambda: (T(2, 3), T(2, 3))),
    "fmax": (vt.fmax, lambda: (T(2, 3), T(2, 3))),
    "fmin": (vt.fmin, lambda: (T(2, 3), T(2, 3))),
    "hypot": (vt.hypot, lambda: (T(2, 3), T(2, 3))),
    "logaddexp": (vt.logaddexp, lambda: (T(2, 3), T(2, 3))),
    "copysign": (vt.copysign, lambda: (T(2, 3), T(2, 3))),
    "xlogy": (vt.xlogy, lambda: (T(2, 3), T(2, 3, positive=True))),
    "where": (lambda a, b: vt.where(I([[1, 0, 1], [0, 1, 1]]).bool(), a, b), lambda: (T(2, 3), T(2, 3))),
    "masked_fill": (lambda a: a.masked_fill(I([1, 0, 1]).bool(), 2.0), lambda: (T(2, 3),)),
    "clamp": (lambda a, lo, hi: vt.clamp(a, lo, hi), lambda: (T(2, 3), T(2, 3) - 1, T(2, 3) + 1)),
    "lerp": (vt.lerp, lambda: (T(2, 3), T(2, 3), U(2, 3))),
    "addcmul": (lambda a, b, c: vt.addcmul(a, b, c, value=0.5), lambda: (T(2, 3), T(2, 3), T(2, 3))),
    "addcdiv": (lambda a, b, c: vt.addcdiv(a, b, c, value=0.5), lambda: (T(2, 3), T(2, 3), T(2, 3, positive=True))),
    "sum": (lambda a: a.sum(1) + a.sum(), lambda: (T(2, 3),)),
    "mean": (lambda a: a.mean(0, keepdim=True), lambda: (T(2, 3),)),
    "prod": (lambda a: a.prod(1), lambda: (T(2, 3),)),
    "max": (lambda a: a.max(), lambda: (T(2, 3),)),
    "min": (lambda a: a.min(), lambda: (T(2, 3),)),
    "max.dim": (lambda a: a.max(1).values, lambda: (T(2, 3),)),
    "min.dim": (lambda a: a.min(0, keepdim=True).values, lambda: (T(2, 3),)),
    "amax": (lambda a: a.amax(1), lambda: (T(2, 3),)),
    "amin": (lambda a: a.amin((0, 1)), lambda: (T(2, 3),)),
    "var": (lambda a: a.var(1), lambda: (T(2, 3),)),
    "std": (lambda a: a.std(0, correction=0), lambda: (T(3, 2),)),
    "norm": (lambda a: a.norm() + a.norm(1, 1).sum() + a.norm(3.0, 0).sum(), lambda: (T(2, 3),)),
    "logsumexp": (lambda a: a.logsumexp(1), lambda: (T(2, 3),)),
    "cumsum": (lambda a: a.cumsum(1), lambda: (T(2, 3),)),
    "cumprod": (lambda a: a.cumprod(1), lambda: (T(2, 3),)),
    "softmax": (lambda a: a.softmax(1), lambda: (T(2, 3),)),
    "log_softmax": (lambda a: a.log_softmax(0), lambda: (T(2, 3),)),
    # the fused ops behind nn.functional's CUDA path (CPU: their composite kernels, through the same rows)
    "native_layer_norm": (lambda a, w, b: vt.ops.native_layer_norm(a, [4], w, b, 1e-5)[0],
                          lambda: (T(3, 4), T(4), T(4))),
    "_fused_rms_norm": (lambda a, w: vt.ops._fused_rms_norm(a, [2, 3], w, 1e-5)[0], lambda: (T(2, 2, 3), T(2, 3))),
    "_cross_entropy_logits": (lambda a: vt.ops._cross_entropy_logits(a, I([2, -100, 0]), -100, 0.1)[0],
                              lambda: (T(3, 4),)),
    # causal with more keys than queries, two query heads per key/value head (GQA)
    "_fused_attention": (lambda q, k, v: vt.ops._fused_attention(q, k, v, True, 0.7)[0],
                         lambda: own_stream(5, (1, 4, 3, 2), (1, 2, 4, 2), (1, 2, 4, 2))),
    # activation gradients, fused bias-activation, rotary embedding, embedding backward (nn/fused_act.py)
    "gelu_backward": (lambda g, x: vt.ops.gelu_backward(g, x) + vt.ops.gelu_backward(g, x, approximate="tanh"),
                      lambda: (T(2, 3), T(2, 3))),
    "silu_backward": (vt.ops.silu_backward, lambda: (T(2, 3), T(2, 3))),
    "_bias_act": (lambda x, b: vt.ops._bias_act(x, b, "gelu") + vt.ops._bias_act(x, b, "gelu_tanh")
                  + vt.ops._bias_act(x, b, "silu"), lambda: (T(2, 3), T(3))),
    "_bias_act_backward": (lambda g, x, b: vt.ops._bias_act_backward(g, x, b, "gelu_tanh", True),
                           lambda: (T(2, 3), T(2, 3), T(3))),
    "_rotary_emb": (lambda x: vt.ops._rotary_emb(x, C(3, 2, 0), C(3, 2, 1), 1, False, False)
                    + vt.ops._rotary_emb(x, C(3, 2, 0), C(3, 2, 1), 2, True, True), lambda: (T(2, 3, 3, 5),)),
    "embedding_dense_backward": (lambda g: vt.ops.embedding_dense_backward(g, I([[0, 2], [2, 1]]), 4, 1),
                                 lambda: (T(2, 2, 3),)),
    "mm": (vt.mm, lambda: (T(2, 3), T(3, 4))),
    "bmm": (vt.bmm, lambda: (T(2, 2, 3), T(2, 3, 2))),
    "matmul": (vt.matmul, lambda: (T(2, 2, 3), T(3,))),
    "addmm": (lambda a, b, c: vt.addmm(a, b, c, beta=0.5, alpha=2.0), lambda: (T(2, 4), T(2, 3), T(3, 4))),
    "dot": (vt.dot, lambda: (T(3), T(3))),
    "outer": (vt.outer, lambda: (T(3), T(2))),
    # 2-d input; 3-d folded into one addmm; 3-d that cannot fold without a copy (matmul + add)
    "linear": (lambda x, w, b: vt.ops.linear(x[0], w, b).sum() + vt.ops.linear(x, w, b).sum(1)
               + vt.ops.linear(x.transpose(0, 1), w, b).sum(0), lambda: (T(2, 3, 3), T(4, 3), T(4))),
    "clone": (vt.clone, lambda: (T(2, 3),)),
    "contiguous": (lambda a: a.t().contiguous(), lambda: (T(2, 3),)),
    "copy_": (lambda a, b: (a * 1).copy_(b) * 2, lambda: (T(2, 3), T(3))),
    "_to_copy": (lambda a: a.to(vt.float64, copy=True), lambda: (T(2, 3),)),
    "fill_": (lambda a: (a * 1).fill_(2.0) + a, lambda: (T(2, 3),)),
    "zero_": (lambda a: (a * 1).zero_() + a, lambda: (T(2, 3),)),
    "cat": (lambda a, b: vt.cat([a, b], 1), lambda: (T(2, 3), T(2, 2))),
    "stack": (lambda a, b: vt.stack([a, b], 0), lambda: (T(2, 3), T(2, 3))),
    "flip": (lambda a: a.flip([0, 1]), lambda: (T(2, 3),)),
    "roll": (lambda a: a.roll(1, 1), lambda: (T(2, 3),)),
    "repeat": (lambda a: a.repeat(2, 1, 2), lambda: (T(2, 3),)),
    "tril": (lambda a: a.tril(), lambda: (T(3, 3),)),
    "triu": (lambda a: a.triu(1), lambda: (T(3, 3),)),
    "as_strided": (lambda a: a.as_strided((2, 2), (1, 2), 1), lambda: (T(6),)),
    "view": (lambda a: a.view(3, 2), lambda: (T(2, 3),)),
    "reshape": (lambda a: a.t().reshape(6), lambda: (T(2, 3),)),
    "permute": (lambda a: a.permute(2, 0, 1), lambda: (T(2, 3, 2),)),
    "transpose": (lambda a: a.transpose(0, 1), lambda: (T(2, 3),)),
    "t": (lambda a: a.t(), lambda: (T(2, 3),)),
    "expand": (lambda a: a.expand(2, 3, 3), lambda: (T(3, 1),)),
    "squeeze": (lambda a: a.squeeze(1), lambda: (T(2, 1, 3),)),
    "unsqueeze": (lambda a: a.unsqueeze(0), lambda: (T(2, 3),)),
    "narrow": (lambda a: a.narrow(1, 1, 2), lambda: (T(2, 3),)),
    "select": (lambda a: a.select(0, 1), lambda: (T(2, 3),)),
    "slice": (lambda a: a[:, ::2], lambda: (T(2, 5),)),
    "flatten": (lambda a: a.flatten(), lambda: (T(2, 3),)),
    "unflatten": (lambda a: a.unflatten(1, (3, 1)), lambda: (T(2, 3),)),
    "movedim": (lambda a: a.movedim(0, 1), lambda: (T(2, 3),)),
    "diagonal": (lambda a: a.diagonal(), lambda: (T(3, 3),)),
    "unbind": (lambda a: a.unbind(1)[2], lambda: (T(2, 3),)),
    "split": (lambda a: a.split(2, 1)[1], lambda: (T(2, 3),)),
    "chunk": (lambda a: a.chunk(2, 1)[0], lambda: (T(2, 4),)),
    "index": (lambda a: a[I([0, 2, 2])], lambda: (T(3, 2),)),
    "index_put": (lambda a, v: a.index_put((I([0, 2]),), v), lambda: (T(3, 2), T(2, 2))),
    "gather": (lambda a: a.gather(1, I([[0, 0], [1, 2]])), lambda: (T(2, 3),)),
    "scatter": (lambda a, s: a.scatter(1, I([[0, 1], [2, 0]]), s), lambda: (T(2, 3), T(2, 2))),
    "scatter_add": (lambda a, s: a.scatter_add(1, I([[0, 0], [2, 0]]), s), lambda: (T(2, 3), T(2, 2))),
    "index_select": (lambda a: a.index_select(0, I([1, 1, 0])), lambda: (T(2, 3),)),
    "index_add": (lambda a, s: a.index_add(0, I([1, 0, 1]), s, alpha=2.0), lambda: (T(2, 3), T(3, 3))),
    "masked_select": (lambda a: a.masked_select(I([1, 0, 1]).bool()), lambda: (T(2, 3),)),
    "embedding": (lambda w: vt.embedding(w, I([[0, 2], [2, 1]])), lambda: (T(3, 4),)),
    "topk": (lambda a: a.topk(2, 1).values, lambda: (T(2, 4),)),
    "sort": (lambda a: a.sort(0, descending=True).values, lambda: (T(3, 2),)),
    "dropout": (lambda a: vt.dropout(a, 0.0, True) * 2, lambda: (T(2, 3),)),
    "native_dropout": (seeded_dropout, lambda: (T(3, 4),)),
    "native_dropout_backward": (lambda g: vt.ops.native_dropout_backward(g, I([[1, 0, 1], [0, 1, 1]]).bool(), 2.5),
                                lambda: (T(2, 3),)),
})
# Ops whose second-order use matters (attention, norms, losses) get a gradgradcheck too.
DOUBLE = ["mul", "div", "exp", "tanh", "sigmoid", "mm", "matmul", "sum", "softmax", "log_softmax", "pow", "sqrt",
          "add", "sub", "log", "relu", "square", "native_dropout"]


def differentiable_ops():
    return sorted({op["name"].rstrip("_") if op["inplace"] and op["name"].rstrip("_") != op["name"] and op["name"] != "copy_"
                   and op["name"] not in ("fill_", "zero_") else op["name"]
                   for op in vt.library.op_table() if op["differentiable"] and "::" not in op["name"]})


def test_every_differentiable_op_has_a_gradcheck_and_a_derivative():
    table = {op["name"]: op for op in vt.library.op_table()}
    missing_spec = [n for n in differentiable_ops() if n not in GRAD_SPECS and n.split(".")[0] not in GRAD_SPECS
                    and n not in ("split.sizes",)]
    assert not missing_spec, f"differentiable ops without a gradcheck: {missing_spec}"
    # a derivative row, or a composite kernel through which autograd flows
    missing_row = [n for n, op in table.items() if op["differentiable"] and "::" not in n
                   and n not in vt.autograd.DERIVATIVES
                   and not ("composite" in op["kernels"] and "cpu" not in op["kernels"])]
    assert not missing_row, f"differentiable ops with no derivative row: {missing_row}"


@pytest.mark.parametrize("name", sorted(GRAD_SPECS))
def test_gradcheck(name):
    fn, make_inputs = GRAD_SPECS[name]
    assert vt.autograd.gradcheck(fn, make_inputs(), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", DOUBLE)
def test_gradgradcheck(name):
    fn, make_inputs = GRAD_SPECS[name]
    assert vt.autograd.gradgradcheck(fn, make_inputs(), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_clamp_with_min_above_max_sends_the_gradient_to_max():
    x, lo, hi = (vt.tensor([v], dtype=vt.float64, requires_grad=True) for v in (-1.0, 1.0, 0.0))
    assert [g.item() for g in vt.autograd.grad(vt.clamp(x, lo, hi), [x, lo, hi])] == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("how", ["split", "split_sizes", "chunk", "unbind"])
def test_multi_view_ops_are_one_node_with_unused_pieces_and_in_place_pieces(how):
    """split/chunk/unbind record one node (a slice node per piece each made a zeros tensor of the whole input
    for the engine to add up); unused pieces get zero gradient, and a piece written in place still routes its
    gradient through the base (torch refuses that write; its gradient is worked out here by hand)."""
    gen = np.random.default_rng(3)
    a = gen.standard_normal((2, 9, 4))
    cut = {"split": lambda y: y.split(3, 1), "split_sizes": lambda y: y.split([2, 3, 4], 1),
           "chunk": lambda y: y.chunk(3, 1), "unbind": lambda y: y.unbind(1)}[how]
    x = vt.tensor(a).requires_grad_(True)
    pieces = cut(x)
    assert len({p.grad_fn for p in pieces}) == 1
    (pieces[0] * 1.5 + 0).sum().backward()  # only the first piece is used
    want = np.zeros_like(a)
    width = 1 if how == "unbind" else (2 if how == "split_sizes" else 3)
    want[:, :width] = 1.5
    np.testing.assert_array_equal(x.grad.numpy(), want)
    x = vt.tensor(a).requires_grad_(True)
    y = x * 1
    cut(y)[-1].mul_(2)  # the last piece doubled in place, through the base y
    (y * y).sum().backward()
    last = 1 if how == "unbind" else (4 if how == "split_sizes" else 3)
    want = 2 * a
    want[:, -last:] = 8 * a[:, -last:]
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12, atol=1e-12)
