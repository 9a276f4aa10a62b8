"""What the examples share: picking the `torch`-like module to run on, and the same initial weights in
either library (drawn with numpy, so vibetensor and PyTorch start from identical models)."""
import importlib

import numpy as np

BACKENDS = {"vibetensor": "vibetensor.torch", "torch": "torch"}


def load_backend(name):
    """The module that plays `torch`: ``vibetensor.torch`` or PyTorch itself."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {sorted(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])


def set_threads(torch, threads):
    """Both libraries take the intra-op thread count the same way."""
    if threads:
        torch.set_num_threads(threads)


def init_from_numpy(torch, model, seed, std=None):
    """Seeded numpy values for every parameter, by layer type: Linear/Embedding weights ~ N(0, std) (std
    defaults to 1/sqrt(fan_in) for Linear, 1 for Embedding), biases 0, LayerNorm weight 1 and bias 0.
    Tied parameters are set once (named_parameters skips duplicates in both libraries)."""
    gen = np.random.default_rng(seed)
    values = {}
    for mod_name, module in model.named_modules():
        kind = type(module).__name__
        for p_name, p in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            shape = tuple(p.shape)
            if kind in ("LayerNorm", "RMSNorm"):
                values[full] = np.ones(shape) if p_name == "weight" else np.zeros(shape)
            elif p_name == "bias" or p_name.endswith("_bias"):
                values[full] = np.zeros(shape)
            else:
                scale = std if std is not None else (1.0 if kind == "Embedding" else 1.0 / np.sqrt(shape[-1]))
                values[full] = gen.normal(0.0, scale, size=shape)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(values[name].astype(np.float32)))
    return model
