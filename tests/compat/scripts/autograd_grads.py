"""Autograd as scripts use it: backward, leaf grads and their accumulation, autograd.grad (double backward),
retain_graph, no_grad/detach, hooks, retain_grad and a custom Function."""
import numpy as np

gen = np.random.default_rng(1)
x = torch.tensor(gen.normal(size=(3, 4)).astype(np.float32), requires_grad=True)
w = torch.tensor(gen.normal(size=(4, 2)).astype(np.float32), requires_grad=True)
b = torch.zeros(2, requires_grad=True)

h = torch.tanh(x @ w + b)
h.retain_grad()
loss = (h ** 2).mean() + 0.1 * w.abs().sum()
loss.backward(retain_graph=True)
first = [x.grad.clone(), w.grad.clone(), b.grad.clone(), h.grad.clone()]
loss.backward()  # accumulates into the leaves
accumulated = [x.grad, w.grad]

# autograd.grad with create_graph: gradient of a gradient (elementwise and matmul families).
y = torch.tensor(gen.uniform(0.5, 2.0, size=5).astype(np.float32), requires_grad=True)
f = (y.exp() * y.sin() + y ** 3 / y.sqrt()).sum()
(dy,) = torch.autograd.grad(f, y, create_graph=True)
(d2y,) = torch.autograd.grad(dy.sum(), y)
m = torch.tensor(gen.normal(size=(3, 3)).astype(np.float32), requires_grad=True)
(dm,) = torch.autograd.grad((m @ m).pow(2).sum(), m, create_graph=True)
(d2m,) = torch.autograd.grad(dm.sum(), m)

# no_grad and detach cut the graph; hooks see and change gradients.
with torch.no_grad():
    frozen = x * 2
z = torch.tensor(gen.normal(size=4).astype(np.float32), requires_grad=True)
seen = []
z.register_hook(lambda g: seen.append(g.clone()) or g * 10)
(z.detach() * 5 + z * 3).sum().backward()


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inp):
        ctx.save_for_backward(inp)
        return inp ** 3

    @staticmethod
    def backward(ctx, grad_out):
        (inp,) = ctx.saved_tensors
        return 3 * inp ** 2 * grad_out


c = torch.tensor(gen.normal(size=6).astype(np.float32), requires_grad=True)
Cube.apply(c).sum().backward()

# Non-scalar backward with an explicit gradient.
v = torch.tensor(gen.normal(size=3).astype(np.float32), requires_grad=True)
(v * v).backward(torch.tensor([1.0, 0.5, -2.0]))

RESULTS = {
    "loss": loss, "first": first, "accumulated": accumulated, "dy": dy, "d2y": d2y, "dm": dm, "d2m": d2m,
    "frozen_requires_grad": float(frozen.requires_grad), "z_grad": z.grad, "hook_saw": seen,
    "cube_grad": c.grad, "v_grad": v.grad, "is_leaf": [float(x.is_leaf), float(h.is_leaf)],
}
