"""TensorDataset + DataLoader in an epoch loop: batching, drop_last, shuffling with a seeded generator, and
one epoch of training over the batches (the shuffled order differs between libraries' generators, so only
order-free facts about shuffled epochs are compared)."""
import numpy as np

from _weights import init_from_numpy

data = torch.utils.data
gen = np.random.default_rng(8)
features = torch.tensor(gen.normal(size=(50, 4)).astype(np.float32))
targets = torch.tensor(gen.normal(size=50).astype(np.float32))
ds = data.TensorDataset(features, targets, torch.arange(50))

ordered = data.DataLoader(ds, batch_size=16)
sizes = [len(idx) for _, _, idx in ordered]
sums = [xb.sum() for xb, _, _ in ordered]

shuffled = data.DataLoader(ds, batch_size=16, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(0))
epochs = [[i for _, _, idx in shuffled for i in idx.tolist()] for _ in range(2)]
for seen in epochs:
    assert len(seen) == 48 and len(set(seen)) == 48, "drop_last epoch must visit 48 distinct samples"
assert epochs[0] != epochs[1], "a seeded generator advances: epochs are ordered differently"

model = init_from_numpy(torch, torch.nn.Linear(4, 1), seed=9)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
losses = []
for xb, yb, _ in ordered:
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(xb).squeeze(1), yb)
    loss.backward()
    opt.step()
    losses.append(loss.item())

dict_batches = list(data.DataLoader([{"x": np.float32(i), "tag": f"s{i}"} for i in range(5)], batch_size=2))
RESULTS = {
    "len": [len(ordered), len(shuffled)], "sizes": sizes, "sums": sums, "losses": losses,
    "dict_x": [b["x"] for b in dict_batches], "dict_tags": [b["tag"] for b in dict_batches],
    "split_sizes": [len(s) for s in data.random_split(ds, [0.6, 0.4], generator=torch.Generator().manual_seed(1))],
}
