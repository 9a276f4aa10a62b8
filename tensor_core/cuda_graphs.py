"""CUDA graphs (vt.cuda.CUDAGraph, vt.cuda.graph, vt.cuda.make_graphed_step), with PyTorch's names.

Capture records the kernels queued on a side stream into a graph; replay() launches them all at once, on the
same memory: inputs must be copied into the tensors the capture read (its static inputs), and outputs are
overwritten in place. Memory allocated during capture comes from the graph's private pool, which stays
reserved while the graph lives. Anything that synchronizes with the GPU (.item(), .cpu(), printing a CUDA
tensor) raises inside a captured region instead of breaking the capture.
"""
import gc

from .. import _C
from . import cuda as _cuda

_c = _C._cuda
_MODES = {"global": 0, "thread_local": 1, "relaxed": 2}


def _mode(name):
    if name not in _MODES:
        raise ValueError(f"capture_error_mode must be one of {sorted(_MODES)}, got {name!r}")
    return _MODES[name]


class CUDAGraph:
    """One captured graph. Use `vt.cuda.graph(g)` to capture, then `g.replay()`."""

    def __init__(self):
        self._g = _c.Graph()

    def capture_begin(self, pool=None, capture_error_mode="thread_local"):
        self._g.capture_begin(_cuda.current_stream()._s, pool or 0, _mode(capture_error_mode))

    def capture_end(self):
        self._g.capture_end()

    def replay(self):
        self._g.replay()

    def reset(self):
        self._g.reset()

    def pool(self):
        """The private memory pool's id: pass it to another capture to share the pool."""
        return self._g.pool

    @property
    def num_nodes(self):
        return self._g.num_nodes


def graph_pool_handle():
    """A fresh pool id, for graphs that should share one pool from the start."""
    return _c.new_pool_id()


def is_current_stream_capturing():
    return _c.is_capturing(-1)


class graph:
    """Captures the work of the `with` block into `cuda_graph`, on `stream` (default: a side stream)."""

    def __init__(self, cuda_graph, pool=None, stream=None, capture_error_mode="thread_local"):
        self.cuda_graph = cuda_graph
        self.pool = pool
        self.capture_stream = stream if stream is not None else _cuda.Stream()
        self.mode = capture_error_mode
        self._prev = None

    def __enter__(self):
        _cuda.synchronize()  # nothing queued before the capture may still be running on its memory
        gc.collect()         # tensors freed now return to the general pool, not to the capture's
        self._prev = _cuda.current_stream()
        self.capture_stream.wait_stream(self._prev)
        _cuda.set_stream(self.capture_stream)
        try:
            self.cuda_graph.capture_begin(self.pool, self.mode)
        except BaseException:
            _cuda.set_stream(self._prev)
            raise
        return self.cuda_graph

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.cuda_graph.capture_end()
            else:
                self.cuda_graph._g.capture_abort()  # keep the original error; the runtime stays usable
        finally:
            _cuda.set_stream(self._prev)
        return False


def _tensors(tree):
    if isinstance(tree, _C.TensorBase):
        return [tree]
    if isinstance(tree, (list, tuple)):
        return [t for x in tree for t in _tensors(x)]
    if isinstance(tree, dict):
        return [t for x in tree.values() for t in _tensors(x)]
    return []


class GraphedStep:
    """A captured step: call it with new inputs (same shapes, dtypes and devices as the sample)."""

    def __init__(self, fn, sample_args, warmup_iters, pool):
        self.static_inputs = [a.detach().clone() if isinstance(a, _C.TensorBase) else a for a in sample_args]
        side = _cuda.Stream()
        side.wait_stream(_cuda.current_stream())
        with _cuda.stream(side):  # warm-up: compiles kernels and creates optimiser state outside the capture
            for _ in range(warmup_iters):
                fn(*self.static_inputs)
        _cuda.current_stream().wait_stream(side)
        self.graph = CUDAGraph()
        with graph(self.graph, pool=pool):
            self.static_outputs = fn(*self.static_inputs)

    def __call__(self, *args):
        if len(args) != len(self.static_inputs):
            raise TypeError(f"graphed step takes {len(self.static_inputs)} arguments, got {len(args)}")
        for i, (dst, src) in enumerate(zip(self.static_inputs, args)):
            if isinstance(dst, _C.TensorBase):
                if not isinstance(src, _C.TensorBase):
                    raise TypeError(f"argument {i}: expected a tensor, got {type(src).__name__}")
                if tuple(src.shape) != tuple(dst.shape) or src.dtype != dst.dtype:
                    raise ValueError(f"argument {i}: the graph was captured for shape {tuple(dst.shape)} and dtype "
                                     f"{dst.dtype}, got {tuple(src.shape)} and {src.dtype}")
                dst.copy_(src)
            elif src != dst:
                raise ValueError(f"argument {i}: non-tensor arguments are baked into the graph ({dst!r}), got {src!r}")
        self.graph.replay()
        return self.static_outputs


def make_graphed_step(fn, sample_args, *, warmup_iters=3, pool=None):
    """Captures `fn(*sample_args)` (a whole training step: forward, backward, optimiser step) into one CUDA
    graph and returns a callable that copies new arguments into the captured inputs and replays it.

    The warm-up runs (default 3) are real calls of `fn` on `sample_args`. The returned outputs are the same
    tensors on every call, overwritten by each replay. Python-side values used inside `fn` (a learning rate
    read as a float) are frozen at capture; optimisers keep their step count on the device.
    """
    if not _tensors(list(sample_args)):
        raise ValueError("make_graphed_step: sample_args must contain at least one CUDA tensor")
    for t in _tensors(list(sample_args)):
        if not t.is_cuda:
            raise ValueError(f"make_graphed_step: sample tensors must be on a CUDA device, got one on {t.device}")
    return GraphedStep(fn, sample_args, warmup_iters, pool)


__all__ = ["CUDAGraph", "graph", "graph_pool_handle", "is_current_stream_capturing", "make_graphed_step"]
