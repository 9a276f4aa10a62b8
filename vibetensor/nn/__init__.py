"""vt.nn: modules, parameters, functional ops, initialisers and utilities (PyTorch's torch.nn surface)."""
from . import functional, init, utils  # noqa: F401
from .attention import MultiheadAttention  # noqa: F401
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .layers import (ELU, GELU, Dropout, Embedding, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax,  # noqa: F401
                     Mish, ReLU, RMSNorm, Sigmoid, SiLU, Softmax, Softplus, Tanh)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss  # noqa: F401
from .module import Module  # noqa: F401
from .parameter import Parameter  # noqa: F401
