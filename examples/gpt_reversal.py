"""A small GPT learns to reverse sequences: given ``a b c ... | `` it must continue with ``... c b a``.

Token and position embeddings, pre-LayerNorm blocks of causal multi-head self-attention (through
``F.scaled_dot_product_attention(is_causal=True)``) and a GELU MLP, a head tied to the token embedding,
AdamW with warmup + cosine decay and cross-entropy on the reversed half only. The same code runs on
vibetensor or PyTorch: it only touches the `torch` module it is given.

    python examples/gpt_reversal.py                          # vibetensor.torch
    python examples/gpt_reversal.py --backend torch          # PyTorch, same data and initial weights
    python examples/gpt_reversal.py --steps 600 --threads 2
"""
import argparse
import dataclasses
import math
import time

import numpy as np

from torchlike import init_from_numpy, load_backend, set_threads

IGNORE = -100


@dataclasses.dataclass
class Config:
    symbols: int = 16       # content tokens 0..symbols-1; token `symbols` is the separator (vocab = symbols + 1)
    length: int = 8         # content length: a training row is 2 * length tokens
    d_model: int = 48
    heads: int = 4
    layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = True
    batch: int = 32
    steps: int = 400
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 0        # 0: the library's default

    @property
    def vocab(self):
        return self.symbols + 1

    @property
    def block(self):
        return 2 * self.length


def make_model(torch, cfg):
    """Builds the GPT's classes on `torch` (so the module tree is the same in both libraries)."""
    nn, F = torch.nn, torch.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
            self.proj = nn.Linear(cfg.d_model, cfg.d_model)
            self.drop = nn.Dropout(cfg.dropout)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).split(C, dim=2)
            q, k, v = (t.reshape(B, T, cfg.heads, C // cfg.heads).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=cfg.dropout if self.training else 0.0)
            return self.drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(cfg.d_model)
            self.attn = CausalSelfAttention()
            self.ln2 = nn.LayerNorm(cfg.d_model)
            self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
                                     nn.Linear(4 * cfg.d_model, cfg.d_model), nn.Dropout(cfg.dropout))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_emb = nn.Embedding(cfg.vocab, cfg.d_model)
            self.pos_emb = nn.Embedding(cfg.block, cfg.d_model)
            self.drop = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList([Block() for _ in range(cfg.layers)])
            self.ln_f = nn.LayerNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, cfg.vocab, bias=False)
            if cfg.tie_weights:
                self.head.weight = self.tok_emb.weight

        def forward(self, idx):
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

    return GPT()


def make_batch(gen, cfg, batch):
    """(inputs, targets) as numpy int64: a row is ``content, SEP, reversed content`` shifted by one, and only
    the positions that predict the reversed half carry a target."""
    content = gen.integers(0, cfg.symbols, size=(batch, cfg.length))
    seq = np.concatenate([content, np.full((batch, 1), cfg.symbols), content[:, ::-1]], axis=1)
    inputs, targets = seq[:, :-1].copy(), seq[:, 1:].copy()
    targets[:, :cfg.length - 1] = IGNORE  # predicting the random content itself is not the task
    return inputs, targets


def lr_lambda(cfg):
    def factor(step):
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def build(torch, cfg, device="cpu"):
    """Model (numpy-seeded weights) on `device`, optimizer and schedule: identical starting points in both
    libraries."""
    model = init_from_numpy(torch, make_model(torch, cfg), cfg.seed + 1, std=0.02).to(device)
    opt = make_optimizer(torch, model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    return model, opt, sched


def make_optimizer(torch, model, cfg):
    """AdamW with weight decay on the matrices only (not on biases and norm weights)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))


def train_step(torch, model, opt, inputs, targets):
    """One step (forward, backward, AdamW update); returns the loss tensor."""
    logits = model(inputs)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def exact_match(torch, model, cfg, gen, n=256):
    """Fraction of fresh sequences whose reversal greedy decoding gets entirely right."""
    inputs, _ = make_batch(gen, cfg, n)
    idx = torch.tensor(inputs[:, :cfg.length + 1], device=next(model.parameters()).device)
    model.eval()
    with torch.no_grad():
        for _ in range(cfg.length):
            nxt = model(idx)[:, -1].argmax(-1, keepdim=True)
            idx = torch.cat([idx, nxt], dim=1)
    model.train()
    got = np.asarray(idx[:, cfg.length + 1:].tolist())
    return float((got == inputs[:, :cfg.length][:, ::-1]).all(axis=1).mean())


def train(torch, cfg=None, log_every=0):
    """Trains on `torch` (PyTorch or vibetensor.torch); returns per-step losses and greedy exact-match."""
    cfg = cfg or Config()
    set_threads(torch, cfg.threads)
    model, opt, sched = build(torch, cfg)
    gen = np.random.default_rng(cfg.seed + 2)  # batches from numpy: identical in both libraries
    losses, start = [], time.perf_counter()
    for step in range(cfg.steps):
        inputs, targets = make_batch(gen, cfg, cfg.batch)
        loss = train_step(torch, model, opt, torch.tensor(inputs), torch.tensor(targets))
        sched.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == cfg.steps - 1):
            print(f"step {step:4d}  loss {losses[-1]:.4f}  lr {sched.get_last_lr()[0]:.2e}")
    seconds = time.perf_counter() - start
    accuracy = exact_match(torch, model, cfg, np.random.default_rng(cfg.seed + 3))
    return {"losses": losses, "exact_match": accuracy, "seconds": seconds, "model": model}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["vibetensor", "torch"], default="vibetensor")
    for field in dataclasses.fields(Config):
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if field.type is bool else field.type
        p.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=field.default)
    args = p.parse_args(argv)
    cfg = Config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Config)})
    out = train(load_backend(args.backend), cfg, log_every=50)
    print(f"{args.backend}: final loss {out['losses'][-1]:.4f}, exact-match reversal {out['exact_match']:.3f}, "
          f"{cfg.steps} steps in {out['seconds']:.2f} s")
    return out


if __name__ == "__main__":
    main()
