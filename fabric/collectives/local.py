"""LocalGroup: one process driving every member device (virtual CPU slots, virtual or real GPUs).

Each collective takes a list with one tensor per member, in `group.devices` order, and runs the same
schedules as the multi-process transports (fabric.collectives.schedule). On GPUs nothing blocks the host:
member streams wait for the caller's current stream on entry, steps are ordered by cross-stream events,
and the caller's current stream waits for the members on exit (with async_op, at Work.wait()).

>>> import vibetensor as vt
>>> from vibetensor.fabric.collectives.local import LocalGroup
>>> from vibetensor.fabric.collectives.local_devices import virtual_devices
>>> g = LocalGroup(virtual_devices("cpu", 2))
>>> xs = [vt.tensor([1.0, 2.0]), vt.tensor([10.0, 20.0])]
>>> _ = g.all_reduce(xs)
>>> xs[1].tolist()
[11.0, 22.0]
"""
import collections
import itertools
import time

from . import cuda_direct as direct
from . import cuda_peer as peer
from . import local_algos as algos
from . import local_plan
from . import local_streams as ls
from . import schedule
from .api import CollectiveError, Group, ReduceOp, Work, default_timeout
from .local_devices import as_devices
from .. import observe
from ... import _C

_names = itertools.count()


def _flat(t):
    """A 1-D contiguous view of t (a contiguous copy when t is not contiguous; the caller copies back)."""
    return t.view(-1) if t.is_contiguous() else t.contiguous().view(-1)


def _flats(devices, ts):
    """_flat of each member's tensor, made on its device's stream (a contiguous one's is a view: no work)."""
    bufs = []
    for dev, t in zip(devices, ts):
        if t.is_contiguous():
            bufs.append(t.view(-1))
            continue
        with ls.on(dev):
            bufs.append(_flat(t))
    return bufs


def _write_back(devices, ts, bufs, finish=None, on=ls.on):
    """Copies each flat buffer back into its tensor where it was a copy; finish(b) runs on each first. on(dev):
    the context of the stream it runs on (the member's own)."""
    for dev, t, b in zip(devices, ts, bufs):
        copied = b.data_ptr() != t.data_ptr() or not t.is_contiguous()
        if finish or copied:
            with on(dev):
                if finish:
                    finish(b)
                if copied:
                    t.copy_(b.view(t.shape))


