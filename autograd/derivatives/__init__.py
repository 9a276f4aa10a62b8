"""THE derivative table: one row per differentiable op of the op table, keyed by op name.

A row is a function of (ctx, *grads) returning {argument name: gradient}. `ctx.<arg>` gives an argument:
the saved tensor for inputs listed in `save=`, a TensorInfo (shape, dtype, device) for other tensors, the
value for non-tensors; `ctx.result` is the saved output when `result=True` (`result=(1, 2)` saves only
those outputs: `ctx.results` has None for the others); `ctx.needs(name)` says whether
that input wants a gradient. Gradients are reduced to their input's shape and dtype after the row runs.

In-place variants (`add_`) use their op's row. Ops that run as Composite kernels need no row: autograd
flows through the ops they are made of.
"""
import types

from ... import _C
from ..graph import FREED, Node, _seq


class TensorInfo:
    """What a derivative may know about an input tensor it did not save."""

    __slots__ = ("shape", "dtype", "device", "storage_offset")

    def __init__(self, t):
        self.shape, self.dtype, self.device = t._shape_dtype_device()
        self.storage_offset = t.storage_offset()

    def dim(self):
        return len(self.shape)

    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def size(self, d=None):
        return self.shape if d is None else self.shape[d]


class Row:
    def __init__(self, name, fn, save, result, takes_none=False):
        self.name, self.fn, self.save, self.save_result = name, fn, tuple(save), result
        self.takes_none = takes_none
        self.save_inputs = ()  # argument indices, resolved against the op's schema on first use
        self.saved_set = frozenset()  # the same, for membership tests on the recording path
        self.node_cls = None  # the OpNode subclass its nodes get (AddBackward0, ...), made on first use

    def bind(self, info):
        missing = [s for s in self.save if s not in info.args]
        if missing:
            raise RuntimeError(f"derivative row '{self.name}' saves unknown arguments {missing}")
        self.save_inputs = tuple(info.args.index(s) for s in self.save)
        self.saved_set = frozenset(self.save_inputs)
        if self.node_cls is None:
            self.node_cls = _node_class(self.name)
            self.node_cls.takes_none = self.takes_none
        info.row = self
        # the tensor arguments a node keeps as TensorInfo: those the row does not save
        info.unsaved_tensor_args = tuple(a for a in info.tensor_args if a[0] not in self.saved_set)
        return self


TABLE = {}


def derivative(*names, save=(), result=False, takes_none=False):
    """Declares the row of one or more ops: ``@derivative("mul", save=("self", "other"))``. takes_none: the row
    gets None for an output no gradient reached, where others get zeros (made per call: the fused norms'
    statistics outputs, which are never differentiated, cost two zeros kernels a backward)."""
    def deco(fn):
        for n in names:
            if n in TABLE:
                raise RuntimeError(f"derivative for '{n}' is defined twice")
            TABLE[n] = Row(n, fn, save, result, takes_none)
        return fn
    return deco


class OpInfo:
    """What the recorder needs from an op's schema."""

    def __init__(self, d):
        self.name = d["name"]
        self.args = list(d["args"])
        self.tensor_kinds = ["tensor" if t in ("Tensor", "Tensor?") else "list" if t.startswith("Tensor[]")
                             or t.startswith("Tensor?[]") else None for t in d["arg_types"]]
        self.returns_list = d["rets"] == ["Tensor[]"]
        self.num_rets = len(d["rets"])
        self.inplace = d["inplace"]
        self.is_view = d["view"]
        self.differentiable = d["differentiable"]
        self.kernels = set(d["kernels"])
        # Precomputed for the recording path, which runs once per op call:
        self.row = None  # the derivative row (set by Row.bind), None for ops without one
        self.arg_index = {a: i for i, a in enumerate(self.args)}
        self.tensor_args = tuple((i, k == "list") for i, k in enumerate(self.tensor_kinds) if k is not None)
        self.unsaved_tensor_args = self.tensor_args  # narrowed by Row.bind to those its row does not save
        self.single_result = not self.returns_list and self.num_rets == 1


_INFO = {}


def op_info(name):
    info = _INFO.get(name)
    if info is None:  # first use, or an op defined since (vt.library): read the table again
        for d in _C._op_table():
            if d["name"] not in _INFO:
                _INFO[d["name"]] = OpInfo(d)
                if d["name"] in TABLE:
                    TABLE[d["name"]].bind(_INFO[d["name"]])
        info = _INFO[name]
    return info


_NOTHING_SAVED = types.MappingProxyType({})


class _Released:
    """A released node's saved tensors: they were freed with the graph, so every read raises."""

    __slots__ = ()

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        raise RuntimeError(FREED)

    def get(self, key, default=None):
        raise RuntimeError(FREED)


_RELEASED = _Released()


