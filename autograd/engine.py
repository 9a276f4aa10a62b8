"""The backward engine: dependency counting over the graph, gradient accumulation, hooks.

Each call builds its own bookkeeping (no global state, no global lock), so two threads can run backward at
once; concurrent accumulation into the same leaf is serialised by that leaf's own lock.
"""
import heapq
import sys
import threading

from .. import _C
from .grad_mode import set_grad_enabled
from .graph import AccumulateGrad, accumulation_lock, gradient_edge, meta


_local = threading.local()  # this thread's running backward calls, innermost last: their callback lists


def queue_callback(fn):
    """Runs fn() when the backward pass running on this thread finishes, after every gradient (of that pass)
    is accumulated, in the order queued (callbacks may queue more). For hooks that must act once per
    backward, e.g. a data-parallel reducer finishing its gradient reduction. Outside a backward: an error."""
    stack = getattr(_local, "stack", None)
    if not stack:
        raise RuntimeError("queue_callback: no backward pass is running on this thread (call it from a hook)")
    stack[-1].append(fn)


def _run_callbacks(callbacks):
    i = 0
    while i < len(callbacks):  # a callback may queue another
        callbacks[i]()
        i += 1


def _zeros_for(node, k):
    shape, dtype, device = node.output_meta[k]
    return _C._ops.zeros(shape, dtype=dtype, device=device)


def _dependencies(roots, needed=None):
    """Number of incoming edges per reachable node (optionally only nodes that lead to `needed`)."""
    deps, seen, stack = {}, set(), [n for n, _ in roots]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for edge in node.next_functions:
            if edge is None:
                continue
            deps[edge[0]] = deps.get(edge[0], 0) + 1
            stack.append(edge[0])
    return deps, seen


def run_backward(roots, grad_roots, retain_graph, create_graph, capture=None, accumulate=True):
    """Runs the graph from `roots` (list of (node, slot)) with `grad_roots`.

    capture: {(node, slot): index} edges whose incoming gradient is returned (autograd.grad) instead of
    being accumulated; with accumulate=False, AccumulateGrad nodes are not run.
    """
    stack = _local.__dict__.setdefault("stack", [])
    stack.append([])
    # Backward ops run in the dtypes their forward ops ran in (PyTorch's autocast rule), even when backward is
    # called inside an autocast region: a derivative's exp or matmul must not be cast again.
    autocast_mask = _C._set_autocast_mask(0)
    try:
        captured = _run_graph(roots, grad_roots, retain_graph, create_graph, capture, accumulate)
        _run_callbacks(stack[-1])  # still this pass's: a callback may queue another (a failed pass runs none)
    finally:
        _C._set_autocast_mask(autocast_mask)
        stack.pop()
    return captured


def _run_graph(roots, grad_roots, retain_graph, create_graph, capture, accumulate):
    deps, reachable = _dependencies(roots)
    if capture is not None:
        needed = _nodes_leading_to({n for n, _ in capture}, reachable)
    buffers = {}
    for (node, slot), g in zip(roots, grad_roots):
        buf = buffers.setdefault(node, [None] * node.num_outputs)
        prev = buf[slot]  # root gradients are never None (_make_grads made them)
        buf[slot] = g if prev is None else prev + g
    captured = [None] * (len(capture) if capture else 0)
    ready = [(-node.seq, id(node), node) for node, _ in {(n, 0) for n, _ in roots} if deps.get(node, 0) == 0]
    heapq.heapify(ready)
    with set_grad_enabled(create_graph):
        while ready:
            _, _, node = heapq.heappop(ready)
            grads = buffers.pop(node, None)
            if grads is None:
                grads = [None] * node.num_outputs
            if capture:
                for slot in range(node.num_outputs):
                    if (node, slot) in capture:
                        captured[capture[(node, slot)]] = grads[slot]
            for hook in node.pre_hooks:
                new = hook(grads)
                if new is not None:
                    grads = list(new)
            if isinstance(node, AccumulateGrad):
                if accumulate:
                    _accumulate(node.variable, grads[0], create_graph)
                continue
            if capture is not None and node not in needed:
                continue
            # most nodes have one output: skip building the list of missing gradients for them
            missing = ((0,) if grads[0] is None else ()) if len(grads) == 1 else \
                [k for k, g in enumerate(grads) if g is None]
            if len(missing) == len(grads):
                outputs = [None] * len(node.next_functions)
            else:
                if missing and not node.takes_none:  # a copy: pre-hooks saw the list as it came
                    grads = list(grads)
                    for k in missing:
                        grads[k] = _zeros_for(node, k)
                outputs = list(node.apply(grads))
            for hook in node.hooks:
                new = hook(outputs, grads)
                if new is not None:
                    outputs = list(new)
            if not retain_graph:
                node.release()
            for edge, g in zip(node.next_functions, outputs):
                if edge is None:
                    continue
                nxt, slot = edge
                if g is not None:
                    buf = buffers.get(nxt)
                    if buf is None:
                        buffers[nxt] = buf = [None] * nxt.num_outputs
                    prev = buf[slot]
                    buf[slot] = g if prev is None else prev + g
                left = deps[nxt] - 1
                deps[nxt] = left
                if not left:
                    heapq.heappush(ready, (-nxt.seq, id(nxt), nxt))
            outputs = g = None  # the buffers hold the gradients now: _accumulate counts who else does
    return captured


