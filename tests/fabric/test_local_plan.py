"""LocalGroup's fast path on CPU: the stream protocols it keeps (local_streams' steps), checked for what they must
order by simulating streams and events; the decisions of when a plan is kept and repeated (stand-in plans); and
_C._cuda.LaunchPlan's checks. The GPU runs of all of it: test_local_cuda.py."""
from types import SimpleNamespace

import numpy as np
import pytest

import vibetensor as vt
from vibetensor import _C, fabric
from vibetensor.fabric.collectives import local_plan
from vibetensor.fabric.collectives import local_streams as ls
from helpers import rng


# ---- the protocols ---------------------------------------------------------------------------------------------
class Sim:
    """Streams as sequences of ops: each op knows every op that happens before it (its stream's earlier ops, and
    whatever the events its stream waited on had seen when recorded)."""

    def __init__(self):
        self.known, self.events, self.before = {}, {}, {}

    def op(self, stream, name):
        self.before[name] = set(self.known.setdefault(stream, set()))
        self.known[stream].add(name)

    def record(self, stream, key):
        self.events[key] = set(self.known.setdefault(stream, set()))

    def wait(self, stream, key):
        self.known.setdefault(stream, set()).update(self.events[key])

    def run(self, steps, calls):
        for step in steps:
            if step[0] == "record":
                self.record(step[2], step[1])
            elif step[0] == "wait":
                self.wait(step[1], step[2])
            else:
                calls[step[1]]()

    def after(self, name, *earlier):
        missing = [e for e in earlier if e not in self.before[name]]
        assert not missing, f"{name} is not ordered after {missing}"


def devices(gpus):
    return [SimpleNamespace(device=SimpleNamespace(index=g), is_cuda=True) for g in gpus]


def prior_and_later(sim, devs, tag):
    """An op on every member stream and every GPU's current stream: the caller's work before (or after) the
    collective. Returns their names."""
    names = []
    for r in range(len(devs)):
        sim.op(ls.member(r), f"{tag} member {r}")
        names.append(f"{tag} member {r}")
    for i in ls.physical(devs):
        sim.op(ls.current(i), f"{tag} gpu {i}")
        names.append(f"{tag} gpu {i}")
    return names


LAYOUTS = {"4 gpus": [0, 1, 2, 3], "one gpu": [0, 0, 0], "2 gpus, 0 second": [1, 0]}


