"""Eight threads doing ops and backward at once, on shared and on separate tensors, for a bounded time: every
result is right, no gradient is lost (a shared leaf's .grad is exactly the sum of every thread's
contributions), and nothing deadlocks (joins are bounded; a hang fails with every thread's stack)."""
import faulthandler
import sys
import threading
import time

import numpy as np
import pytest

import vibetensor as vt

THREADS = 8


def _run_threads(work, seconds, timeout):
    """work(i, stop) in THREADS threads, started together; returns per-thread results or fails on a hang."""
    start, stop = threading.Barrier(THREADS), threading.Event()
    results, errors = [None] * THREADS, []

    def body(i):
        try:
            start.wait(timeout)
            results[i] = work(i, stop)
        except BaseException as e:  # noqa: BLE001 - reported below with the thread's number
            errors.append((i, repr(e)))
    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        faulthandler.dump_traceback(sys.stderr)
        pytest.fail(f"threads still running {timeout} s after being told to stop: a deadlock")
    assert not errors, errors[:3]
    return results


def test_backward_into_a_shared_leaf_loses_no_gradient():
    # Integer-valued float64 contributions: the expected sum is exact, so any lost or doubled one shows.
    w = vt.tensor(np.arange(1.0, 13.0).reshape(3, 4), requires_grad=True)
    x = vt.tensor(np.ones((5, 3)))  # shared, read by every thread

    def work(i, stop):
        done = 0
        while not stop.is_set():
            y = (x @ w) * float(i + 1)  # d(sum)/dw = (i + 1) * x.T @ ones = 5 (i + 1) everywhere
            (y.sum() + (w * 0.0).sum()).backward()
            done += 1
        return done

    counts = _run_threads(work, seconds=2.0, timeout=30)
    expected = sum(5.0 * (i + 1) * n for i, n in enumerate(counts))
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 4), expected))
    print(f"\nshared-leaf backward calls: {sum(counts)} ({counts})")


def test_first_backward_into_a_fresh_leaf_from_many_threads():
    # The leaf's autograd bookkeeping is created by whichever thread gets there first: repeat with fresh
    # leaves so the threads race for it many times.
    for round_ in range(30):
        w = vt.tensor([1.0, 2.0], requires_grad=True)

        def work(i, stop, w=w):
            (w * float(i + 1)).sum().backward()
            return i + 1

        _run_threads(work, seconds=0.0, timeout=30)
        assert w.grad.tolist() == [36.0, 36.0], f"round {round_}: {w.grad.tolist()}"  # 1 + 2 + ... + 8


def test_separate_models_train_side_by_side_with_correct_results():
    def work(i, stop):
        gen = np.random.default_rng(i)
        a, b = gen.standard_normal((16, 8)), gen.standard_normal((8, 4))
        wa = vt.tensor(a, requires_grad=True)
        steps = 0
        while not stop.is_set():
            out = (wa @ vt.tensor(b)).tanh()
            loss = (out * out).mean()
            loss.backward()
            # float64 reference of the same step
            t = np.tanh(a @ b)
            ref_grad = ((2 * t / t.size) * (1 - t * t)) @ b.T
            np.testing.assert_allclose(wa.grad.numpy(), ref_grad, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(loss.item(), (t * t).mean(), rtol=1e-12)
            wa.grad = None
            steps += 1
        return steps

    steps = _run_threads(work, seconds=2.0, timeout=30)
    assert all(s > 0 for s in steps), steps
    print(f"\nseparate-model steps per thread: {steps}")


def test_ops_on_shared_inputs_and_in_place_on_own_outputs():
    x = vt.tensor(np.linspace(-2, 2, 4096).reshape(64, 64))
    want = np.linspace(-2, 2, 4096).reshape(64, 64)

    def work(i, stop):
        n = 0
        own = vt.zeros(64, 64, dtype=vt.float64)
        while not stop.is_set():
            own.copy_(x)
            own.mul_(i + 1).add_(x.t().t())  # a view of the shared tensor as the other operand
            np.testing.assert_array_equal(own.numpy(), want * (i + 1) + want)  # the same IEEE operations
            s = (x.softmax(1) @ x).sum(0)
            assert s.shape == (64,)
            n += 1
        return n

    _run_threads(work, seconds=1.5, timeout=30)
    np.testing.assert_array_equal(x.numpy(), want)  # the shared input was only ever read