class LocalGroup(Group):
    """The devices of one process as a group. `rank` is 0 and `size` the number of member devices; every
    call passes one tensor per member. `crossover_bytes` overrides the ring/one-shot crossover.

    CUDA devices run the GPU transport's own programs (cuda_peer.py: flags in peer memory, the fused
    one-shot kernel, the ring with the reduce-copy plugin), one rank per device stream: real GPUs read each
    other's buffers through peer access (NVLink or PCIe), and virtual devices of one GPU let the same
    synchronisation and latency be tested on one card; `capacity` is each rank's buffer. CPU slots, and GPUs
    without peer access, run the same schedules with stream events instead."""

    def __init__(self, devices, name=None, crossover_bytes=None, timeout=None, capacity=None):
        self.devices = as_devices(devices)
        if not self.devices:
            raise ValueError("LocalGroup needs at least one device")
        self.size, self.rank = len(self.devices), 0
        self.name = name or f"local{next(_names)}"
        self.crossover_bytes = crossover_bytes
        self._oneshot_max = peer.oneshot_max_bytes(crossover_bytes)  # read once, as CudaGroup: not per call
        self.timeout = default_timeout() if timeout is None else timeout
        self.capacity = peer.capacity_of(capacity)
        self._eps = None
        self._peers = None
        self._links = {}  # (kind, algorithm, nbytes) -> {(src, dst): bytes} of the peer path, for observe.record
        self._events = {}  # reused stream events (ls.enter, the peer path's final marks): none made per call
        self._prepared = set()  # (dtype, op, kind, algorithm) whose kernels every rank has loaded
        self._plans = {}  # _plan_key(...) -> (LaunchPlan, observe recorder): _keep files them, _fast runs them

    # ---- the GPU transport's path -------------------------------------------------------------------------
    def _peer_path(self, dtype, reduce):
        """Whether this call runs the peer-memory programs: CUDA members whose GPUs reach each other's memory
        (virtual devices of one GPU, or GPUs with peer access), and a dtype the programs serve."""
        if self.size == 1 or not all(d.is_cuda for d in self.devices):
            return False
        if self._peers is None:
            self._peers = self._enable_peers()
        return self._peers and (not reduce or dtype.name in peer.FLOAT_DTYPES)

    def _enable_peers(self):
        """Enables peer access between every pair of member GPUs; False (the stream-event schedules instead)
        when some pair has none, e.g. GPUs on two PCIe roots that the chipset won't bridge, and for members
        spread over several GPUs with more than one on a GPU: that layout gave wrong sums on two H100s
        (one member per GPU, and any number on one GPU, were right); until that is understood it keeps the
        stream-event schedules."""
        per_gpu = collections.Counter(d.device.index for d in self.devices)
        gpus = sorted(per_gpu)
        if len(gpus) > 1 and max(per_gpu.values()) > 1:
            observe.record("fallback", group=self.name, detail=f"several members per GPU on GPUs {gpus}: "
                           "stream-event path")
            return False
        ok = all(_C._cuda.enable_peer_access(a, b) for a in gpus for b in gpus if a != b)
        if not ok:
            observe.record("fallback", group=self.name, detail=f"GPUs {gpus} lack peer access: stream-event path")
        return ok

    def _endpoints(self):
        if self._eps is None:
            status = peer.Status(self.devices[0].device.index)
            nbytes = peer.segment_bytes(self.capacity, self.size)
            segs = [_C._cuda.peer_segment(nbytes, d.device.index) for d in self.devices]
            sharing = collections.Counter(d.device.index for d in self.devices)
            self._eps = [peer.Endpoint(r, self.size, d.device, segs, status, self.timeout, self.capacity,
                                       sharing=sharing[d.device.index]) for r, d in enumerate(self.devices)]
        return self._eps

    def _ready_endpoints(self, kind, algorithm, dtype, op):
        """The endpoints, with every kernel of (kind, algorithm) loaded (cuda_peer.prepare) and the call noted."""
        eps = self._endpoints()
        eps[0].status.note(kind)
        if (dtype, op, kind, algorithm) not in self._prepared:
            for ep in eps:
                peer.prepare(ep, dtype, op, kind, algorithm)
            self._prepared.add((dtype, op, kind, algorithm))
        return eps

    def _each_rank(self, kind, algorithm, program, dtype, op=ReduceOp.SUM):
        """Issues program(endpoint, r) for every rank on its device's stream. Returns the body of a plan of it
        (local_plan.build): each rank's prepared launches, on its stream, with its input and output as bases (a
        plan's tensors: the inputs, then the outputs); None where a rank's program returned none (the ring)."""
        eps = self._ready_endpoints(kind, algorithm, dtype, op)
        body = []
        for r, (dev, ep) in enumerate(zip(self.devices, eps)):
            with ls.on(dev):
                launches = program(ep, r)
            if launches and body is not None:
                body += [(ls.member(r), launch, [r, self.size + r]) for launch in launches]
            else:  # every rank's program is still issued; there is just no plan of them
                body = None
        return body

    def _one_launch(self, kind, algorithm, program, dtype, op):
        """Issues program(endpoints), every rank's work in one launch (Endpoint.one_launch), on the first member's
        stream (ls.peer_steps(one_launch=True) orders it as if each member had run its own part). Returns the body of
        a plan of it: the launches, with every member's tensor as a base."""
        eps = self._ready_endpoints(kind, algorithm, dtype, op)
        with ls.on(self.devices[0]):
            launches = program(eps)
        return [(ls.member(0), launch, list(range(self.size))) for launch in launches] if launches else None

    def _peer_links(self, kind, algorithm, nbytes):
        """{(src, dst): bytes} of a peer-path collective, made once per (kind, algorithm, size)."""
        def make():
            links = {}
            for r, dev in enumerate(self.devices):
                for p, b in schedule.links_of(kind, algorithm, self.size, r, nbytes).items():
                    algos._add_link(links, self.devices[p], dev, b)
            return links
        return schedule.cached_links(self._links, (kind, algorithm, nbytes), make)

    def _event(self, key):
        e = self._events.get(key)
        if e is None:
            e = self._events[key] = ls.new_event()
        return e

    def _check_status(self, idle=False):
        if self._eps is not None:
            self._eps[0].status.check(self.timeout, idle=idle)

    def synchronize(self):
        """Waits for every member stream; raises RankFailure if a GPU program gave up waiting for a rank."""
        for d in self.devices:
            if d.is_cuda:
                d.stream.synchronize()
        self._check_status(idle=True)

    def __repr__(self):
        return f"LocalGroup({self.name}, [{', '.join(str(d) for d in self.devices)}])"

    # ---- plumbing ---------------------------------------------------------------------------------------
    def _check(self, kind, tensors, what="tensor"):
        if not isinstance(tensors, (list, tuple)) or len(tensors) != self.size:
            got = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
            raise ValueError(f"{kind}: expected a list of {self.size} {what}s (one per device of {self.name}), "
                             f"got {got}")
        for t, dev in zip(tensors, self.devices):
            if not isinstance(t, _C.TensorBase):
                raise TypeError(f"{kind}: expected tensors, got {type(t).__name__}")
            if t.device != dev.device:
                raise ValueError(f"{kind}: the {what} for {dev} is on {t.device}, expected {dev.device}")
            if t.dtype != tensors[0].dtype:
                raise TypeError(f"{kind}: all {what}s must have one dtype, got {tensors[0].dtype} and {t.dtype}")
        return list(tensors)

    def _same_shapes(self, kind, tensors, what):
        shape = tuple(tensors[0].shape)
        for t in tensors:
            if tuple(t.shape) != shape:
                raise ValueError(f"{kind}: all {what}s must have one shape, got {list(shape)} and {list(t.shape)}")
        return shape

    def _algorithm(self, nbytes, requested):
        kw = {} if self.crossover_bytes is None else {"crossover_bytes": self.crossover_bytes}
        return schedule.choose_algorithm(nbytes, self.size, requested=requested, **kw)

    def _run(self, kind, algorithm, nbytes, body, result, async_op, peer_path=False, one_launch=False, keep=None):
        """Runs body(links) between the stream entry and exit protocol, records it, and returns the result
        (or a Work whose wait() joins the caller's stream). The peer path's protocol is ls.peer_steps: its programs end
        only when no peer reads their buffers any more (their flags say so), so their member streams need no joining.
        There body is its calls ({"flats": f, "body": g, "write back": h}, each optional; or body(links) as g alone),
        g returning what a plan of it launches (_each_rank), and keep: (op, algorithm asked for, inputs, outputs) to
        file the plan under (_keep)."""
        self._check_status()
        links, t0 = self._peer_links(kind, algorithm, nbytes) if peer_path else {}, time.perf_counter()
        with observe.in_flight():
            if peer_path:  # reused events: a later wait on a mark re-recorded since only waits longer
                steps, join = ls.peer_steps(self.devices, one_launch)
                calls, launched = body if isinstance(body, dict) else {"body": lambda: body(links)}, []
                ls.issue(steps, self.devices, self._event, {**calls, "body": lambda: launched.append(calls["body"]())})
            else:
                ls.enter(self.devices, self._event)
                body(links)
                marks = ls.join_members(self.devices)
        observe.record(kind, group=self.name, rank=self.rank, algorithm=algorithm, nbytes=nbytes,
                       seconds=time.perf_counter() - t0, links=links)
        if peer_path and keep and not async_op:
            self._keep(kind, *keep, steps + join, launched[0], algorithm, nbytes, links)  # (a plan joins at once)

        def finish():
            if peer_path:
                ls.issue(join, self.devices, self._event)
            else:
                ls.join_current(self.devices, marks)
            self._check_status()
            return result
        if async_op:
            return Work(finish)
        return finish()

    # ---- the fast path: a collective issued again on tensors like the last ones (local_plan.py) ----------------
    @staticmethod
    def _plan_key(kind, op, algorithm, ins, outs):
        """The op and algorithm asked for, the first input's dtype and shape and the first output's shape (the plan
        checks every tensor against its own), and the module settings that sweeps change: the one-shot's launch shape
        and the direct all-reduce's reach."""
        return (kind, op, algorithm, ins[0].dtype, ins[0].shape, outs[0].shape, peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS,
                direct.DIRECT_MAX_BYTES)

    def _fast(self, kind, op, algorithm, ins, outs):
        """Issues a collective from the plan kept for its key, in one call: True if it did; False where the general
        path must run (no plan, a failure recorded, tensors unlike the planned ones: the general path names what is
        wrong)."""
        if not self._plans:  # (CPU slots never have any)
            return False
        try:
            kept = self._plans.get(self._plan_key(kind, op, algorithm, ins, outs))
        except (AttributeError, TypeError, IndexError, KeyError):
            return False
        status = self._eps[0].status if self._eps else None  # (none yet: only direct all-reduces ran)
        if kept is None or (status and status.words[0]) or not kept[0](ins, outs):
            return False
        kept[1](0.0)
        if status:
            status.note(kind)
        return True

    def _keep(self, kind, op, algorithm, ins, outs, steps, body, algo, nbytes, links):
        """Files a plan of the collective the general path just issued, for _fast: where its body is prepared launches
        (not the ring's steps), every tensor is contiguous and 16-byte aligned (no copies in or out; the kernels chose
        their vector width by it) and there is no average to divide by."""
        if body is None or (op is not None and ReduceOp.of(op) is ReduceOp.AVG) \
                or not all(t.is_contiguous() and t.data_ptr() % 16 == 0 for t in (*ins, *outs)):
            return
        if len(self._plans) >= 64:  # a job issues a few shapes; a sweep over many starts over now and then
            self._plans.clear()
        rec = observe.recorder(kind, group=self.name, rank=self.rank, algorithm=algo, nbytes=nbytes, links=links)
        self._plans[self._plan_key(kind, op, algorithm, ins, outs)] = (
            local_plan.build(self.devices, [*ins, *outs], steps, body), rec)

    def _direct(self, algorithm, nbytes):
        """Whether an all-reduce on the peer path takes the direct kernel: asked for (cuda_direct.all_reduce
        says if the group is too large), or "auto" with members on several GPUs and a message of at most
        DIRECT_MAX_BYTES."""
        return algorithm == "direct" or (algorithm == "auto" and nbytes <= direct.DIRECT_MAX_BYTES
                                         and direct.usable(self.size) and len(ls.physical(self.devices)) > 1)

    def _direct_all_reduce(self, ts, op, keep, average, nbytes, result, async_op):
        """cuda_direct.all_reduce on the first member's GPU's current stream, ordered by ls.direct_steps; keep: as
        _run's."""
        self._check_status()
        t0, first, bufs, launched = time.perf_counter(), self.devices[0].device.index, [], []

        def body():
            with ls.on_stream(ls.current_stream(first)):
                launch = direct.all_reduce(bufs, op)
            launched.append([(ls.current(first), launch, list(range(self.size)))] if launch else None)

        def on_current(d):
            return ls.on_stream(ls.current_stream(d.device.index))
        calls = {"flats": lambda: bufs.extend(_flat(t) for t in ts),  # copies: on their GPU's current stream
                 "body": body,
                 "write back": lambda: _write_back(self.devices, ts, bufs, (lambda b: b.div_(self.size)) if average
                                                   else None, on_current)}
        steps = ls.direct_steps(self.devices)
        with observe.in_flight():
            ls.issue(steps, self.devices, self._event, calls)
        links = self._peer_links("all_reduce", "direct", nbytes)
        observe.record("all_reduce", group=self.name, rank=self.rank, algorithm="direct", nbytes=nbytes,
                       seconds=time.perf_counter() - t0, links=links)
        if not async_op:
            self._keep("all_reduce", *keep, steps, launched[0], "direct", nbytes, links)
        return Work(lambda: result) if async_op else result

    # ---- collectives ------------------------------------------------------------------------------------
    def all_reduce(self, tensor, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        if not async_op and self._fast("all_reduce", op, algorithm, tensor, tensor):
            return tensor
        ts = self._check("all_reduce", tensor)
        self._same_shapes("all_reduce", ts, "tensor")
        keep, op = (op, algorithm, ts, ts), ReduceOp.of(op)
        if op is ReduceOp.AVG and not ts[0].dtype.is_floating_point:
            raise TypeError(f"all_reduce: op avg needs a floating dtype, got {ts[0].dtype}")
        nbytes = ts[0].numel() * ts[0].element_size()
        average = op is ReduceOp.AVG and self.size > 1
        if self._peer_path(ts[0].dtype, reduce=True):
            if self._direct(algorithm, nbytes):
                return self._direct_all_reduce(ts, op, keep, average, nbytes, tensor, async_op)
            algo = peer.choose_algorithm(ts[0].numel(), ts[0].element_size(), algorithm, self._oneshot_max)
            one_launch, bufs = algo == "oneshot" and self._endpoints()[0].one_launch, []

            def programs():  # after every copy in, before any copy out: no kernel that may need loading runs
                if one_launch:  # while a rank's flag waits are in flight
                    return self._one_launch("all_reduce", algo, lambda eps: peer.oneshot_all_ranks(eps, bufs, op)
                                            if bufs[0].numel() else None, ts[0].dtype, op)
                return self._each_rank("all_reduce", algo, lambda ep, r: peer.all_reduce(ep, bufs[r], op, algo)
                                       if bufs[r].numel() else None, ts[0].dtype, op)
            calls = {"flats": lambda: bufs.extend(_flats(self.devices, ts)), "body": programs,
                     "write back": lambda: _write_back(self.devices, ts, bufs, (lambda b: b.div_(self.size))
                                                       if average else None)}
            return self._run("all_reduce", algo, nbytes, calls, tensor, async_op, peer_path=True,
                             one_launch=one_launch, keep=keep)
        algo = self._algorithm(nbytes, algorithm) if self.size > 1 else "local"

        def body(links):
            bufs = _flats(self.devices, ts)
            if algo == "ring":
                algos.ring_all_reduce(self.devices, bufs, op, links)
            elif algo == "oneshot":
                algos.oneshot_all_reduce(self.devices, bufs, op, links)
            _write_back(self.devices, ts, bufs, (lambda b: b.div_(self.size)) if average else None)
        return self._run("all_reduce", algo, nbytes, body, tensor, async_op)

    def reduce_scatter(self, output, input, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        if not async_op and self._fast("reduce_scatter", op, algorithm, input, output):
            return output
        outs, ins = self._check("reduce_scatter", output, "output"), self._check("reduce_scatter", input, "input")
        oshape, ishape = self._same_shapes("reduce_scatter", outs, "output"), self._same_shapes("reduce_scatter", ins, "input")
        if outs[0].dtype != ins[0].dtype:
            raise TypeError(f"reduce_scatter: output dtype {outs[0].dtype} != input dtype {ins[0].dtype}")
        if not ishape or ishape[1:] != oshape[1:] or ishape[0] != self.size * oshape[0]:
            raise ValueError(f"reduce_scatter: input must be {self.size} outputs along dim 0 "
                             f"(output {list(oshape)}), got input {list(ishape)}")
        keep, op = (op, algorithm, ins, outs), ReduceOp.of(op)
        if op is ReduceOp.AVG and not ins[0].dtype.is_floating_point:
            raise TypeError(f"reduce_scatter: op avg needs a floating dtype, got {ins[0].dtype}")
        nbytes = ins[0].numel() * ins[0].element_size()
        on_peers = self._peer_path(ins[0].dtype, reduce=True)
        algo = peer.scatter_gather_algorithm("reduce_scatter", ins[0].numel(), ins[0].dtype, algorithm,
                                             self._oneshot_max) if on_peers else self._algorithm(nbytes, algorithm)
        k = outs[0].numel()

        def scratch(in_place=False):
            """A result buffer per member: its output's flat view where contiguous (in_place: the peer programs
            write each output once, after every read of the input it may alias), else a new one."""
            res = []
            for dev, o in zip(self.devices, outs):
                if in_place and o.is_contiguous():
                    res.append(o.view(-1))
                    continue
                with ls.on(dev):
                    res.append(o.new_empty((k,)))
            return res

        def body(links):
            launched = None
            if on_peers:
                res, flat = scratch(in_place=True), _flats(self.devices, ins)
                launched = self._each_rank("reduce_scatter", algo, lambda ep, r: peer.reduce_scatter(
                    ep, flat[r], res[r], op, algo), ins[0].dtype, op)
            elif algo == "ring":
                flat_in = []
                for dev, t in zip(self.devices, ins):
                    with ls.on(dev):  # the ring works in place: a private copy keeps the input intact
                        flat_in.append(t.contiguous().view(-1).clone())
                algos.ring_reduce_scatter(self.devices, flat_in, op, links)
                res = [b.narrow(0, r * k, k) for r, b in enumerate(flat_in)]
            else:
                res = scratch()
                algos.oneshot_reduce(self.devices, _flats(self.devices, ins), res, op, links,
                                     piece=lambda t, d: t.narrow(0, d * k, k))
            for dev, o, r in zip(self.devices, outs, res):
                copied = r.data_ptr() != o.data_ptr() or not o.is_contiguous()
                if op is ReduceOp.AVG or copied:
                    with ls.on(dev):
                        if op is ReduceOp.AVG:
                            r.div_(self.size)
                        if copied:
                            o.copy_(r.view(o.shape))
            return launched
        return self._run("reduce_scatter", algo, nbytes, body, output, async_op, peer_path=on_peers, keep=keep)

    def all_gather(self, output, input, async_op=False, algorithm="auto"):
        if not async_op and self._fast("all_gather", None, algorithm, input, output):
            return output
        outs, ins = self._check("all_gather", output, "output"), self._check("all_gather", input, "input")
        oshape, ishape = self._same_shapes("all_gather", outs, "output"), self._same_shapes("all_gather", ins, "input")
        if outs[0].dtype != ins[0].dtype:
            raise TypeError(f"all_gather: output dtype {outs[0].dtype} != input dtype {ins[0].dtype}")
        if not ishape or oshape[1:] != ishape[1:] or oshape[0] != self.size * ishape[0]:
            raise ValueError(f"all_gather: output must be {self.size} inputs along dim 0 "
                             f"(input {list(ishape)}), got output {list(oshape)}")
        nbytes = outs[0].numel() * outs[0].element_size()
        on_peers = self._peer_path(ins[0].dtype, reduce=False)
        algo = peer.scatter_gather_algorithm("all_gather", outs[0].numel(), outs[0].dtype, algorithm,
                                             self._oneshot_max) if on_peers else self._algorithm(nbytes, algorithm)
        k = ins[0].numel()

        def body(links):
            flat_in, flat_out, launched = [], [], None
            for dev, i, o in zip(self.devices, ins, outs):
                with ls.on(dev):
                    flat_in.append(_flat(i))
                    flat_out.append(_flat(o))
            if on_peers:
                launched = self._each_rank("all_gather", algo, lambda ep, r: peer.all_gather(
                    ep, flat_in[r], flat_out[r], algo), ins[0].dtype)
            elif algo == "ring":
                for r, (dev, fi, fo) in enumerate(zip(self.devices, flat_in, flat_out)):
                    with ls.on(dev):
                        fo.narrow(0, r * k, k).copy_(fi)
                algos.ring_all_gather(self.devices, flat_out, links)
            else:
                algos.oneshot_all_gather(self.devices, flat_in, flat_out, links)
            for dev, o, fo in zip(self.devices, outs, flat_out):
                if fo.data_ptr() != o.data_ptr() or not o.is_contiguous():
                    with ls.on(dev):
                        o.copy_(fo.view(o.shape))
            return launched
        return self._run("all_gather", algo, nbytes, body, output, async_op, peer_path=on_peers,
                         keep=(None, algorithm, ins, outs))

    def broadcast(self, tensor, src=0, async_op=False, algorithm="auto"):
        ts = self._check("broadcast", tensor)
        self._same_shapes("broadcast", ts, "tensor")
        if not 0 <= src < self.size:
            raise ValueError(f"broadcast: src {src} out of range for {self.size} devices")
        nbytes = ts[0].numel() * ts[0].element_size()
        algo = self._algorithm(nbytes, algorithm) if self.size > 1 else "local"
        on_peers = algo != "local" and self._peer_path(ts[0].dtype, reduce=False)
        algo = "direct" if on_peers else algo  # what runs between peers: the source's buffer, read by every rank

        def body(links):
            bufs = _flats(self.devices, ts)
            if on_peers:
                self._each_rank("broadcast", algo, lambda ep, r: peer.broadcast(ep, bufs[r], src)
                                if bufs[r].numel() else None, ts[0].dtype)
            elif algo == "ring":
                algos.chain_broadcast(self.devices, bufs, src, links)
            elif algo == "oneshot":
                algos.direct_broadcast(self.devices, bufs, src, links)
            _write_back(self.devices, ts, bufs)
        return self._run("broadcast", algo, nbytes, body, tensor, async_op, peer_path=on_peers)

    def all_to_all(self, output, input, async_op=False):
        outs, ins = self._check("all_to_all", output, "output"), self._check("all_to_all", input, "input")
        oshape, ishape = self._same_shapes("all_to_all", outs, "output"), self._same_shapes("all_to_all", ins, "input")
        if oshape != ishape or not ishape or ishape[0] % self.size:
            raise ValueError(f"all_to_all: input and output must have one shape whose dim 0 divides into "
                             f"{self.size} chunks, got input {list(ishape)} and output {list(oshape)}")
        if outs[0].dtype != ins[0].dtype:
            raise TypeError(f"all_to_all: output dtype {outs[0].dtype} != input dtype {ins[0].dtype}")
        nbytes = ins[0].numel() * ins[0].element_size()
        on_peers = self._peer_path(ins[0].dtype, reduce=False)

        def body(links):
            flat_in, flat_out = [], []
            for dev, i, o in zip(self.devices, ins, outs):
                with ls.on(dev):
                    flat_in.append(_flat(i))
                    flat_out.append(o.new_empty((o.numel(),)))
            if on_peers:
                self._each_rank("all_to_all", "direct", lambda ep, r: peer.all_to_all(ep, flat_in[r], flat_out[r]),
                                ins[0].dtype)
            else:
                algos.direct_all_to_all(self.devices, flat_in, flat_out, links)
            ls.join_members(self.devices)  # an output may alias an input another device still reads
            for dev, o, fo in zip(self.devices, outs, flat_out):
                with ls.on(dev):
                    o.copy_(fo.view(o.shape))
        return self._run("all_to_all", "direct", nbytes, body, output, async_op, peer_path=on_peers)

    def barrier(self, timeout=None, async_op=False):
        """Every member stream waits for every other's work so far (CPU slots: already in order)."""
        return self._run("barrier", "", 0, lambda links: None, None, async_op)

    def send(self, tensor, dst):
        raise CollectiveError("LocalGroup: one process drives both ends, so send/recv have no meaning; "
                              "read the peer directly with fabric.peer_copy / fabric.peer_add")

    recv = send

    def split(self, ranks):
        """The LocalGroup of the member devices at `ranks` (this process drives them all)."""
        ranks = list(ranks)
        if not ranks or len(set(ranks)) != len(ranks) or not all(0 <= r < self.size for r in ranks):
            raise ValueError(f"split: ranks must be distinct members of 0..{self.size - 1}, got {ranks}")
        return LocalGroup([self.devices[r] for r in ranks], name=f"{self.name}.{'-'.join(map(str, ranks))}",
                          crossover_bytes=self.crossover_bytes, timeout=self.timeout, capacity=self.capacity)
