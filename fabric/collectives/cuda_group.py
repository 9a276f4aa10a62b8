"""CudaGroup: the GPU transport for one process per GPU rank (the torchrun model), no NCCL.

Ranks start through a bootstrap ShmGroup (the CPU transport: same job key, same rendezvous), over which they
exchange the CUDA IPC handles of their peer segments; from then on data moves GPU to GPU through peer memory
and ranks meet through flags (cuda_peer.py). Collectives are issued on the caller's current stream and return
at once, like NCCL's: the result is ready for later work on that stream; `work.wait()` and `synchronize()`
also report a rank that did not arrive (RankFailure naming it) within the group's timeout.

Reductions of float32, bfloat16 and float16 CUDA tensors take the peer-memory path. Other dtypes, CPU
tensors and send/recv go through the bootstrap group, staged on the host (each recorded as a fallback in
the fabric's counters).
"""
import contextlib
import os

from . import cuda_peer as peer
from .schedule import cached_links, links_of
from .api import CollectiveError, Group, RankFailure, ReduceOp, Work
from .checks import check_src
from .local import _flat
from .shm import ShmGroup
from .. import observe
from ... import _C, config
from ...tensor_core import cuda as tcuda


def _default_device(rank):
    """The GPU vibetensor-launch gave this rank (VIBETENSOR_DEVICE='cuda:<i>'), else LOCAL_RANK (torchrun's
    convention) modulo the GPUs this process sees."""
    named = config.get("VIBETENSOR_DEVICE")
    if named.startswith("cuda:"):
        return int(named.split(":", 1)[1])
    return int(os.environ.get("LOCAL_RANK", rank)) % _C._cuda.device_count()


class CudaWork(Work):
    """A stream-ordered collective: wait() makes the current stream wait for it (issued on the group's stream:
    `done`, its event) and checks the status."""

    def __init__(self, group, result, done=None):
        super().__init__(result=result)
        self._group, self._done = group, done

    def wait(self, timeout=None):
        if self._done is not None:
            tcuda.current_stream(self._group.device).wait_event(self._done)
        self._group._check()
        return super().wait()


class _DeviceTimer:
    """Timing events on a stream before and after the collective's kernels, handed to observe."""
    __slots__ = ("kind", "stream", "start")

    def __init__(self, kind, stream):
        self.kind, self.stream = kind, stream

    def __enter__(self):
        self.start = tcuda.Event(enable_timing=True)
        self.start.record(self.stream)

    def __exit__(self, *exc):
        end = tcuda.Event(enable_timing=True)
        end.record(self.stream)
        observe.device_interval(self.kind, self.start, end)


_UNTIMED = contextlib.nullcontext()


