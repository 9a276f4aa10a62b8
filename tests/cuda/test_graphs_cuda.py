"""CUDA graphs: capture, replay on new inputs, private memory pools, refusing syncs, a whole training step."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng

pytestmark = pytest.mark.cuda


def randn(*shape):
    return vt.tensor(rng().standard_normal(shape).astype(np.float32)).cuda()


def test_replay_reads_new_inputs_and_overwrites_outputs():
    x = randn(1000)
    (x * 2 + 1).sin()  # warm-up: kernels are compiled before the capture
    g = vt.cuda.CUDAGraph()
    with vt.cuda.graph(g):
        y = (x * 2 + 1).sin()
    assert g.num_nodes >= 3
    for _ in range(3):
        new = randn(1000)
        x.copy_(new)
        g.replay()
        np.testing.assert_allclose(y.cpu().numpy(), np.sin(new.cpu().numpy() * 2 + 1), rtol=1e-5, atol=1e-6)


def test_private_pool_and_reset():
    x = randn(1 << 20)
    (x + 1) * 3
    before = vt.cuda.memory_allocated()
    g = vt.cuda.CUDAGraph()
    with vt.cuda.graph(g):
        t = x + 1
        y = t * 3
        del t  # freed inside the capture: its block stays in the graph's pool
    assert vt.cuda.memory_allocated() > before
    segs = [s for s in vt.cuda.memory_snapshot() if s["stream"] & 1]  # pool segments carry an odd tag
    assert segs, "capture allocations must come from a private pool"
    x.fill_(2.0)
    g.replay()
    assert y.cpu().tolist()[:3] == [9.0, 9.0, 9.0]
    g.reset()
    del y
    vt.cuda.empty_cache()
    assert not [s for s in vt.cuda.memory_snapshot() if s["stream"] & 1]


def test_sync_inside_capture_raises_and_runtime_survives():
    x = randn(10)
    x + 1
    g = vt.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="captured"):
        with vt.cuda.graph(g):
            y = x + 1
            y.sum().item()
    assert not vt.cuda.is_current_stream_capturing()
    with pytest.raises(RuntimeError, match="nothing was captured"):
        g.replay()
    np.testing.assert_allclose((x + 1).cpu().numpy(), x.cpu().numpy() + 1)  # still usable
    with pytest.raises(RuntimeError, match="default stream"):
        g.capture_begin()  # the current stream is the default one here
    with pytest.raises(ValueError, match="capture_error_mode"):
        with vt.cuda.graph(vt.cuda.CUDAGraph(), capture_error_mode="loose"):
            pass


def test_shared_pool_between_graphs():
    x = randn(256)
    x * 2
    g1, g2 = vt.cuda.CUDAGraph(), vt.cuda.CUDAGraph()
    with vt.cuda.graph(g1):
        a = x * 2
    with vt.cuda.graph(g2, pool=g1.pool()):
        b = a + 1
    x.fill_(1.5)
    g1.replay()
    g2.replay()
    assert b.cpu().tolist()[:2] == [4.0, 4.0]


def _model_and_opt(seed):
    vt.manual_seed(seed)
    model = vt.nn.Sequential(vt.nn.Linear(32, 64), vt.nn.GELU(), vt.nn.Linear(64, 4)).cuda()
    return model, vt.optim.Adam(model.parameters(), lr=1e-2)


def test_whole_training_step_replays_like_eager():
    data = [(randn(16, 32), vt.tensor(rng().integers(0, 4, 16)).cuda()) for _ in range(6)]
    eager, eopt = _model_and_opt(0)
    graphed, gopt = _model_and_opt(0)

    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad(set_to_none=False)
            loss = vt.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.detach()
        return step

    estep = make_step(eager, eopt)
    for _ in range(3):  # make_graphed_step's warm-up runs are real steps on the sample
        estep(*data[0])
    g = vt.cuda.make_graphed_step(make_step(graphed, gopt), data[0], warmup_iters=3)
    for x, y in data[1:]:
        want = estep(x, y)
        got = g(x, y)
        np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy(), rtol=1e-4, atol=1e-5)
    for pe, pg in zip(eager.parameters(), graphed.parameters()):
        np.testing.assert_allclose(pg.detach().cpu().numpy(), pe.detach().cpu().numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="captured for shape"):
        g(randn(8, 32), data[0][1])


def test_random_ops_draw_fresh_numbers_on_every_replay():
    """Captured random kernels read seed and offset from the graph's slot, refreshed before each replay:
    replays differ from each other, follow vt.cuda.manual_seed, and match eager draws from the same state."""
    x = vt.ones(4096, device="cuda")
    vt.nn.functional.dropout(x, 0.5) + vt.rand(4096, device="cuda")  # warm-up compiles the kernels
    g = vt.cuda.CUDAGraph()
    with vt.cuda.graph(g):
        y = vt.nn.functional.dropout(x, 0.5) + vt.rand(4096, device="cuda")
    vt.cuda.manual_seed(7)
    g.replay()
    first = y.cpu().numpy().copy()
    g.replay()
    second = y.cpu().numpy().copy()
    assert not np.array_equal(first, second)
    kept = (first >= 1.0).mean()  # dropout keeps half and doubles them (2 + u >= 1), drops to 0 + u < 1
    assert 0.45 < kept < 0.55
    vt.cuda.manual_seed(7)
    g.replay()
    np.testing.assert_array_equal(y.cpu().numpy(), first)
    vt.cuda.manual_seed(7)  # the same draws eagerly: replay advances the generator as the eager run does
    eager = (vt.nn.functional.dropout(x, 0.5) + vt.rand(4096, device="cuda")).cpu().numpy()
    np.testing.assert_array_equal(eager, first)


FACTORIES = [  # (call, kwargs): arange, linspace and eye as models call them, each value checked against CPU
    (lambda **k: vt.arange(7, **k), {}), (lambda **k: vt.arange(-3, 11, 4, **k), {}),
    (lambda **k: vt.arange(5, -6, -2, **k), {}), (lambda **k: vt.arange(0, 1, 0.1, **k), {}),
    (lambda **k: vt.arange(2.5, -1, -0.3, **k), {"dtype": vt.float64}),
    (lambda **k: vt.arange(9, **k), {"dtype": vt.bfloat16}),
    (lambda **k: vt.arange(0, 3.7, 0.5, **k), {"dtype": vt.int32}), (lambda **k: vt.arange(0, **k), {}),
    (lambda **k: vt.linspace(-1, 1, 9, **k), {}), (lambda **k: vt.linspace(0.1, 2.3, 1000, **k), {"dtype": vt.float64}),
    (lambda **k: vt.linspace(3, 3, 1, **k), {}), (lambda **k: vt.linspace(0, 1, 0, **k), {}),
    (lambda **k: vt.eye(4, **k), {}), (lambda **k: vt.eye(2, 5, **k), {"dtype": vt.int64}),
    (lambda **k: vt.eye(0, **k), {}),
]


def test_factories_run_on_the_device_and_can_be_captured():
    """arange/linspace/eye on CUDA give the CPU factories' values bit for bit, without a host copy: so they run
    inside a capture (a host-to-device copy would be a refused sync) and a replay rewrites them."""
    want = [f(**k) for f, k in FACTORIES]
    eager = [f(device="cuda", **k) for f, k in FACTORIES]
    g = vt.cuda.CUDAGraph()
    with vt.cuda.graph(g):
        captured = [f(device="cuda", **k) for f, k in FACTORIES]
    for t in captured:
        t.zero_()  # after capture, before replay: the replay must write every value again
    g.replay()
    vt.cuda.synchronize()
    for w, e, c in zip(want, eager, captured):
        assert e.dtype == w.dtype == c.dtype and e.shape == w.shape == c.shape
        np.testing.assert_array_equal(e.cpu().to(vt.float64).numpy(), w.to(vt.float64).numpy())
        np.testing.assert_array_equal(c.cpu().to(vt.float64).numpy(), w.to(vt.float64).numpy())
    with pytest.raises(ValueError, match="step must be nonzero"):
        vt.arange(0, 4, 0, device="cuda")
    with pytest.raises(ValueError, match="non-negative"):
        vt.linspace(0, 1, -1, device="cuda")
