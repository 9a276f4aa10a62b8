"""vt.autograd.queue_callback: work queued by hooks runs once when its backward pass ends."""
import pytest

import vibetensor as vt


def test_callbacks_run_after_every_gradient_in_queue_order():
    w = vt.randn(3, requires_grad=True)
    v = vt.randn(3, requires_grad=True)
    seen = []

    def hook(p):
        if not seen:
            vt.autograd.queue_callback(lambda: seen.append(("first", w.grad is not None and v.grad is not None)))
            vt.autograd.queue_callback(lambda: vt.autograd.queue_callback(lambda: seen.append(("nested", True))))
        seen.append("hook")
    w.register_post_accumulate_grad_hook(hook)
    v.register_post_accumulate_grad_hook(hook)
    ((w * v).sum() * 2).backward()
    assert seen == ["hook", "hook", ("first", True), ("nested", True)]
    seen.clear()
    ((w + v).sum()).backward()  # a new pass: callbacks queued afresh, none left over from the last one
    assert seen == ["hook", "hook", ("first", True), ("nested", True)]


def test_queue_callback_outside_backward_raises_and_a_failed_pass_drops_its_callbacks():
    with pytest.raises(RuntimeError, match="no backward pass is running"):
        vt.autograd.queue_callback(lambda: None)
    w = vt.randn(2, requires_grad=True)
    ran = []

    def bad_hook(p):
        vt.autograd.queue_callback(lambda: ran.append(1))
        raise ValueError("hook failed")
    h = w.register_post_accumulate_grad_hook(bad_hook)
    with pytest.raises(ValueError, match="hook failed"):
        (w * 3).sum().backward()
    assert ran == []
    h.remove()
    (w * 3).sum().backward()
    assert ran == []


def test_nested_backward_keeps_its_own_callbacks():
    a = vt.randn(2, requires_grad=True)
    b = vt.randn(2, requires_grad=True)
    order = []

    def outer_hook(p):
        vt.autograd.queue_callback(lambda: order.append("outer"))
        with vt.enable_grad():  # hooks run with grad mode off, as in PyTorch
            (b * 2).sum().backward()  # an inner pass inside the outer one's hook
        order.append("inner done")
    b.register_post_accumulate_grad_hook(lambda p: vt.autograd.queue_callback(lambda: order.append("inner")))
    a.register_post_accumulate_grad_hook(outer_hook)
    (a * 2).sum().backward()
    assert order == ["inner", "inner done", "outer"]
