"""Shared by the training scripts: the same initial weights in both libraries, from numpy."""
import numpy as np


def init_from_numpy(torch, model, seed, scale=0.3):
    """Overwrites every parameter (in named_parameters order) with seeded normal values."""
    gen = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.tensor((gen.normal(size=tuple(p.shape)) * scale).astype(np.float32)))
    return model
