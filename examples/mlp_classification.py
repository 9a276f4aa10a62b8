"""An MLP classifier on a synthetic task (noisy interleaved spirals), trained with AdamW and a cosine
schedule. The same code runs on vibetensor or on PyTorch: it only touches the `torch` module it is given.

    python examples/mlp_classification.py                      # vibetensor.torch
    python examples/mlp_classification.py --backend torch      # PyTorch, same data and initial weights
    python examples/mlp_classification.py --steps 400 --threads 2
"""
import argparse
import dataclasses
import time

import numpy as np

from torchlike import init_from_numpy, load_backend, set_threads


@dataclasses.dataclass
class Config:
    classes: int = 3
    points: int = 1536      # training set size
    hidden: int = 64
    batch: int = 128
    steps: int = 600
    lr: float = 1e-2
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 0        # 0: the library's default


def make_spirals(n, classes, seed):
    """`classes` interleaved spiral arms in the plane (1.5 turns each, with angular noise): points (x, y)."""
    gen = np.random.default_rng(seed)
    labels = gen.integers(0, classes, size=n)
    r = gen.uniform(0.05, 1.0, size=n)
    theta = labels * (2 * np.pi / classes) + r * 3 * np.pi + gen.normal(0, 0.2, size=n)
    points = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return points.astype(np.float32), labels.astype(np.int64)


def build_model(torch, cfg, in_features=2):
    nn = torch.nn
    return nn.Sequential(nn.Linear(in_features, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(),
                         nn.Linear(cfg.hidden, cfg.classes))


def train(torch, cfg=None, log_every=0):
    """Trains on `torch` (PyTorch or vibetensor.torch); returns per-step losses and final accuracy."""
    cfg = cfg or Config()
    set_threads(torch, cfg.threads)
    F = torch.nn.functional
    feats, labels = make_spirals(cfg.points, cfg.classes, cfg.seed)
    x_all, y_all = torch.tensor(feats), torch.tensor(labels)
    model = init_from_numpy(torch, build_model(torch, cfg), cfg.seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps, eta_min=cfg.lr * 0.05)
    order = np.random.default_rng(cfg.seed + 2)  # batches from numpy: identical in both libraries
    losses, start = [], time.perf_counter()
    for step in range(cfg.steps):
        idx = torch.tensor(order.integers(0, cfg.points, size=cfg.batch))
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == cfg.steps - 1):
            print(f"step {step:4d}  loss {losses[-1]:.4f}  lr {sched.get_last_lr()[0]:.2e}")
    with torch.no_grad():
        accuracy = (model(x_all).argmax(1) == y_all).float().mean().item()
    return {"losses": losses, "accuracy": accuracy, "seconds": time.perf_counter() - start, "model": model}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["vibetensor", "torch"], default="vibetensor")
    for field in dataclasses.fields(Config):
        p.add_argument(f"--{field.name}", type=field.type, default=field.default)
    args = p.parse_args(argv)
    cfg = Config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Config)})
    out = train(load_backend(args.backend), cfg, log_every=50)
    print(f"{args.backend}: final loss {out['losses'][-1]:.4f}, accuracy {out['accuracy']:.3f}, "
          f"{cfg.steps} steps in {out['seconds']:.2f} s")
    return out


if __name__ == "__main__":
    main()
