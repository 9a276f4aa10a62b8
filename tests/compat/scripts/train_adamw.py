"""A token classifier (Embedding, LayerNorm, GELU, Dropout(0)) trained with AdamW, gradient clipping and
label-smoothed cross-entropy with ignored positions; then Adam with amsgrad on the same model."""
import numpy as np

from _weights import init_from_numpy

nn, F = torch.nn, torch.nn.functional


class Tagger(nn.Module):
    def __init__(self, vocab=12, dim=16, classes=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.block = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 32), nn.GELU(), nn.Dropout(0.0),
                                   nn.Linear(32, dim))
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens):
        h = self.emb(tokens)
        return self.head(h + self.block(h))


gen = np.random.default_rng(4)
tokens = torch.tensor(gen.integers(0, 12, size=(8, 6)))
labels_np = gen.integers(0, 5, size=(8, 6))
labels_np[:, -1] = -100  # ignored positions
labels = torch.tensor(labels_np)

RESULTS = {}
for name, make_opt in {
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1),
    "adam_amsgrad": lambda ps: torch.optim.Adam(ps, lr=5e-3, amsgrad=True, weight_decay=1e-2),
}.items():
    model = init_from_numpy(torch, Tagger(), seed=5)
    opt = make_opt(model.parameters())
    losses, norms = [], []
    for step in range(12):
        opt.zero_grad()
        logits = model(tokens)
        loss = F.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), ignore_index=-100, label_smoothing=0.1)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], f"{name}: the loss did not go down"
    RESULTS[f"{name}_losses"] = losses
    RESULTS[f"{name}_grad_norms"] = norms
    RESULTS[f"{name}_weights"] = [p.detach() for p in model.parameters()]
    RESULTS[f"{name}_exp_avg_sq"] = opt.state_dict()["state"][0]["exp_avg_sq"]
