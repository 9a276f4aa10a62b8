"""A small nn.Module regression trained with SGD (momentum, Nesterov, weight decay) for a few steps."""
import numpy as np

from _weights import init_from_numpy

nn, F = torch.nn, torch.nn.functional


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(16, 1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))).squeeze(-1)


gen = np.random.default_rng(2)
x = torch.tensor(gen.normal(size=(64, 6)).astype(np.float32))
y = torch.tensor(np.sin(gen.normal(size=64)).astype(np.float32))

RESULTS = {}
for name, kwargs in {"plain": dict(lr=0.05), "momentum": dict(lr=0.05, momentum=0.9, weight_decay=1e-3),
                     "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True)}.items():
    model = init_from_numpy(torch, MLP(), seed=3)
    opt = torch.optim.SGD(model.parameters(), **kwargs)
    losses = []
    for step in range(15):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], f"{name}: SGD did not reduce the loss"
    RESULTS[f"{name}_losses"] = losses
    RESULTS[f"{name}_weights"] = [p.detach() for p in model.parameters()]
