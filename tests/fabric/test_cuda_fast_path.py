"""CudaGroup's fast path (a collective issued again on tensors like the last ones repeats the launches the general
path prepared) and _C._cuda.prepare_launch, on CPU: the decisions of when to repeat and what, with stand-in
launches that record the addresses they get. The GPU runs of both: test_cuda_transport.py."""
from types import SimpleNamespace

import numpy as np
import pytest

import vibetensor as vt
from vibetensor import _C, fabric
from vibetensor.fabric.collectives.cuda_group import CudaGroup
from helpers import rng


def test_prepare_launch_checks_its_arguments_and_keeps_them():
    _C._cuda.register_kernel("test|prepared", "entry", b"\x7fELF image", 4, 0, 0)  # stored only, never loaded
    with pytest.raises(ValueError, match="first 2 arguments must be pointers"):
        _C._cuda.prepare_launch("test|prepared", (1, 1, 1), [("i32", 1), ("ptr", 0)])
    with pytest.raises(ValueError, match="first 2 arguments must be pointers"):
        _C._cuda.prepare_launch("test|prepared", (1, 1, 1), [("ptr", 0)])
    with pytest.raises(ValueError, match="kind must be ptr, i32, i64, f32 or f64, got 'u8'"):
        _C._cuda.prepare_launch("test|prepared", (1, 1, 1), [("ptr", 0), ("ptr", 0), ("u8", 1)])
    with pytest.raises(RuntimeError, match="no GPU kernel 'test|absent'"):
        _C._cuda.prepare_launch("test|absent", (1, 1, 1), [("ptr", 0), ("ptr", 0)])
    launch = _C._cuda.prepare_launch("test|prepared", (5, 2, 1), [("ptr", 64), ("ptr", 128), ("i64", 7)])
    assert launch.key == "test|prepared" and launch.grid == (5, 2, 1)
    with pytest.raises(RuntimeError):  # no GPU here; on one, the image is not a cubin: an error either way
        launch(1 << 20, 1 << 21)


def _group(size=2):
    """A CudaGroup's state that _keep and _fast read, without its GPU segments."""
    g = CudaGroup.__new__(CudaGroup)
    g.rank, g.size, g._links, g._plans, g._comm_busy = 0, size, {}, {}, False
    g._status = SimpleNamespace(words=np.zeros(4, np.int32), issued=[])
    g._status.note = g._status.issued.append
    return g


def test_fast_path_repeats_the_kept_launches_on_new_tensors():
    gen, g, calls = rng(), _group(), []
    launches = [lambda s, d: calls.append(("a", s, d)), lambda s, d: calls.append(("b", s, d))]
    src, dst = (vt.tensor(gen.standard_normal(n).astype(np.float32)) for n in (64, 32))
    assert not g._fast("reduce_scatter", "sum", "auto", src, dst)  # nothing kept yet
    g._keep("reduce_scatter", "sum", "auto", src, dst, launches, False, "oneshot", 256)
    fabric.observe.reset()
    seq = fabric.observe.last_seq()
    src2, dst2 = (vt.tensor(gen.standard_normal(n).astype(np.float32)) for n in (64, 32))
    assert g._fast("reduce_scatter", "sum", "auto", src2, dst2)
    assert calls == [(x, src2.data_ptr(), dst2.data_ptr()) for x in "ab"]
    events = fabric.observe.events(since=seq)
    assert [(e.kind, e.algorithm, e.nbytes) for e in events] == [("reduce_scatter", "oneshot", 256)]
    counters = fabric.counters()
    assert counters["reduce_scatter.oneshot.count"] == 1 and counters["link.1->0.bytes"] > 0
    assert g._status.issued == ["reduce_scatter"]


def test_average_divides_the_output_by_the_group_size():
    gen, g = rng(), _group(size=4)
    x = vt.tensor(gen.standard_normal(16).astype(np.float32))
    g._keep("all_reduce", "avg", "oneshot", x, x, [lambda s, d: None], False, "oneshot", 64)
    y = vt.tensor(gen.standard_normal(16).astype(np.float32))
    before = y.numpy().copy()
    assert g._fast("all_reduce", "avg", "oneshot", y, y)
    np.testing.assert_allclose(y.numpy(), before / 4, rtol=1e-6)


def test_fast_path_leaves_to_the_general_path_what_it_did_not_plan():
    gen, g, calls = rng(), _group(), []
    make = lambda *shape: vt.tensor(gen.standard_normal(shape).astype(np.float32))  # noqa: E731
    src, dst = make(8, 4), make(4, 4)
    g._keep("reduce_scatter", "sum", "auto", src, dst, [lambda s, d: calls.append(s)], False, "oneshot", 128)
    fast = lambda *a: g._fast("reduce_scatter", *a)  # noqa: E731
    assert not fast("sum", "auto", make(16, 2), make(8, 2))  # other shapes
    assert not fast("max", "auto", src, dst)  # another op
    assert not fast("sum", "twoshot", src, dst)  # another algorithm asked for
    assert not fast("sum", "auto", src.to(vt.bfloat16), dst.to(vt.bfloat16))  # another dtype
    assert not fast("sum", "auto", make(4, 8).t(), dst)  # not contiguous
    off = make(33).narrow(0, 1, 32)  # an address 4 bytes past an aligned one
    assert not fast("sum", "auto", off.view(8, 4), dst)
    assert not fast("sum", "auto", [src], dst)  # not tensors: the general path says what is wrong
    assert not fast({}, "auto", src, dst)  # an unhashable op, likewise
    g._comm_busy = True  # async work on the group's stream: the caller's stream must wait for it first
    assert not fast("sum", "auto", src, dst)
    g._comm_busy = False
    g._status.words[0] = 2  # a peer did not arrive: the general path raises
    assert not fast("sum", "auto", src, dst)
    g._status.words[0] = 0
    fabric.observe.device_timing(True)  # timing events go around the kernels
    try:
        assert not fast("sum", "auto", src, dst)
    finally:
        fabric.observe.device_timing(False)
    assert calls == []
    assert fast("sum", "auto", src, dst) and calls == [src.data_ptr()]


def test_keep_files_only_what_can_be_repeated():
    gen, g = rng(), _group()
    x = vt.tensor(gen.standard_normal(32).astype(np.float32))
    g._keep("all_reduce", "sum", "ring", x, x, None, False, "ring", 128)  # the ring: many kernels, nothing kept
    g._keep("all_reduce", "sum", "auto", x, x, [lambda s, d: None], True, "oneshot", 128)  # async
    t = vt.tensor(gen.standard_normal((4, 8)).astype(np.float32)).t()
    g._keep("all_reduce", "sum", "auto", t, t, [lambda s, d: None], False, "oneshot", 128)  # copied in and out
    off = vt.tensor(gen.standard_normal(33).astype(np.float32)).narrow(0, 1, 32)
    g._keep("all_reduce", "sum", "auto", off, off, [lambda s, d: None], False, "twoshot", 128)  # vector width
    assert g._plans == {}
    for n in range(1, 70):  # a sweep over many shapes starts over instead of growing without end
        y = vt.tensor(gen.standard_normal(n).astype(np.float32))
        g._keep("all_reduce", "sum", "auto", y, y, [lambda s, d: None], False, "oneshot", 4 * n)
        assert 1 <= len(g._plans) <= 64