class CudaGroup(Group):
    """rank/size/job/timeout as ShmGroup; `device`: this rank's GPU (default: VIBETENSOR_DEVICE, else LOCAL_RANK
    modulo the GPU count); `capacity`: data bytes of each rank's persistent buffer (larger messages go through
    it in pieces); `crossover_bytes`: all-reduces up to this size take one-shot, larger ones the two-shot (so do
    reduce-scatters and all-gathers, by their whole message)."""

    def __init__(self, rank=None, size=None, device=None, job=None, timeout=None, capacity=None,
                 crossover_bytes=None, *, bootstrap=None):
        if not _C._cuda.is_available():
            raise CollectiveError(f"CudaGroup needs a GPU: {_C._cuda.why_unavailable()}")
        self._own_boot = bootstrap is None  # a bootstrap group passed in stays open when this one closes
        self._boot = bootstrap or ShmGroup(rank, size, job=job, timeout=timeout)
        self.rank, self.size = self._boot.rank, self._boot.size
        self.timeout = self._boot.timeout if timeout is None else float(timeout)
        if device is None:
            device = _default_device(self.rank)
        self.device = _C.device("cuda", int(device))
        self.devices = [self.device]
        _C._cuda.set_device(self.device.index)
        self.capacity = peer.capacity_of(capacity)
        self.crossover_bytes = crossover_bytes
        # read once: the environment lookup would cost every call (a small one-shot is issued in ~10 us)
        self._oneshot_max = peer.oneshot_max_bytes(crossover_bytes)
        self._links = {}  # (kind, algorithm, nbytes) -> {(src, dst): bytes}, for observe.record
        self._plans = {}  # _fast_key(...) -> (prepared launches, divide by size, observe recorder): _keep, _fast
        self._status = peer.Status(self.device.index)
        self._comm, self._comm_busy, self._done = None, False, None  # the stream async collectives run on
        self._closed = False
        self._ep = self._connect()

    def _connect(self):
        nbytes = peer.segment_bytes(self.capacity, self.size)
        seg = _C._cuda.peer_segment(nbytes, self.device.index)
        mine = _C._ops.empty([64], dtype=_C.uint8)
        mine.numpy()[:] = list(_C._cuda.ipc_handle(seg))
        handles = _C._ops.empty([64 * self.size], dtype=_C.uint8)
        self._boot.all_gather(handles, mine)
        raw = handles.numpy().tobytes()
        views = []
        for p in range(self.size):
            if p == self.rank:
                views.append(seg)
            else:
                views.append(_C._cuda.ipc_open(raw[64 * p:64 * (p + 1)], nbytes, self.device.index))
        ep = peer.Endpoint(self.rank, self.size, self.device, views, self._status, self.timeout, self.capacity)
        self._boot.barrier()  # every rank mapped every segment before anyone's kernels touch them
        return ep

    def __repr__(self):
        return f"CudaGroup(rank={self.rank}, size={self.size}, device={self.device})"

    # ---- plumbing ---------------------------------------------------------------------------------------
    def _usable(self, kind):
        if self._closed:
            raise CollectiveError(f"{kind}: the group is closed")
        self._check()

    def _check(self, idle=False):
        """The status word's RankFailure, or, when the bootstrap group sees a rank that died, one naming it: a
        kernel names the peer it waited for, which in a ring may be a live neighbour stuck behind the dead."""
        try:
            self._status.check(self.timeout, idle)
        except RankFailure as e:
            self._boot._ctl.check_peers(e.collective)
            raise

    def _on_gpu(self, kind, *tensors, reduce=False):
        """True when every tensor can take the peer-memory path; raises for a tensor on another GPU."""
        for t in tensors:
            if not isinstance(t, _C.TensorBase):
                raise TypeError(f"{kind}: expected a tensor, got {type(t).__name__}")
            if t.device.type == "cuda" and t.device != self.device:
                raise ValueError(f"{kind}: this rank's GPU is {self.device}, got a tensor on {t.device}")
        if any(t.device.type != "cuda" for t in tensors):
            return False
        return not reduce or tensors[0].dtype.name in peer.FLOAT_DTYPES

    def _staged(self, kind, fn, tensors, async_op):
        """Runs the bootstrap group's collective on host copies (dtypes and devices the GPU path lacks)."""
        observe.record("fallback", group="cuda", rank=self.rank,
                       detail=f"{kind}: {tensors[0].dtype} on {tensors[0].device} staged through the host")
        host = [t.cpu() if t.device.type == "cuda" else t for t in tensors]
        fn(*host)
        for t, h in zip(tensors, host):
            if h is not t:
                t.copy_(h)
        return self._finish_work(tensors[0], async_op)

    def _finish_work(self, result, async_op):
        return CudaWork(self, result, self._done) if async_op else result

    @contextlib.contextmanager
    def _issuing(self, kind, async_op, *tensors):
        """Where a collective's kernels go. async_op: on the group's own stream, after the caller's stream's
        work so far, so it overlaps the caller's later work (DataParallel's buckets against the rest of
        backward), as NCCL's do; Work.wait() joins it back. Otherwise on the caller's stream, after whatever
        the group's stream still runs: the group's kernels meet through counters and must run in call order."""
        cur = tcuda.current_stream(self.device)
        if not async_op:
            if self._comm_busy:
                cur.wait_stream(self._comm)
                self._comm_busy = False
            with self._timed(kind, cur):
                yield
            return
        if self._comm is None:
            self._comm = tcuda.Stream(device=self.device)
        self._comm.wait_stream(cur)
        with tcuda.stream(self._comm), self._timed(kind, self._comm):
            yield
        for t in tensors:  # their memory is not reused before the group's stream is done with it
            t.record_stream(self._comm._s)
        self._comm_busy = True
        self._done = self._comm.record_event()

    def _timed(self, kind, stream):
        """Around the collective's kernels: with vt.fabric.device_timing() on, timing events on `stream` for the
        <kind>.seconds counter (observe.device_interval); off, a shared no-op (a generator context manager per
        call cost a microsecond of a ~16 us eager one-shot)."""
        return _DeviceTimer(kind, stream) if observe.device_timing() else _UNTIMED

    def _links_of(self, kind, algorithm, nbytes):
        return cached_links(self._links, (kind, algorithm, nbytes), lambda: {
            (p, self.rank): b for p, b in links_of(kind, algorithm, self.size, self.rank, nbytes).items()})

    def _record(self, kind, algorithm, nbytes):
        self._status.note(kind)
        observe.record(kind, group="cuda", rank=self.rank, algorithm=algorithm, nbytes=nbytes, seconds=0.0,
                       links=self._links_of(kind, algorithm, nbytes))

    # ---- the fast path: a collective issued again on tensors like the last ones -------------------------
    # An eager one-shot spent ~25-45 us of host time a call on a 4 x H200 host (slower than NCCL's issue) in
    # checks, the algorithm's choice, planning its launches and converting their arguments, where the kernel takes
    # ~7 us. The general path files what it decided under everything it decided from (_keep); a later call with
    # the same key repeats its prepared launches on the new tensors' addresses (_fast).
    @staticmethod
    def _fast_key(kind, op, algorithm, src, dst):
        """Shapes, dtypes, devices and contiguity of both tensors, the op and the algorithm asked for, and the
        one-shot's launch shape (module settings that sweeps change between calls)."""
        return (kind, op, algorithm, src.dtype, src.shape, src.device, src.is_contiguous(), dst.dtype, dst.shape,
                dst.device, dst.is_contiguous(), peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS)

    def _fast(self, kind, op, algorithm, src, dst):
        """Issues a collective from the plan kept for its key: True if it did; False where the general path must run
        (no plan yet, async work on the group's stream, device timing on, a failure recorded, an address not 16-byte
        aligned, arguments that are not tensors: the general path names what is wrong)."""
        try:
            plan = self._plans.get(self._fast_key(kind, op, algorithm, src, dst))
        except (AttributeError, TypeError):
            return False
        if plan is None or self._comm_busy or self._status.words[0] or observe.device_timing():
            return False
        s, d = src.data_ptr(), dst.data_ptr()
        if (s | d) % 16:
            return False
        launches, average, rec = plan
        for launch in launches:
            launch(s, d)
        if average:
            dst.div_(self.size)
        rec(0.0)
        self._status.note(kind)
        return True

    def _keep(self, kind, op, algorithm, src, dst, launches, async_op, algo, nbytes):
        """Files the plan the general path just issued where _fast may repeat it: prepared launches (one-shot and
        two-shot; the ring's steps are not), issued on the caller's stream, both tensors contiguous (no copies in
        or out) and 16-byte aligned (the two-shot chose its vector width by that)."""
        if launches is None or async_op or not (src.is_contiguous() and dst.is_contiguous()) \
                or (src.data_ptr() | dst.data_ptr()) % 16:
            return
        if len(self._plans) >= 64:  # a job issues a few shapes; a sweep over many starts over now and then
            self._plans.clear()
        rec = observe.recorder(kind, group="cuda", rank=self.rank, algorithm=algo, nbytes=nbytes,
                               links=self._links_of(kind, algo, nbytes))
        average = op is not None and ReduceOp.of(op) is ReduceOp.AVG  # (all_gather's op: None)
        self._plans[self._fast_key(kind, op, algorithm, src, dst)] = (launches, average, rec)

    def synchronize(self):
        """Waits for this rank's collectives so far and raises RankFailure if a peer did not arrive."""
        _C._cuda.synchronize(self.device.index)
        self._check(idle=True)

    # ---- collectives ------------------------------------------------------------------------------------
    def all_reduce(self, tensor, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        if not async_op and self._fast("all_reduce", op, algorithm, tensor, tensor):
            return tensor
        self._usable("all_reduce")
        op = ReduceOp.of(op)
        if not self._on_gpu("all_reduce", tensor, reduce=True):
            return self._staged("all_reduce", lambda t: self._boot.all_reduce(t, op), [tensor], async_op)
        nbytes = tensor.numel() * tensor.element_size()
        algo = peer.choose_algorithm(tensor.numel(), tensor.element_size(), algorithm, self._oneshot_max) \
            if self.size > 1 else "local"
        launches = None
        with self._issuing("all_reduce", async_op, tensor):
            if algo != "local" and tensor.numel():
                flat = _flat(tensor)
                peer.prepare(self._ep, tensor.dtype, op, "all_reduce", algo)
                launches = peer.all_reduce(self._ep, flat, op, algo)
                if op is ReduceOp.AVG:
                    flat.div_(self.size)
                if flat.data_ptr() != tensor.data_ptr() or not tensor.is_contiguous():
                    tensor.copy_(flat.view(tensor.shape))
        self._record("all_reduce", algo, nbytes)
        self._keep("all_reduce", op, algorithm, tensor, tensor, launches, async_op, algo, nbytes)
        return self._finish_work(tensor, async_op)

    def reduce_scatter(self, output, input, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        if not async_op and self._fast("reduce_scatter", op, algorithm, input, output):
            return output
        self._usable("reduce_scatter")
        op = ReduceOp.of(op)
        _check_chunks("reduce_scatter", input, output, self.size)
        if not self._on_gpu("reduce_scatter", output, input, reduce=True):
            return self._staged("reduce_scatter", lambda o, i: self._boot.reduce_scatter(o, i, op),
                                [output, input], async_op)
        algo = peer.scatter_gather_algorithm("reduce_scatter", input.numel(), input.dtype, algorithm, self._oneshot_max)
        launches, nbytes = None, input.numel() * input.element_size()
        with self._issuing("reduce_scatter", async_op, output, input):
            out = output if output.is_contiguous() else output.contiguous()
            peer.prepare(self._ep, input.dtype, op, "reduce_scatter", algo)
            if self.size > 1:
                launches = peer.reduce_scatter(self._ep, _flat(input), out.view(-1), op, algo)
            else:
                out.copy_(input.view(out.shape))
            if op is ReduceOp.AVG and self.size > 1:
                out.div_(self.size)
            if out is not output:
                output.copy_(out)
        self._record("reduce_scatter", algo, nbytes)
        self._keep("reduce_scatter", op, algorithm, input, output, launches, async_op, algo, nbytes)
        return self._finish_work(output, async_op)

    def all_gather(self, output, input, async_op=False, algorithm="auto"):
        if not async_op and self._fast("all_gather", None, algorithm, input, output):
            return output
        self._usable("all_gather")
        _check_chunks("all_gather", output, input, self.size)
        if not self._on_gpu("all_gather", output, input):
            return self._staged("all_gather", self._boot.all_gather, [output, input], async_op)
        algo = peer.scatter_gather_algorithm("all_gather", output.numel(), output.dtype, algorithm, self._oneshot_max)
        launches, nbytes = None, output.numel() * output.element_size()
        with self._issuing("all_gather", async_op, output, input):
            out = output if output.is_contiguous() else output.contiguous()
            peer.prepare(self._ep, input.dtype, ReduceOp.SUM, "all_gather", algo)
            if self.size > 1:
                launches = peer.all_gather(self._ep, _flat(input), out.view(-1), algo)
            else:
                out.copy_(input.view(out.shape))
            if out is not output:
                output.copy_(out)
        self._record("all_gather", algo, nbytes)
        self._keep("all_gather", None, algorithm, input, output, launches, async_op, algo, nbytes)
        return self._finish_work(output, async_op)

    def broadcast(self, tensor, src=0, async_op=False):
        self._usable("broadcast")
        check_src("broadcast", src, self.size)
        if not self._on_gpu("broadcast", tensor):
            return self._staged("broadcast", lambda t: self._boot.broadcast(t, src), [tensor], async_op)
        with self._issuing("broadcast", async_op, tensor):
            if self.size > 1 and tensor.numel():
                flat = _flat(tensor)
                peer.prepare(self._ep, tensor.dtype)
                peer.broadcast(self._ep, flat, src)
                if flat.data_ptr() != tensor.data_ptr() or not tensor.is_contiguous():
                    tensor.copy_(flat.view(tensor.shape))
        self._record("broadcast", "direct", tensor.numel() * tensor.element_size())
        return self._finish_work(tensor, async_op)

    def all_to_all(self, output, input, async_op=False):
        self._usable("all_to_all")
        if tuple(output.shape) != tuple(input.shape) or not input.dim() or input.shape[0] % self.size:
            raise ValueError(f"all_to_all: input and output must have one shape whose dim 0 divides into "
                             f"{self.size} chunks, got input {list(input.shape)} and output {list(output.shape)}")
        if output.dtype != input.dtype:
            raise TypeError(f"all_to_all: output dtype {output.dtype} != input dtype {input.dtype}")
        if not self._on_gpu("all_to_all", output, input):
            return self._staged("all_to_all", self._boot.all_to_all, [output, input], async_op)
        with self._issuing("all_to_all", async_op, output, input):
            out = output.new_empty(tuple(output.shape))
            peer.prepare(self._ep, input.dtype)
            peer.all_to_all(self._ep, _flat(input), out.view(-1)) if self.size > 1 else out.copy_(input)
            output.copy_(out)
        self._record("all_to_all", "direct", input.numel() * input.element_size())
        return self._finish_work(output, async_op)

    def barrier(self, timeout=None):
        """Every rank's stream meets, and the host waits for it (a host-level barrier, like torch's)."""
        self._usable("barrier")
        with self._issuing("barrier", False):
            if self.size > 1:
                peer.prepare(self._ep, _C.float32)
                peer._barrier(self._ep)
        self._status.note("barrier")
        self.synchronize()

    def send(self, tensor, dst):
        self._usable("send")
        return self._staged("send", lambda t: self._boot.send(t, dst), [tensor], False)

    def recv(self, tensor, src):
        self._usable("recv")
        return self._staged("recv", lambda t: self._boot.recv(t, src), [tensor], False)

    def split(self, ranks):
        sub = self._boot.split(ranks)
        if sub is None:
            return None
        g = CudaGroup(device=self.device.index, capacity=self.capacity, crossover_bytes=self.crossover_bytes,
                      bootstrap=sub)
        g._own_boot = True  # the split's bootstrap belongs to the new group
        return g

    def close(self):
        if self._closed:
            return
        try:
            _C._cuda.synchronize(self.device.index)
            self._boot.barrier()  # nobody unmaps a segment a peer's kernels still read
        finally:
            self._closed = True
            self._ep = None
            self._plans.clear()  # the fast path finds nothing: a call takes the general path, which raises
            if self._own_boot:
                self._boot.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_chunks(kind, big, small, size):
    """big must be `size` smalls along dim 0, of one dtype (reduce_scatter's input, all_gather's output)."""
    for t in (big, small):
        if not isinstance(t, _C.TensorBase):
            raise TypeError(f"{kind}: expected tensors, got {type(t).__name__}")
    if big.dtype != small.dtype:
        raise TypeError(f"{kind}: dtypes differ: {big.dtype} and {small.dtype}")
    bs, ss = tuple(big.shape), tuple(small.shape)
    if not ss or bs[1:] != ss[1:] or bs[0] != size * ss[0]:
        raise ValueError(f"{kind}: expected {size} x {list(ss)} along dim 0, got {list(bs)}")
