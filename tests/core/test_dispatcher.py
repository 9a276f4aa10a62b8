"""The dispatcher: one op table, kernels per key, Python kernels and overrides, lock-free calls under load."""
import threading

import numpy as np
import pytest

import vibetensor as vt
from vibetensor import _C


def test_every_op_has_a_cpu_kernel():
    missing = [op["name"] for op in vt.library.op_table()
               if "::" not in op["name"] and not ({"cpu", "composite"} & set(op["kernels"]))]
    assert not missing, f"ops without a CPU or composite kernel: {missing}"


def test_op_table_is_the_single_source():
    table = {op["name"]: op for op in vt.library.op_table()}
    add = table["add"]
    assert add["schema"].startswith("add(Tensor self, Tensor other") and add["function"] and add["method"]
    assert table["add_"]["inplace"] and table["add_"]["method"] and not table["add_"]["function"]
    assert table["view"]["view"] and not table["clone"]["view"]
    assert table["max.dim"]["base"] == "max"
    # every function in the table is exposed as vt.<name>, every method as Tensor.<name>
    for op in table.values():
        if op["function"] and "::" not in op["name"]:
            assert hasattr(vt, op["base"]), op["name"]
        if op["method"]:
            assert hasattr(vt.Tensor, op["base"]), op["name"]


def test_argument_parsing():
    x = vt.arange(6.0).view(2, 3)
    assert x.view(3, 2).shape == x.view((3, 2)).shape == x.view([3, 2]).shape == (3, 2)
    assert vt.transpose(x, 0, 1).shape == (3, 2) and vt.transpose(input=x, dim0=0, dim1=1).shape == (3, 2)
    assert vt.add(x, 1, alpha=2).tolist() == [[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]]
    assert vt.squeeze(x.unsqueeze(0), 0).shape == (2, 3)
    with pytest.raises(TypeError, match=r"add\(\): argument 'other' \(position 2\) must be Tensor, not str"):
        vt.add(x, "a")
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
        vt.add(x, x, beta=2)
    with pytest.raises(TypeError, match="missing required argument 'dim1'"):
        vt.transpose(x, 0)
    with pytest.raises(TypeError, match="got multiple values for argument 'dim0'"):
        vt.transpose(x, 0, 1, dim0=1)
    with pytest.raises(TypeError, match="takes 3 positional arguments but 4 were given"):
        vt.transpose(x, 0, 1, 2)
    with pytest.raises(TypeError, match="argument 'self'"):
        vt.exp(3.0)  # the first tensor argument must be a tensor
    with pytest.raises(TypeError, match="invalid combination of arguments. Expected one of"):
        vt.split(x, "a")


def test_define_and_call_python_op():
    name = vt.library.define("testlib::affine(Tensor x, float a, *, float b=0.0) -> Tensor")
    assert name == "testlib::affine"
    with pytest.raises(NotImplementedError, match="has no kernel for cpu"):
        vt.ops.testlib_affine(vt.ones(2), 2.0)
    h = vt.library.impl("testlib::affine", "cpu", lambda x, a, b: x * a + b)
    assert vt.ops.testlib_affine(vt.ones(2), 2.0, b=1.0).tolist() == [3.0, 3.0]
    h.restore()
    with pytest.raises(NotImplementedError):
        vt.ops.testlib_affine(vt.ones(2), 2.0)
    with pytest.raises(ValueError, match="already defined"):
        vt.library.define("testlib::affine(Tensor x) -> Tensor")
    with pytest.raises(ValueError, match="bad schema"):
        vt.library.define("testlib::broken(Tensor x -> Tensor")


def test_python_kernel_multiple_outputs_and_errors():
    vt.library.define("testlib::minmax(Tensor x) -> (Tensor lo, Tensor hi)")
    vt.library.impl("testlib::minmax", "composite", lambda x: (x - 1, x + 1))
    lo, hi = vt.ops.testlib_minmax(vt.tensor([5.0]))
    r = vt.ops.testlib_minmax(vt.tensor([5.0]))
    assert lo.tolist() == [4.0] and hi.tolist() == [6.0] and r.hi.tolist() == [6.0]
    vt.library.define("testlib::bad(Tensor x) -> Tensor")
    vt.library.impl("testlib::bad", "cpu", lambda x: "not a tensor")
    with pytest.raises(TypeError, match="Python kernel returned"):
        vt.ops.testlib_bad(vt.ones(1))
    vt.library.impl("testlib::bad", "cpu", lambda x: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        vt.ops.testlib_bad(vt.ones(1))


def test_override_reaches_typed_calls_and_restores():
    x = vt.tensor([1.0, 2.0])
    calls = []

    def my_mul(a, b):
        calls.append(1)
        return vt.ops.add(a, b)

    h = vt.library.impl("mul", "cpu", my_mul)
    try:
        assert (x * x).tolist() == [2.0, 4.0]  # the operator's typed (unboxed) call boxes into Python
        assert vt.mul(x, x).tolist() == [2.0, 4.0]  # the boxed Python path too
    finally:
        h.restore()
    assert len(calls) == 2 and (x * x).tolist() == [1.0, 4.0]
    with pytest.raises(ValueError, match="unknown dispatch key"):
        vt.library.impl("mul", "tpu", my_mul)
    with pytest.raises(ValueError, match="unknown op"):
        vt.library.impl("no_such_op", "cpu", my_mul)


def test_calls_take_no_lock():
    x = vt.ones(4)
    x + x  # resolve the handles first
    before = _C._dispatcher_lock_count()
    for _ in range(200):
        x + x
        x.exp()
        vt.clamp(x, min=0.5)
        x.view(2, 2)
    assert _C._dispatcher_lock_count() == before


def test_concurrent_calls_while_overriding():
    """Threads call an op while another thread keeps replacing its kernel: every call sees a whole kernel."""
    x = vt.arange(1000.0)
    native = (x + 1.0).numpy().copy()
    override = (x + 2.0).numpy().copy()
    errors, stop = [], threading.Event()

    def caller():
        try:
            while not stop.is_set():
                r = (x + 1.0).numpy()
                if not (np.array_equal(r, native) or np.array_equal(r, override)):
                    errors.append("torn result")
        except Exception as e:  # noqa: BLE001 - any failure is the test's failure
            errors.append(repr(e))

    def registrar():
        for _ in range(200):
            # a + b + 1 without calling add (the override itself): b is the Python float 1.0 here
            h = vt.library.impl("add", "cpu", lambda a, b, alpha: vt.ops.sub(vt.ops.sub(a, -1.0), -b))
            h.restore()

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    registrar()
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert np.array_equal((x + 1.0).numpy(), native)
