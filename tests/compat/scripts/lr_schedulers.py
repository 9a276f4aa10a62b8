"""Learning-rate schedules stepped like a training loop (optimizer.step, then scheduler.step)."""
torch_optim = torch.optim
sched = torch.optim.lr_scheduler


def run(make, steps=12, lr=0.1):
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch_optim.SGD([p], lr=lr)
    s = make(opt)
    lrs = []
    for _ in range(steps):
        p.grad = torch.ones(2)
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
    return lrs, p.detach()


RESULTS = {}
schedules = {
    "step": lambda o: sched.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda o: sched.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3),
    "exponential": lambda o: sched.ExponentialLR(o, gamma=0.9),
    "cosine": lambda o: sched.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
    "linear_warmup": lambda o: sched.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=4),
    "lambda": lambda o: sched.LambdaLR(o, lambda step: 1.0 / (1 + step)),
    "warmup_then_cosine": lambda o: sched.SequentialLR(
        o, [sched.LinearLR(o, start_factor=0.25, total_iters=3), sched.CosineAnnealingLR(o, T_max=9)],
        milestones=[3]),
}
for name, make in schedules.items():
    lrs, param = run(make)
    RESULTS[f"{name}_lrs"] = lrs
    RESULTS[f"{name}_param"] = param
