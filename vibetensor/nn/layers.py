"""Parametric layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout and the activations as modules."""
import math

from .. import _C
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

ops = _C._ops


def _empty(*shape, dtype=None, device=None):
    return ops.empty(list(shape), dtype=dtype, device=device)


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """y = x W^T + b, initialised like PyTorch (kaiming-uniform weight, uniform bias by fan-in)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_empty(out_features, in_features, dtype=dtype, device=device))
        self.bias = Parameter(_empty(out_features, dtype=dtype, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None, _weight=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is not None:
            self.weight = Parameter(_weight)
        else:
            self.weight = Parameter(_empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            from ..autograd import no_grad
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, x):
        return F.embedding(x, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ops.ones(list(self.normalized_shape), dtype=dtype, device=device))
            self.bias = Parameter(ops.zeros(list(self.normalized_shape), dtype=dtype, device=device)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = (Parameter(ops.ones(list(self.normalized_shape), dtype=dtype, device=device))
                       if elementwise_affine else None)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Dropout(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


def _activation(name, fn, doc):
    cls = type(name, (Module,), {
        "__doc__": doc,
        "__init__": lambda self, *a, **kw: (Module.__init__(self), setattr(self, "_args", (a, kw)))[0],
        "forward": lambda self, x: fn(x, *self._args[0], **self._args[1]),
    })
    cls.__module__ = "vibetensor.nn"
    return cls


ReLU = _activation("ReLU", lambda x, inplace=False: F.relu(x, inplace), "max(x, 0)")
GELU = _activation("GELU", lambda x, approximate="none": F.gelu(x, approximate), "Gaussian error linear unit")
SiLU = _activation("SiLU", lambda x, inplace=False: F.silu(x, inplace), "x * sigmoid(x)")
Tanh = _activation("Tanh", lambda x: F.tanh(x), "tanh(x)")
Sigmoid = _activation("Sigmoid", lambda x: F.sigmoid(x), "1 / (1 + exp(-x))")
Mish = _activation("Mish", lambda x: F.mish(x), "x * tanh(softplus(x))")
Softplus = _activation("Softplus", lambda x, beta=1.0, threshold=20.0: F.softplus(x, beta, threshold), "softplus")
LeakyReLU = _activation("LeakyReLU", lambda x, negative_slope=0.01, inplace=False: F.leaky_relu(x, negative_slope),
                        "leaky ReLU")
ELU = _activation("ELU", lambda x, alpha=1.0, inplace=False: F.elu(x, alpha), "exponential linear unit")
Softmax = _activation("Softmax", lambda x, dim=None: F.softmax(x, dim), "softmax over dim")
LogSoftmax = _activation("LogSoftmax", lambda x, dim=None: F.log_softmax(x, dim), "log-softmax over dim")