def _nodes_leading_to(targets, reachable):
    """Nodes from which some target can be reached (the only ones autograd.grad needs to run)."""
    children = {n: [e[0] for e in n.next_functions if e is not None] for n in reachable}
    memo = {}

    def leads(n):
        if n in memo:
            return memo[n]
        memo[n] = False  # the graph is a DAG; this only guards repeated visits
        r = n in targets or any(leads(c) for c in children.get(n, ()))
        memo[n] = r
        return r

    return {n for n in reachable if leads(n)}


def _references(x):
    return sys.getrefcount(x)


def _passed_on(x):
    return _references(x)


def _held_once():
    held = [object()]
    return _passed_on(held[0])


# References to an object that one list holds, as _accumulate counts them: the engine calls it as
# `_accumulate(..., grads[0], ...)` and it calls _references(grad), as _held_once does through _passed_on.
# Counted, not assumed: calls hold references differently from one Python to the next.
_HELD_ONCE = _held_once()


def _accumulate(leaf, grad, create_graph):
    if grad is None:
        return
    m = meta(leaf)
    # Nothing but the engine's list holds this gradient, nor any other tensor its memory (PyTorch's
    # AccumulateGrad test): it becomes .grad as it is, where a copy cost a kernel and the parameter's bytes
    # twice over per step (a step sets .grad anew after zero_grad(set_to_none=True)).
    sole = (not create_graph and not m.hooks and _references(grad) <= _HELD_ONCE and grad._sole_owner
            and not grad._requires_grad and _fits_layout(leaf, grad))
    for hook in m.hooks:
        new = hook(grad)
        if new is not None:
            grad = new
    if not create_graph and not sole:
        grad = grad.detach()
    with accumulation_lock(m):
        if m.grad is None:
            # A gradient may be shared (one tensor routed to several inputs, or the caller's grad_output):
            # .grad gets its own copy, since optimisers and users update .grad in place.
            m.grad = grad if create_graph or sole else _owned_copy(leaf, grad)
        elif create_graph or m.grad._requires_grad:
            m.grad = m.grad + grad
        else:
            m.grad.add_(grad)
    for hook in m.post_accumulate_hooks:
        hook(leaf)


def _fits_layout(leaf, grad):
    """grad may be leaf's .grad as it is: laid out as a contiguous leaf is (what _owned_copy would make)."""
    return grad.is_contiguous() or (not leaf.is_contiguous() and grad.stride() == leaf.stride())


def _owned_copy(leaf, grad):
    """A copy of grad for leaf.grad, laid out as the leaf is when the leaf is contiguous (PyTorch's layout
    contract): a linear layer's weight gradient arrives as a transposed view, and a contiguous .grad is what
    the fused optimizer steps (and DataParallel's buckets) take whole."""
    if leaf.is_contiguous() and not grad.is_contiguous():
        return grad.contiguous()  # a new tensor: the view was not contiguous
    return grad.clone()


def _prepare(outputs, grad_outputs):
    """Outputs as a list, their gradients (implicit ones for scalars) and their graph edges."""
    outputs = [outputs] if isinstance(outputs, _C.TensorBase) else list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, _C.TensorBase):
        grad_outputs = [grad_outputs]
    grads = _make_grads(outputs, list(grad_outputs))
    roots = []
    for i, t in enumerate(outputs):
        edge = gradient_edge(t)
        if edge is None:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        roots.append(edge)
    return outputs, grads, roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates d(tensors)/d(leaves) into the leaves' .grad (see Tensor.backward)."""
    tensors, grads, roots = _prepare(tensors, grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, _C.TensorBase) else list(inputs)
        result = grad(tensors, inputs, grads, retain_graph=retain_graph, create_graph=create_graph,
                      allow_unused=True)
        for t, g in zip(inputs, result):
            if g is not None:
                _accumulate(t, g, create_graph)
        return
    run_backward(roots, grads, retain_graph, create_graph)


def _make_grads(outputs, grads):
    out = []
    for t, g in zip(outputs, grads):
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = _C._ops.ones(t.shape, dtype=t.dtype, device=t.device)
        elif not isinstance(g, _C.TensorBase):
            g = _C._ops.full(t.shape, g, dtype=t.dtype, device=t.device)
        elif tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} and output[0] "
                               f"has a shape of {tuple(t.shape)}.")
        out.append(g)
    return out


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         materialize_grads=False):
    """d(outputs)/d(inputs), returned rather than accumulated (vt.autograd.grad)."""
    outputs, grads, roots = _prepare(outputs, grad_outputs)
    inputs = [inputs] if isinstance(inputs, _C.TensorBase) else list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    capture = {}
    for i, t in enumerate(inputs):
        edge = gradient_edge(t)
        if edge is None:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require grad")
        capture.setdefault(edge, i)
    captured = run_backward(roots, grads, retain_graph, create_graph, capture=capture, accumulate=False)
    result = []
    for i, t in enumerate(inputs):
        g = captured[capture[gradient_edge(t)]]
        if g is None:
            if materialize_grads:
                g = _C._ops.zeros(t.shape, dtype=t.dtype, device=t.device)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)
