"""Tensor math a training script does: factories, broadcasting, reductions, matmul, softmax, indexing, joins.

Runs against the module-level `torch` the harness injects (PyTorch or vibetensor.torch) and leaves what it
computed in RESULTS; the harness compares the two libraries' RESULTS.
"""
import numpy as np

gen = np.random.default_rng(0)
a_np = gen.normal(size=(4, 5)).astype(np.float32)
b_np = gen.normal(size=(5, 3)).astype(np.float32)
a, b = torch.tensor(a_np), torch.from_numpy(b_np)
batch = torch.tensor(gen.normal(size=(2, 4, 5)).astype(np.float32))
idx = torch.tensor([3, 0, 2])

RESULTS = {
    "arith": (a * 2 - 1) / 3 + a ** 2,
    "broadcast": a + torch.arange(5, dtype=torch.float32),
    "unary": torch.stack([a.exp(), torch.tanh(a), a.sigmoid(), a.abs().sqrt(), torch.relu(a), a.clamp(-0.5, 0.5)]),
    "sum_mean": torch.stack([a.sum(), a.mean(), a.sum(0).sum(), a.mean(dim=1, keepdim=True).sum()]),
    "max_argmax": [a.max().item(), a.argmax().item(), a.max(dim=1).values, a.argmax(dim=0), a.min(1)[1]],
    "std_var": torch.stack([a.std(), a.var(dim=0).sum(), a.std(dim=1, unbiased=False).mean()]),
    "matmul": a @ b,
    "bmm": torch.bmm(batch, b.unsqueeze(0).expand(2, 5, 3)),
    "matmul_broadcast": torch.matmul(batch, b),
    "softmax": torch.softmax(a, dim=-1),
    "log_softmax": a.log_softmax(dim=0),
    "logsumexp": torch.logsumexp(a, dim=1),
    "cumsum": a.cumsum(dim=1),
    "index": [a[1], a[:, 2], a[1:3, ::2], a[idx], a[a > 0.5].sum()],
    "where": torch.where(a > 0, a, torch.zeros_like(a)),
    "masked_fill": a.masked_fill(a < 0, -1.0),
    "cat": torch.cat([a, a * 2], dim=0),
    "views": [a.t().contiguous().view(-1), a.reshape(2, 10), a.permute(1, 0), a.unsqueeze(0).squeeze(0),
              a.flatten()],
    "gather": a.gather(1, torch.tensor([[0], [1], [2], [3]])),
    "topk": a.topk(2, dim=1).values,
    "sort": a.sort(dim=1).values,
    "compare": [(a > 0).float().sum(), (a == a).all(), torch.eq(a, b[0, 0]).any()],
    "dtypes": [a.long(), (a * 100).int(), a.double().sum(), a.half().float(), a.to(torch.float64).mean()],
    "tril": torch.ones(4, 4).tril(),
    "one_hot_like": torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), 4),
    "norm": [a.norm(), a.norm(dim=1)],
    "split": list(a.split(2, dim=0)) + list(torch.chunk(a, 5, dim=1)),
    "inplace": a.clone().mul_(2).add_(1).clamp_(max=2.0),
    "shape": [list(a.shape), a.size(1), a.dim(), a.numel()],
}
