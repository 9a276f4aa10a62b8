"""Random op calls through the public API (fuzz_op_table.py): each one either matches the float64 numpy
reference, with PyTorch's result dtype, or raises TypeError/ValueError/IndexError/RuntimeError; the process
survives all of them, and the CPU allocator's live bytes are back where they started afterwards.

CI runs a derandomised few hundred calls; `-m long` runs thousands with fresh randomness.
"""
import collections
import gc
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

import vibetensor as vt
from fuzz_inputs import Spec, numpy_dtype, to_torch, to_vt, vt_to_numpy
from fuzz_op_table import CASES
from helpers import TOLERANCES, round_to

ALLOWED = (TypeError, ValueError, IndexError, RuntimeError)  # RuntimeError covers NotImplementedError and OOM
TALLY = collections.Counter()  # outcome counts, printed for the closing figures
REFUSED = collections.Counter()  # ops that raised on a call PyTorch accepts


def _convert(arg, lib):
    if isinstance(arg, Spec):
        return to_vt(arg) if lib is vt else to_torch(arg)
    return arg


def _call(case, lib, wrap_numbers=False):
    args = [_convert(a, lib) for a in case.args]
    if wrap_numbers:  # as 0-d tensors of the dtype a wrapped number promotes to, so promotion is unchanged
        first = next(a for a in args if isinstance(a, torch.Tensor))
        args = [torch.tensor(a, dtype=torch.result_type(first, a)) if type(a) in (bool, int, float) else a
                for a in args]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return args, case.call(lib, *args), None
    except Exception as e:  # noqa: BLE001 - which exception it was is the point
        if lib is torch and not wrap_numbers and not case.junk and isinstance(e, TypeError):
            # vibetensor takes a Python number wherever a later Tensor argument goes (op_table.h); torch's
            # functions like maximum() want a tensor: ask torch again with the number as a 0-d tensor.
            return _call(case, lib, wrap_numbers=True)
        return args, None, e


def _outputs(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _vt_dtype(dtype):
    return dtype if isinstance(dtype, vt.dtype) else getattr(vt, str(dtype).split(".")[1])


def _ref_inputs(case, compute):
    """The numpy arguments of the reference: arrays in `compute` (a numpy dtype) or their own dtype."""
    def conv(a):
        if isinstance(a, Spec):
            own = a.array.astype(numpy_dtype(a.dtype))
            return own if compute is None else own.astype(compute)
        if compute is not None and isinstance(a, (bool, int, float)) and not np.issubdtype(compute, np.floating):
            return np.array(a).astype(compute)  # a Python number takes the result dtype, wrapping like a cast
        return a
    return [conv(a) for a in case.args]


def _expected(case, t_args, t_out):
    mode = case.mode
    if mode in ("inplace", "promoted"):  # computed in the inputs' promoted dtype (stored in self's, in place)
        if isinstance(t_args[0], torch.Tensor) or isinstance(t_args[1], torch.Tensor):
            promoted = _vt_dtype(torch.result_type(t_args[0], t_args[1]))
        else:  # torch had no kernel: vibetensor's own promotion, from the out-of-place op
            promoted = getattr(vt, case.label.rstrip("_"))(*t_args[:2]).dtype if mode == "inplace" else vt.float64
        compute = np.float64 if promoted.is_floating_point else numpy_dtype(promoted)
    elif mode == "f64":
        compute = np.float64
    elif mode == "arith":
        r = _vt_dtype(t_out[0].dtype)
        compute = np.float64 if r.is_floating_point else numpy_dtype(r)
    else:
        compute = None
    with np.errstate(all="ignore"):
        return _outputs(case.ref(*_ref_inputs(case, compute)))


def _check_values(case, got, t_outs, refs):
    assert len(refs) == len(got), f"{case.label}: {len(got)} results, reference has {len(refs)}"
    for g, want in zip(got, refs):
        want = np.asarray(want)
        a = vt_to_numpy(g)
        assert a.shape == want.shape, f"{case.label}: shape {a.shape}, reference {want.shape}"
        if g.dtype.is_floating_point:
            rtol, atol = TOLERANCES[g.dtype]
            np.testing.assert_allclose(a, round_to(want.astype(np.float64), g.dtype), rtol=rtol, atol=atol,
                                       equal_nan=True, err_msg=case.label)
        else:
            np.testing.assert_array_equal(a, want.astype(numpy_dtype(g.dtype)), err_msg=case.label)


def check_case(case):
    v_args, v_res, v_err = _call(case, vt)
    t_args, t_res, t_err = _call(case, torch)
    if v_err is not None:
        assert isinstance(v_err, ALLOWED), f"{case.label}: raised {type(v_err).__name__}: {v_err}"
        TALLY["raised"] += 1
        if t_err is None:  # allowed (a clear refusal), but counted: these are gaps, not wrong answers
            TALLY["refused what PyTorch accepts"] += 1
            REFUSED[case.label] += 1
        return
    got = _outputs(v_res)
    if isinstance(t_err, NotImplementedError) and not case.junk:
        # torch lacks a kernel for this dtype ("hypot_cpu not implemented for 'Byte'"): a valid call that
        # vibetensor may well support; its values are still checked, in the dtype it chose
        t_res, t_args = v_res, [_convert(a, vt) for a in case.args]
        TALLY["beyond torch's dtype coverage"] += 1
    assert t_err is None or t_res is v_res, \
        f"{case.label}: accepted a call PyTorch rejects ({type(t_err).__name__}: {t_err})"
    t_outs = _outputs(t_res)
    if case.mode == "inplace":
        assert got[0] is v_args[0], f"{case.label}: in-place op did not return self"
    for g, t in zip(got, t_outs):
        assert isinstance(g, vt.Tensor), f"{case.label}: returned {type(g).__name__}"
        assert g.dtype == _vt_dtype(t.dtype), f"{case.label}: dtype {g.dtype}, PyTorch gives {t.dtype}"
        assert tuple(g.shape) == tuple(t.shape), f"{case.label}: shape {tuple(g.shape)}, PyTorch {tuple(t.shape)}"
    if case.junk:
        TALLY["junk accepted like PyTorch"] += 1
        return
    refs = _expected(case, t_args, t_outs)
    if case.mode == "inplace":
        refs = [np.broadcast_to(refs[0], case.args[0].array.shape)]
    _check_values(case, got, t_outs, refs)
    TALLY["matched"] += 1


def _fuzz(examples, derandomize):
    @settings(max_examples=examples, deadline=None, derandomize=derandomize, database=None,
              suppress_health_check=list(HealthCheck))
    @given(CASES)
    def run(case):
        check_case(case)
    run()


def _live_bytes():
    gc.collect()
    return vt._C._cpu_memory_stats()["allocated_bytes"]


def _fuzz_without_leaks(examples, derandomize):
    _fuzz(20, True)  # first-use allocations that stay for the process (caches) happen here
    before = _live_bytes()
    _fuzz(examples, derandomize)
    after = _live_bytes()
    print(f"\nop fuzzer: {examples} cases, outcomes {dict(TALLY)}; live bytes {before} -> {after}")
    print(f"refused where PyTorch answers: {REFUSED.most_common(8)}")
    assert after == before, f"{after - before} bytes still allocated after the fuzz run (a leak)"


def test_op_calls_match_reference_or_raise_cleanly_without_leaking():
    _fuzz_without_leaks(400, derandomize=True)


@pytest.mark.long
def test_op_calls_long():
    _fuzz_without_leaks(6000, derandomize=False)
