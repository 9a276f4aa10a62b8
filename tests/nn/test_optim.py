"""Optimisers and schedules step for step against torch, and their state round trips."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng, torch




def run_both(make_v, make_t, steps=5):
    gen = rng()
    init = [gen.normal(size=(3, 4)), gen.normal(size=(4,))]
    grads = [[gen.normal(size=a.shape) for a in init] for _ in range(steps)]
    vp = [vt.nn.Parameter(vt.tensor(a)) for a in init]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    vo, to = make_v(vp), make_t(tp)
    for gs in grads:
        for p, g in zip(vp, gs):
            p.grad = vt.tensor(g)
        for p, g in zip(tp, gs):
            p.grad = torch.tensor(g)
        vo.step()
        to.step()
    for a, b in zip(vp, tp):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    return vo, to, vp


@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, nesterov=True),
                                dict(lr=0.05, momentum=0.5, dampening=0.1, weight_decay=0.01)])
@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_sgd(kw):
    run_both(lambda p: vt.optim.SGD(p, **kw), lambda p: torch.optim.SGD(p, **kw))


@pytest.mark.parametrize("cls,kw", [("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
                                    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.3))])
@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_adam_family(cls, kw):
    run_both(lambda p: getattr(vt.optim, cls)(p, **kw), lambda p: getattr(torch.optim, cls)(p, **kw))


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_optimizer_state_dict_round_trip():
    vo, _, vp = run_both(lambda p: vt.optim.AdamW(p, lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01), steps=3)
    sd = vo.state_dict()
    assert sorted(sd["state"]) == [0, 1] and sd["param_groups"][0]["params"] == [0, 1]
    other = vt.optim.AdamW([vt.nn.Parameter(p.detach().clone()) for p in vp], lr=0.5)
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 0.01
    m0 = list(other.state.values())[0]["exp_avg"]
    np.testing.assert_array_equal(m0.numpy(), list(vo.state.values())[0]["exp_avg"].numpy())
    with pytest.raises(ValueError, match="doesn't match the size"):
        vt.optim.AdamW([vt.nn.Parameter(vt.ones(1))]).load_state_dict(sd)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_schedulers_match_torch():
    def sched_pair(make_v, make_t, n=12):
        vo = vt.optim.SGD([vt.nn.Parameter(vt.ones(1))], lr=1.0)
        to = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
        vs, ts = make_v(vo), make_t(to)
        got, want = [], []
        for _ in range(n):
            got.append(vo.param_groups[0]["lr"])
            want.append(to.param_groups[0]["lr"])
            vo.step()
            to.step()
            vs.step()
            ts.step()
        np.testing.assert_allclose(got, want, rtol=1e-12)

    sched_pair(lambda o: vt.optim.lr_scheduler.StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5))
    sched_pair(lambda o: vt.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.1),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.1))
    sched_pair(lambda o: vt.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 4),
               lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 4))
    sched_pair(lambda o: vt.optim.lr_scheduler.LambdaLR(o, lambda s: 1 / (s + 1)),
               lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1 / (s + 1)))
    sched_pair(lambda o: vt.optim.lr_scheduler.SequentialLR(
        o, [vt.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 3), vt.optim.lr_scheduler.CosineAnnealingLR(o, 8)], [3]),
        lambda o: torch.optim.lr_scheduler.SequentialLR(
            o, [torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 3), torch.optim.lr_scheduler.CosineAnnealingLR(o, 8)], [3]))


def test_optimizer_bad_input():
    with pytest.raises(ValueError, match="empty parameter list"):
        vt.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        vt.optim.SGD([vt.ones(2, requires_grad=True) * 2], lr=0.1)
    with pytest.raises(ValueError, match="Invalid"):
        vt.optim.Adam([vt.nn.Parameter(vt.ones(1))], lr=-1)


def test_lambda_scheduler_state_dict_can_be_saved_and_resumed():
    # Regression: LambdaLR.state_dict() held the lambdas themselves, so pickling a checkpoint failed.
    import pickle

    class Halving:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, epoch):
            return self.rate ** epoch

    def make():
        opt = vt.optim.SGD([vt.nn.Parameter(vt.ones(1))], lr=1.0)
        return opt, vt.optim.lr_scheduler.LambdaLR(opt, [Halving()])

    opt, sched = make()
    sched.lr_lambdas[0].rate = 0.25
    for _ in range(3):
        sched.step()
    state = pickle.loads(pickle.dumps(sched.state_dict()))
    assert state["lr_lambdas"] == [{"rate": 0.25}] and state["last_epoch"] == 3
    opt2, sched2 = make()
    sched2.load_state_dict(state)
    sched2.step()
    assert sched2.lr_lambdas[0].rate == 0.25 and opt2.param_groups[0]["lr"] == 0.25 ** 4
    plain = vt.optim.lr_scheduler.LambdaLR(vt.optim.SGD([vt.nn.Parameter(vt.ones(1))], lr=1.0), lambda e: 0.9 ** e)
    assert pickle.loads(pickle.dumps(plain.state_dict()))["lr_lambdas"] == [None]
    plain.load_state_dict(plain.state_dict())
    assert callable(plain.lr_lambdas[0])


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    vt.manual_seed(0)
    model = vt.nn.Sequential(vt.nn.Linear(4, 8), vt.nn.GELU(), vt.nn.Linear(8, 2))
    opt = vt.optim.AdamW(model.parameters(), lr=0.01)
    x = vt.randn(16, 4)
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    path = str(tmp_path / "ckpt.safetensors")
    vt.checkpoint.save(path, model=model, optimizer=opt, extra={"step": 3})
    model2 = vt.nn.Sequential(vt.nn.Linear(4, 8), vt.nn.GELU(), vt.nn.Linear(8, 2))
    opt2 = vt.optim.AdamW(model2.parameters(), lr=0.5)
    assert vt.checkpoint.load(path, model=model2, optimizer=opt2) == {"step": 3}
    for a, b in zip(model.parameters(), model2.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    # one more step on both: identical to the bit
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    with pytest.raises(ValueError, match="no optimizer state"):
        vt.save_file(model.state_dict(), path)
        vt.checkpoint.load(path, optimizer=opt2)


def test_pytorch_implementation_flags_are_accepted():
    # Scripts pass foreach=/fused=/capturable= (nanoGPT: fused=True where available); they choose among
    # implementations of the same update, so they are recorded and the result is unchanged.
    p = [vt.nn.Parameter(vt.ones(2))]
    for cls, kw in [(vt.optim.SGD, dict(foreach=False)), (vt.optim.Adam, dict(fused=True, capturable=True)),
                    (vt.optim.AdamW, dict(foreach=True))]:
        group = cls(p, lr=0.1, **kw).param_groups[0]
        assert all(group[k] == v for k, v in kw.items()) and group["differentiable"] is False
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        vt.optim.AdamW(p, differentiable=True)
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        vt.optim.SGD(p, lr=0.1, foreach=True, fused=True)
    if torch is not None:  # the same parameter-group keys as PyTorch's
        for name in ("SGD", "Adam", "AdamW"):
            mine = getattr(vt.optim, name)(p, lr=0.1).param_groups[0]
            theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], lr=0.1).param_groups[0]
            assert sorted(mine) == sorted(theirs), name


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_adam_with_decoupled_weight_decay_is_adamw():
    kw = dict(lr=0.01, weight_decay=0.2)
    run_both(lambda p: vt.optim.Adam(p, decoupled_weight_decay=True, **kw), lambda p: torch.optim.AdamW(p, **kw))
