"""Model code in the style of nanoGPT: ModuleDict/ModuleList trees, a registered causal-mask buffer,
`self.apply(init)`, an lm_head tied into the embedding, AdamW parameter groups, gradient clipping,
top-k masking through boolean-index assignment, and a checkpoint round trip. Data and weights from numpy."""
import inspect
import math

import numpy as np

from _weights import init_from_numpy

nn, F = torch.nn, torch.nn.functional
VOCAB, BLOCK, EMBD, HEADS, LAYERS = 20, 12, 32, 2, 2


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(EMBD, 3 * EMBD, bias=False)
        self.c_proj = nn.Linear(EMBD, EMBD, bias=False)
        self.register_buffer("bias", torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = (t.view(B, T, HEADS, C // HEADS).transpose(1, 2) for t in self.c_attn(x).split(EMBD, dim=2))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = F.softmax(att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf")), dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(EMBD), CausalSelfAttention(), nn.LayerNorm(EMBD)
        self.mlp = nn.Sequential(nn.Linear(EMBD, 4 * EMBD), nn.GELU(approximate="tanh"), nn.Linear(4 * EMBD, EMBD))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, EMBD), wpe=nn.Embedding(BLOCK, EMBD),
            h=nn.ModuleList([Block() for _ in range(LAYERS)]), ln_f=nn.LayerNorm(EMBD)))
        self.lm_head = nn.Linear(EMBD, VOCAB, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        t = idx.size(1)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(0, t, dtype=torch.long, device=idx.device))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


model = init_from_numpy(torch, GPT(), seed=12, scale=0.05)
for m in model.modules():
    if isinstance(m, nn.LayerNorm):
        torch.nn.init.ones_(m.weight)
        torch.nn.init.zeros_(m.bias)
n_params = sum(p.numel() for p in model.parameters())
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
extra = dict(fused=False) if "fused" in inspect.signature(torch.optim.AdamW).parameters else {}
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=1e-2, betas=(0.9, 0.95), **extra)
gen = np.random.default_rng(13)
successor = gen.permutation(VOCAB)  # a learnable stream: each token determines the next
data = np.zeros(400, dtype=np.int64)
for i in range(1, len(data)):
    data[i] = successor[data[i - 1]] if gen.uniform() > 0.1 else gen.integers(0, VOCAB)
losses = []
for it in range(15):
    ix = gen.integers(0, len(data) - BLOCK - 1, size=6)
    x = torch.tensor(np.stack([data[i:i + BLOCK] for i in ix]))
    y = torch.tensor(np.stack([data[i + 1:i + BLOCK + 1] for i in ix]))
    _, loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    losses.append(loss.item())

with torch.no_grad():
    logits, _ = model(torch.tensor(data[:BLOCK]).view(1, BLOCK))
    logits = logits[:, -1, :]
    v, _ = torch.topk(logits, 5)
    logits[logits < v[:, [-1]]] = -float("Inf")
    probs = F.softmax(logits, dim=-1)

assert losses[-1] < losses[0], "nanoGPT-style training did not reduce the loss"
state = model.state_dict()
RESULTS = {"n_params": n_params, "losses": losses, "probs": probs, "kept": (probs > 0).sum().item(),
           "tied": float(model.lm_head.weight is model.transformer.wte.weight),
           "state_keys": sorted(state), "mask_buffer": state["transformer.h.0.attn.bias"]}
