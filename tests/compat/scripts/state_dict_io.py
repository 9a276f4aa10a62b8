"""Checkpointing: model, optimizer and LR-scheduler state_dicts through torch.save/torch.load; resuming from a
checkpoint continues exactly like uninterrupted training."""
import os
import tempfile

import numpy as np

from _weights import init_from_numpy

nn, F = torch.nn, torch.nn.functional

gen = np.random.default_rng(6)
x = torch.tensor(gen.normal(size=(32, 5)).astype(np.float32))
y = torch.tensor(gen.integers(0, 3, size=32))


def make():
    model = init_from_numpy(torch, nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)), seed=7)
    opt = torch.optim.AdamW(model.parameters(), lr=0.02)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 4))
    return model, opt, sched


def train(model, opt, sched, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


model, opt, sched = make()
straight = train(model, opt, sched, 10)

model, opt, sched = make()
first_half = train(model, opt, sched, 5)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "ckpt.pt")
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(), "step": 5}, path)
    ckpt = torch.load(path)
resumed_model, resumed_opt, resumed_sched = make()
resumed_model.load_state_dict(ckpt["model"])
resumed_opt.load_state_dict(ckpt["optim"])
resumed_sched.load_state_dict(ckpt["sched"])
second_half = train(resumed_model, resumed_opt, resumed_sched, 5)
assert first_half + second_half == straight, "resuming from a checkpoint changed the training run"

missing = resumed_model.load_state_dict({k: v for k, v in ckpt["model"].items() if k != "2.bias"}, strict=False)
RESULTS = {
    "losses": straight, "step": ckpt["step"], "keys": sorted(ckpt["model"]),
    "missing_keys": list(missing.missing_keys), "optim_groups": [g["lr"] for g in ckpt["optim"]["param_groups"]],
    "sched_last_epoch": ckpt["sched"]["last_epoch"], "lr_after": resumed_opt.param_groups[0]["lr"],
    "weights": [p.detach() for p in resumed_model.parameters()],
}