@pytest.mark.parametrize("gpus", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_peer_steps_order_each_program_after_its_inputs_and_before_its_readers(gpus):
    devs, sim = devices(gpus), Sim()
    prior = prior_and_later(sim, devs, "prior")
    steps, join = ls.peer_steps(devs)
    sim.run(steps, {name: (lambda name=name: [sim.op(ls.member(r), f"{name} {r}") for r in range(len(devs))])
                    for name in ("flats", "body", "write back")})
    sim.run(join, {})
    later = prior_and_later(sim, devs, "later")
    for r, d in enumerate(devs):  # each program reads its inputs, made on its member's stream or its GPU's current
        sim.after(f"flats {r}", f"prior member {r}", f"prior gpu {d.device.index}")
        sim.after(f"body {r}", f"flats {r}")
        sim.after(f"write back {r}", f"body {r}")
        sim.after(f"later gpu {d.device.index}", f"write back {r}")
        sim.after(f"later member {r}", f"write back {r}")
    assert len(prior) == len(later)


@pytest.mark.parametrize("gpus", [[0, 0, 0, 0], [2, 2]], ids=["4 on gpu 0", "2 on gpu 2"])
def test_one_launch_steps_order_the_launch_after_every_member(gpus):
    devs, sim = devices(gpus), Sim()
    prior_and_later(sim, devs, "prior")
    steps, join = ls.peer_steps(devs, one_launch=True)
    n = len(devs)
    sim.run(steps, {"flats": lambda: [sim.op(ls.member(r), f"flats {r}") for r in range(n)],
                    "body": lambda: sim.op(ls.member(0), "launch"),
                    "write back": lambda: [sim.op(ls.member(r), f"write back {r}") for r in range(n)]})
    sim.run(join, {})
    prior_and_later(sim, devs, "later")
    sim.after("launch", *[f"flats {r}" for r in range(n)], *[f"prior member {r}" for r in range(n)],
              f"prior gpu {gpus[0]}")
    for r in range(n):
        sim.after(f"flats {r}", f"prior gpu {gpus[r]}")  # inputs made on the GPU's current stream
        sim.after(f"write back {r}", "launch")
        sim.after(f"later member {r}", "launch")
    sim.after(f"later gpu {gpus[0]}", *[f"write back {r}" for r in range(n)])


@pytest.mark.parametrize("gpus", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_direct_steps_order_the_kernel_after_every_stream_and_every_stream_after_it(gpus):
    devs, sim = devices(gpus), Sim()
    prior = prior_and_later(sim, devs, "prior")
    first, n = ls.current(gpus[0]), len(devs)
    sim.run(ls.direct_steps(devs), {
        "flats": lambda: [sim.op(ls.current(d.device.index), f"flats {r}") for r, d in enumerate(devs)],
        "body": lambda: sim.op(first, "kernel"),
        "write back": lambda: [sim.op(ls.current(d.device.index), f"write back {r}") for r, d in enumerate(devs)]})
    later = prior_and_later(sim, devs, "later")
    sim.after("kernel", *prior, *[f"flats {r}" for r in range(n)])
    for r, d in enumerate(devs):
        sim.after(f"flats {r}", f"prior member {r}")  # a copy of an input made on the member's stream
        sim.after(f"write back {r}", "kernel")
        sim.after(f"later member {r}", f"write back {r}")
    for name in later:
        sim.after(name, "kernel")


def test_every_wait_follows_a_record_of_its_event():
    for steps in (ls.peer_steps(devices([0, 1, 2]))[0] + ls.peer_steps(devices([0, 1, 2]))[1],
                  ls.peer_steps(devices([0, 0]), one_launch=True)[0], ls.direct_steps(devices([3, 1, 0]))):
        recorded, where = set(), {}
        for step in steps:
            if step[0] == "record":
                recorded.add(step[1])
                gpu = step[2][1] if step[2][0] == "current" else None
                assert where.setdefault(step[1], step[2]) == step[2] or gpu is None  # an event stays on one stream
            elif step[0] == "wait":
                assert step[2] in recorded, step


# ---- when a plan is kept and repeated ---------------------------------------------------------------------------
class StandIn:
    """What local_plan.build returns, standing in for a LaunchPlan: records its calls, says whether they matched."""

    def __init__(self, devs, tensors, steps, body):
        self.tensors, self.steps, self.body, self.calls, self.matches = tensors, steps, body, [], True

    def __call__(self, ins, outs):
        self.calls.append((ins, outs))
        return self.matches


def cpu_group(monkeypatch, n=2):
    monkeypatch.setattr(local_plan, "build", StandIn)
    g = fabric.LocalGroup(fabric.virtual_devices("cpu", n))
    status = SimpleNamespace(words=np.zeros(4, np.int32), issued=[])
    status.note = status.issued.append
    g._eps = [SimpleNamespace(status=status)]
    return g


def rand(gen, *shape):
    return vt.tensor(gen.standard_normal(shape).astype(np.float32))


def test_a_kept_plan_is_repeated_with_the_new_tensors_and_recorded(monkeypatch):
    gen, g = rng(), cpu_group(monkeypatch)
    ins, outs = [rand(gen, 8, 2) for _ in range(2)], [rand(gen, 4, 2) for _ in range(2)]
    body = [(ls.member(0), "launch", [0, 2])]
    assert not g._fast("reduce_scatter", "sum", "auto", ins, outs)  # nothing kept yet
    g._keep("reduce_scatter", "sum", "auto", ins, outs, ["steps"], body, "oneshot", 128, {("a", "b"): 64})
    plan = next(iter(g._plans.values()))[0]
    assert plan.tensors == [*ins, *outs] and plan.steps == ["steps"] and plan.body == body
    fabric.observe.reset()
    seq = fabric.observe.last_seq()
    ins2, outs2 = [rand(gen, 8, 2) for _ in range(2)], [rand(gen, 4, 2) for _ in range(2)]
    assert g._fast("reduce_scatter", "sum", "auto", ins2, outs2)
    assert plan.calls == [(ins2, outs2)]
    events = fabric.observe.events(since=seq)
    assert [(e.kind, e.algorithm, e.nbytes) for e in events] == [("reduce_scatter", "oneshot", 128)]
    assert fabric.counters()["link.a->b.bytes"] == 64
    assert g._eps[0].status.issued == ["reduce_scatter"]
    plan.matches = False  # the plan found the tensors unlike its own: the general path runs
    assert not g._fast("reduce_scatter", "sum", "auto", ins2, outs2)
    plan.matches = True
    g._eps[0].status.words[0] = 2  # a rank gave up: the general path raises
    assert not g._fast("reduce_scatter", "sum", "auto", ins2, outs2)


def test_the_key_separates_what_the_general_path_decided_from(monkeypatch):
    gen, g = rng(), cpu_group(monkeypatch)
    xs = [rand(gen, 16) for _ in range(2)]
    g._keep("all_reduce", "sum", "auto", xs, xs, [], [(ls.member(0), "l", [0])], "direct", 64, {})
    fast = lambda op, algo, ts: g._fast("all_reduce", op, algo, ts, ts)  # noqa: E731
    assert fast("sum", "auto", [rand(gen, 16) for _ in range(2)])
    assert not fast("max", "auto", xs)  # another op
    assert not fast("sum", "oneshot", xs)  # another algorithm asked for
    assert not fast("sum", "auto", [rand(gen, 17) for _ in range(2)])  # another shape
    assert not fast("sum", "auto", [x.to(vt.bfloat16) for x in xs])  # another dtype
    assert not fast("sum", "auto", xs[0])  # not a list: the general path says so
    assert not fast("sum", "auto", [])
    assert not fast("sum", "auto", {"a": 1})
    assert not fast("sum", "auto", [1.0, 2.0])


def test_a_kept_peer_plan_makes_the_callers_streams_wait(monkeypatch):
    """What _run keeps of a peer-path call is its whole protocol, the join included: a plan issues synchronous calls
    only, so the caller's current streams must wait for the members' programs before anything later reads the
    results (without it, GPU 0's result was read while its program still ran)."""
    gen = rng()
    g = fabric.LocalGroup(fabric.virtual_devices("cuda", 3, physical=[0, 1, 1]))  # described only: no GPU needed
    monkeypatch.setattr(local_plan, "build", StandIn)
    monkeypatch.setattr(ls, "issue", lambda steps, devs, event, calls=None: [calls[s[1]]() for s in steps
                                                                                if s[0] == "call" and s[1] in calls])
    xs = [rand(gen, 64) for _ in range(3)]
    body = [(ls.member(r), f"launch {r}", [r, 3 + r]) for r in range(3)]
    assert g._run("all_reduce", "oneshot", 256, {"body": lambda: body}, xs, False, peer_path=True,
                  keep=("sum", "auto", xs, xs)) is xs
    (plan, _), = g._plans.values()
    sim = Sim()
    prior_and_later(sim, g.devices, "prior")
    sim.run(plan.steps, {"flats": lambda: None, "write back": lambda: None,
                         "body": lambda: [sim.op(ref, launch) for ref, launch, _ in plan.body]})
    prior_and_later(sim, g.devices, "later")
    for r, d in enumerate(g.devices):
        sim.after(f"launch {r}", f"prior member {r}", f"prior gpu {d.device.index}")
        sim.after(f"later gpu {d.device.index}", f"launch {r}")


def test_only_plain_collectives_are_kept(monkeypatch):
    gen, g = rng(), cpu_group(monkeypatch)
    body = [(ls.member(0), "l", [0])]
    keep = lambda ins, outs, op="sum", b=body: g._keep("all_gather", op, "auto", ins, outs, [], b, "x", 8, {})  # noqa
    ins, outs = [rand(gen, 4) for _ in range(2)], [rand(gen, 8) for _ in range(2)]
    keep(ins, outs, b=None)  # the ring: steps of many kernels, no prepared launches
    keep(ins, outs, op="avg")  # the division runs after the programs
    keep([rand(gen, 4, 2).t() for _ in range(2)], [rand(gen, 16) for _ in range(2)])  # copies in and out
    keep([rand(gen, 5).narrow(0, 1, 4) for _ in range(2)], outs)  # 4 bytes past an aligned address
    assert not g._plans
    keep(ins, outs, op=None)  # all_gather's op
    assert len(g._plans) == 1
    for k in range(70):  # a sweep over many shapes starts over now and then
        keep([rand(gen, k + 1) for _ in range(2)], [rand(gen, 2 * k + 2) for _ in range(2)])
    assert 1 <= len(g._plans) <= 64


def test_cpu_groups_run_no_plans_and_stay_correct(monkeypatch):
    gen, g = rng(), cpu_group(monkeypatch)
    g._eps = None
    xs = [rand(gen, 32) for _ in range(2)]
    total = xs[0].numpy() + xs[1].numpy()
    g.all_reduce(xs)
    assert not g._plans
    for x in xs:
        np.testing.assert_allclose(x.numpy(), total, rtol=1e-6)


# ---- LaunchPlan's checks ------------------------------------------------------------------------------------------
def test_launch_plan_checks_what_it_is_given():
    _C._cuda.register_kernel("test|plan", "entry", b"\x7fELF image", 4, 0, 0)  # stored only, never loaded
    launch = _C._cuda.prepare_launch("test|plan", (1, 1, 1), [("ptr", 0), ("ptr", 0), ("ptr", 0), ("i64", 3)])
    plan = _C._cuda.LaunchPlan([(0, vt.float32, [4]), (1, vt.float32, [4])])
    with pytest.raises(TypeError, match="expected a dtype"):
        _C._cuda.LaunchPlan([(0, "float32", [4])])
    s0, s1, e = plan.stream(None, 0), plan.stream(None, 1), plan.event()
    with pytest.raises(ValueError, match="GPU index is >= 0"):
        plan.stream(None, -1)
    with pytest.raises(ValueError, match="waited on before it is recorded"):
        plan.wait(s1, e)
    plan.record(e, s0)
    with pytest.raises(ValueError, match="recorded on cuda:0 already, not cuda:1"):
        plan.record(e, s1)
    with pytest.raises(ValueError, match="no stream 5"):
        plan.record(e, 5)
    with pytest.raises(ValueError, match="no event 3"):
        plan.wait(s0, 3)
    plan.wait(s1, e)
    with pytest.raises(ValueError, match="4 bases for a launch with 3 leading pointer"):
        plan.launch(s1, launch, [0, 1, -1, 0])
    with pytest.raises(ValueError, match="base 2 names no tensor"):
        plan.launch(s1, launch, [0, 2])
    plan.launch(s1, launch, [0, 1, -1])
    assert plan.num_steps == 3
    cpu = [vt.ones(4), vt.ones(4)]
    assert plan(cpu) is False  # CPU tensors are not on the planned GPUs: nothing issued, the general path runs
    assert plan(cpu[:1], cpu[1:]) is False
    assert plan([1, 2]) is False and plan(cpu[0]) is False and plan(cpu, cpu) is False
