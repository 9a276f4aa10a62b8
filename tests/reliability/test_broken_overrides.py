"""Broken plugins and overrides: a registration that fails raises and leaves the dispatcher (kernel tables, op
table, Python bindings) exactly as it was; an override that fails when called raises from the call, and once
restored the op works as before. Also the GPU kernel library's registration, which needs no GPU."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor import _C


def _snapshot():
    """What the dispatcher holds: every op with its kernels per key, and the calls that show them working."""
    table = {op["name"]: tuple(op["kernels"]) for op in vt.library.op_table()}
    x = vt.tensor([1.0, -2.0, 3.0])
    return table, ((x * x).tolist(), vt.add(x, 1).tolist(), x.exp().tolist(), vt.ops.mul(x, 2.0).tolist())


def _same_as(before):
    table, results = _snapshot()
    assert table == before[0], {k: (before[0].get(k), v) for k, v in table.items() if before[0].get(k) != v}
    assert results == before[1]


@pytest.mark.parametrize("register, error, match", [
    (lambda: vt.library.impl("mul", "cpu", 42), TypeError, "must be callable"),
    (lambda: vt.library.impl("mul", "cpu")(None), TypeError, "must be callable"),
    (lambda: vt.library.impl("mul", "tpu", lambda a, b: a), ValueError, "unknown dispatch key"),
    (lambda: vt.library.impl("no_such_op", "cpu", lambda a: a), ValueError, "unknown op"),
    # wrong arity: registered, it would break every mul, C++ callers included (x * x boxes into Python)
    (lambda: vt.library.impl("mul", "cpu", lambda a: a), TypeError, r"cannot take the schema's arguments \(self, other\)"),
    (lambda: vt.library.impl("mul", "autograd", lambda a, b, c, d: a), TypeError, "cannot take"),
    (lambda: vt.library.define("rel::f(Tensor x -> Tensor"), ValueError, "bad schema"),
    (lambda: vt.library.define("rel::g(Tensor x, Blob y) -> Tensor"), ValueError, "unknown type 'Blob'"),
    (lambda: vt.library.define("add(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor"), ValueError,
     "already defined"),
])
def test_failed_registration_changes_nothing(register, error, match):
    before = _snapshot()
    with pytest.raises(error, match=match):
        register()
    _same_as(before)


def test_failing_override_raises_from_calls_and_restores_cleanly():
    before = _snapshot()
    x = vt.tensor([1.0, -2.0, 3.0])
    for broken, error in ((lambda a, b: 1 / 0, ZeroDivisionError), (lambda a, b: "nope", TypeError),
                          (lambda a, b: (a, b), TypeError), (lambda a, b: a.no_such_method(), AttributeError)):
        h = vt.library.impl("mul", "cpu", broken)
        try:
            for call in (lambda: x * x, lambda: vt.mul(x, x), lambda: x.mul(2.0)):
                with pytest.raises(error):
                    call()
            # ops that do not go through mul are untouched while it is broken
            assert vt.add(x, 1).tolist() == [2.0, -1.0, 4.0]
        finally:
            h.restore()
        _same_as(before)
    h.restore()  # a second restore is a no-op, not a second rollback
    _same_as(before)


def test_override_of_a_multi_output_op_returning_the_wrong_shape_of_result():
    name = vt.library.define("rel::pair(Tensor x) -> (Tensor a, Tensor b)")
    vt.library.impl(name, "cpu", lambda x: (x + 1, x - 1))
    good = vt.ops.rel_pair(vt.ones(2))
    h = vt.library.impl(name, "cpu", lambda x: (x,))
    with pytest.raises(TypeError, match="must return a tuple of 2"):
        vt.ops.rel_pair(vt.ones(2))
    h.restore()
    again = vt.ops.rel_pair(vt.ones(2))
    assert again.a.tolist() == good.a.tolist() == [2.0, 2.0] and again.b.tolist() == [0.0, 0.0]


def test_broken_gpu_kernel_registration_keeps_the_working_one():
    # Registration only stores the image (it is loaded on first launch), so this runs without a GPU.
    keys = set(_C._cuda.kernel_keys())
    with pytest.raises(ValueError, match="needs a cubin"):
        _C._cuda.register_kernel("rel|empty", "", b"", 4, 0, 0)
    assert set(_C._cuda.kernel_keys()) == keys
    _C._cuda.register_kernel("rel|k", "entry", b"\x7fELF good image", 4, 0, 0)
    _C._cuda.register_kernel("rel|k", "entry", b"garbage", 4, 0, 0)  # a second, broken compile of the same key
    assert set(_C._cuda.kernel_keys()) == keys | {"rel|k"}


def test_ops_still_work_after_many_failed_registrations():
    before = _snapshot()
    for i in range(200):
        with pytest.raises(TypeError):
            vt.library.impl("add", "cpu", lambda a: a)
        with pytest.raises(ValueError):
            vt.library.define(f"rel::bad{i}(Tensor x -> Tensor")
    _same_as(before)
    np.testing.assert_array_equal((vt.arange(4.0) + 1).numpy(), [1.0, 2.0, 3.0, 4.0])