class _Ctx:
    __slots__ = ("_node",)

    def __init__(self, node):
        self._node = node

    def __getattr__(self, name):
        node = self._node
        i = node.info.arg_index.get(name)
        if i is None:
            raise AttributeError(f"{node.row.name} has no argument '{name}'")
        if i in node.saved_inputs:
            s = node.saved_inputs[i]
            if isinstance(s, list):  # a saved Tensor[] / Tensor?[] argument
                return [x.unpack(node) if x is not None else None for x in s]
            return s.unpack(node)
        return node.args[i]

    @property
    def result(self):  # results[0], without building the list
        node = self._node
        saved = node.saved_outputs.get(0)
        return saved.unpack(node) if saved is not None else None

    @property
    def results(self):
        node = self._node
        return [node.saved_outputs[k].unpack(node) if k in node.saved_outputs else None
                for k in range(node.num_outputs)]

    def needs(self, name):
        """Whether the input `name` requires grad (a derivative may skip the others' work)."""
        node = self._node
        i = node.info.arg_index.get(name)
        for s in node.slots:
            if s[0] == i:
                return True
        return False

    def output_info(self, k=0):
        return self._node.output_meta[k]


def _node_class(name):
    cls = _NODE_CLASSES.get(name)
    if cls is None:
        pretty = "".join(p.capitalize() for p in name.replace(".", "_").replace("::", "_").split("_") if p)
        cls = type(f"{pretty}Backward0", (OpNode,), {})
        _NODE_CLASSES[name] = cls
    return cls


_NODE_CLASSES = {}


class OpNode(Node):
    """A recorded application of an op with a derivative row."""

    # Made as row.node_cls(...), the row's own subclass (MulBackward0, ...), so nodes print as PyTorch's do.
    def __init__(self, row, info, args, slots, edges):
        # Node.__init__'s fields, but output_meta and num_outputs: set_outputs sets them once the op has run
        self.next_functions = tuple(edges)
        self.seq = next(_seq)
        # (arg index, list index) of each input that requires grad; not the tensor, which would stay alive as
        # long as the graph does (torch frees an input no derivative saves once the caller drops it)
        self.row, self.info = row, info
        self.slots = [(i, j) for i, j, _ in slots]
        self.input_meta = [t._shape_dtype_device() for _, _, t in slots]
        # Tensor arguments are kept as TensorInfo, or not at all when the row saves them (saved_inputs has them)
        kept = list(args)
        for i in row.save_inputs:
            kept[i] = None
        for i, is_list in info.unsaved_tensor_args:
            a = kept[i]
            if a is not None:
                kept[i] = [TensorInfo(t) if t is not None else None for t in a] if is_list else TensorInfo(a)
        self.args = kept
        # Rows that save nothing share one read-only empty mapping: fewer containers for the cyclic GC to track.
        self.saved_inputs = {} if row.save_inputs else _NOTHING_SAVED
        self.saved_outputs = {} if row.save_result else _NOTHING_SAVED

    def set_outputs(self, outs):
        self.num_outputs = len(outs)
        if len(outs) == 1:  # most ops: no generator to run
            o = outs[0]
            self.output_meta = [o._shape_dtype_device() if o is not None else None]
        else:
            self.output_meta = [o._shape_dtype_device() if o is not None else None for o in outs]

    def release(self):
        super().release()
        # Dropping the mappings frees what only they hold; a later read raises as a freed SavedTensor would.
        if self.saved_inputs:
            self.saved_inputs = _RELEASED
        if self.saved_outputs:
            self.saved_outputs = _RELEASED

    def apply(self, grads):
        res = self.row.fn(_Ctx(self), *grads)
        out = []
        args = self.info.args
        for (i, j), (shape, dtype, _) in zip(self.slots, self.input_meta):
            g = res.get(args[i]) if res else None
            if g is not None:
                if j is not None:
                    g = g[j]
                if g is not None:
                    g = _fit(g, shape, dtype)
            out.append(g)
        return out


def sum_to(g, shape):
    """Sums a broadcast gradient back to `shape`."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.dim() - len(shape)
    dims = list(range(lead)) + [lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1]
    if dims:
        g = g.sum(dims, keepdim=True)
    return g.reshape(shape) if lead or tuple(g.shape) != shape else g


def _fit(g, shape, dtype):
    if not isinstance(g, _C.TensorBase):
        raise RuntimeError(f"derivative returned {type(g).__name__} where a tensor was expected")
    g_shape, g_dtype, _ = g._shape_dtype_device()
    if g_shape != shape:
        g = sum_to(g, shape)
    if g_dtype != dtype:
        g = g.to(dtype)
    return g


def _load_rows():
    from . import elementwise, fused, fused_act, linalg, random, reductions, shape, indexing  # noqa: F401 - each adds rows
    for name in list(TABLE):
        inplace = name + "_"
        if inplace not in TABLE:
            TABLE[inplace] = TABLE[name]


_load_rows()
