"""The autograd graph: per-tensor state, nodes, edges and saved tensors.

A tensor that takes part in autograd carries an AutogradMeta (in the native TensorImpl, so every Python
wrapper of the same tensor sees it). Non-leaf tensors point at the Node that made them; leaves that require
grad get an AccumulateGrad node on demand. Nodes hold edges to the nodes of their inputs and the tensors
their derivative needs, saved with the version they had, so a later in-place write is caught.
"""
import itertools
import threading
import weakref

from .grad_mode import is_grad_enabled

_seq = itertools.count()


class AutogradMeta:
    __slots__ = ("grad", "grad_fn", "output_nr", "retains_grad", "hooks", "accumulator", "base", "lock",
                 "is_view", "post_accumulate_hooks", "__weakref__")

    def __init__(self, grad_fn=None, output_nr=0):  # the recorder makes one per output, node and slot known
        self.grad = None
        self.grad_fn = grad_fn
        self.output_nr = output_nr
        self.retains_grad = False
        self.hooks = ()          # lists from the first registration (add_hook): one per output tensor otherwise
        self.accumulator = None  # weakref to the AccumulateGrad node of a leaf
        self.base = None         # for views: the tensor whose storage they view
        self.is_view = False
        self.lock = None         # accumulation_lock(): only tensors that receive .grad ever need one
        self.post_accumulate_hooks = ()


_lock_init = threading.Lock()


def accumulation_lock(m):
    """The per-tensor lock that serialises concurrent gradient accumulation, made on first use."""
    lock = m.lock
    if lock is None:
        with _lock_init:
            if m.lock is None:
                m.lock = threading.Lock()
            lock = m.lock
    return lock


def add_hook(owner, field, hook):
    """Appends hook to owner.<field> (a shared empty tuple until the first hook: each recorded op and each
    tensor it makes would otherwise allocate lists that Python's cyclic GC must track); returns its handle."""
    hooks = getattr(owner, field)
    if not isinstance(hooks, list):
        hooks = []
        setattr(owner, field, hooks)
    hooks.append(hook)
    return _Handle(hooks, hook)


def meta(t, create=True):
    m = t._autograd_meta
    if m is None and create:
        m = AutogradMeta()
        t._autograd_meta = m
    return m


def gradient_edge(t):
    """The (node, input slot) a gradient for tensor t must flow into, or None if t does not require grad."""
    if not t._requires_grad:
        return None
    m = meta(t)
    if m.grad_fn is not None:
        return (m.grad_fn, m.output_nr)
    acc = m.accumulator() if m.accumulator is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        m.accumulator = weakref.ref(acc)
    return (acc, 0)


class Node:
    """One recorded op. ``next_functions[i]`` is the edge of its i-th differentiable input (or None)."""

    pre_hooks = hooks = ()  # lists from the first registration (add_hook)
    takes_none = False  # apply() gets zeros for outputs no gradient reached (True: None; derivative(takes_none=))
    released = False  # set on the instance by release(): one attribute fewer to store per recorded op

    def __init__(self, next_functions, num_outputs=1):
        self.next_functions = tuple(next_functions)
        self.num_outputs = num_outputs
        self.seq = next(_seq)
        self.output_meta = [None] * num_outputs  # (shape, dtype, device) per output, to shape missing grads

    def name(self):
        return type(self).__name__

    def apply(self, grads):  # grads: list per output (None for outputs that received no gradient)
        raise NotImplementedError

    def release(self):
        """Drops saved tensors after a backward without retain_graph."""
        self.released = True

    def register_hook(self, hook):
        """hook(grad_inputs, grad_outputs) -> optional replacement grad_inputs, after the node runs."""
        return add_hook(self, "hooks", hook)

    def register_prehook(self, hook):
        return add_hook(self, "pre_hooks", hook)

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"


class AccumulateGrad(Node):
    """The sink for a leaf: adds the incoming gradient into leaf.grad."""

    def __init__(self, leaf):
        super().__init__((), 1)
        self.variable = leaf
        self.output_meta = [leaf._shape_dtype_device()]

    def apply(self, grads):
        return ()


FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they have "
         "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
         "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if "
         "you need to access saved tensors after calling backward.")


class SavedTensor:
    """A tensor a derivative needs, with the version it had when saved.

    Outputs of the node itself are held without their autograd state (a plain alias), so a node does not
    keep itself alive through its own output; unpacking re-attaches the node when create_graph needs it.
    """

    __slots__ = ("data", "version", "is_output", "node", "output_nr", "requires_grad")

    def __init__(self, t, is_output=False, node=None, output_nr=0):
        self.version = t._version
        self.is_output = is_output
        self.requires_grad = t._requires_grad
        self.output_nr = output_nr
        if is_output:
            self.data = t._alias()
            self.node = weakref.ref(node) if node is not None else None
        else:
            self.data = t
            self.node = None

    def unpack(self, owner):
        if self.data is None:
            raise RuntimeError(FREED)
        if self.data._version != self.version:
            where = f"output {self.output_nr} of {owner.name()}" if self.is_output else f"an input of {owner.name()}"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"[vibetensor.{self.data.dtype.name} {list(self.data.shape)}], which is {where}, is at version {self.data._version}; expected version "
                f"{self.version} instead. Hint: the operation that failed was {owner.name()}.")
        if self.is_output and self.requires_grad:
            if is_grad_enabled():  # double backward: the output needs its history back
                t = self.data._alias()
                m = meta(t)
                m.grad_fn, m.output_nr = owner, self.output_nr
                t._requires_grad = True
                return t
        return self.data

    def free(self):
        self.data = None


class _Handle:
    """Returned by register_hook: ``handle.remove()`` unregisters the hook."""

    def __init__(self, container, hook):
        self._container = container
        self._hook = hook

    def remove(self):
        try:
            self._container.remove(self._hook)
        except ValueError:
            pass
