"""Fake discovery sources for tests: one described machine answers as the CUDA runtime, NVML and
sysfs would, through the same methods the real sources have (see fabric/topology/records.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vibetensor.fabric.topology.records import CudaDevice, CudaPeer, NvLinkEnd, NvmlDevice, NvmlP2P, PciDevice


@dataclass
class FakeGpu:
    bus: str
    uuid: str
    numa: int
    name: str = "NVIDIA H100 80GB HBM3"
    cc: tuple[int, int] = (9, 0)
    memory: int = 80 << 30
    sms: int = 132


@dataclass
class FakeMachine:
    gpus: list[FakeGpu]
    numa: dict[int, tuple[int, ...]]
    nvlinks: dict[str, list[NvLinkEnd]] = field(default_factory=dict)
    ancestor: dict[frozenset, str] = field(default_factory=dict)  # PCIe kind between two GPU buses
    no_p2p: set[frozenset] = field(default_factory=set)
    pci_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    nics: list[tuple[str, str]] = field(default_factory=list)

    def cuda(self, visible: list[int] | None = None) -> "FakeCuda":
        return FakeCuda(self, list(range(len(self.gpus))) if visible is None else visible)

    def nvml(self) -> "FakeNvml":
        return FakeNvml(self)

    def sysfs(self) -> "FakeSysfs":
        return FakeSysfs(self)


class FakeCuda:
    name = "CUDA"

    def __init__(self, machine: FakeMachine, visible: list[int]):
        self.m, self.visible = machine, visible
        self.peer_calls: list[tuple[int, int]] = []

    def devices(self) -> list[CudaDevice]:
        return [CudaDevice(ordinal=i, name=g.name, pci_bus_id=g.bus, memory_bytes=g.memory, sm_count=g.sms,
                           compute_capability=g.cc, uuid=g.uuid)
                for i, g in enumerate(self.m.gpus[p] for p in self.visible)]

    def peer(self, a: int, b: int) -> CudaPeer:
        self.peer_calls.append((a, b))
        ga, gb = self.m.gpus[self.visible[a]], self.m.gpus[self.visible[b]]
        ok = frozenset((ga.bus, gb.bus)) not in self.m.no_p2p
        return CudaPeer(access=ok, native_atomics=ok, perf_rank=0 if ok else None)


class FakeNvml:
    name = "NVML"

    def __init__(self, machine: FakeMachine):
        self.m = machine

    def devices(self) -> list[NvmlDevice]:
        return [NvmlDevice(physical_index=i, name=g.name, uuid=g.uuid, pci_bus_id=g.bus, memory_bytes=g.memory,
                           compute_capability=g.cc, numa_node=None, cpu_affinity=self.m.numa[g.numa],
                           pcie_gen=5, pcie_width=16)
                for i, g in enumerate(self.m.gpus)]

    def p2p(self, bus_a: str, bus_b: str) -> NvmlP2P:
        ok = frozenset((bus_a, bus_b)) not in self.m.no_p2p
        return NvmlP2P(read=ok, write=ok, atomics=ok, nvlink=bool(self.m.nvlinks),
                       blocked_by=None if ok else "CNS")

    def common_ancestor(self, bus_a: str, bus_b: str) -> str | None:
        return self.m.ancestor.get(frozenset((bus_a, bus_b)))

    def nvlinks(self, bus: str) -> list[NvLinkEnd]:
        return list(self.m.nvlinks.get(bus, []))


class FakeSysfs:
    name = "sysfs"

    def __init__(self, machine: FakeMachine):
        self.m = machine

    def numa_nodes(self) -> dict[int, tuple[int, ...]]:
        return dict(self.m.numa)

    def pci_device(self, bus_id: str) -> PciDevice | None:
        numa = {g.bus: g.numa for g in self.m.gpus}.get(bus_id)
        path = self.m.pci_paths.get(bus_id)
        if path is None and numa is None:
            return None
        return PciDevice(bus_id, numa, self.m.numa.get(numa, ()), path or ())

    def nvidia_gpus(self) -> list[str]:
        return [g.bus for g in self.m.gpus]

    def nics(self) -> list[tuple[str, str]]:
        return list(self.m.nics)


DGX_BUSES = ["0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0",
             "0000:9a:00.0", "0000:ab:00.0", "0000:ba:00.0", "0000:db:00.0"]
DGX_SWITCHES = ["0000:05:00.0", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0"]


def dgx_h100() -> FakeMachine:
    """A DGX H100 as its sources describe it: 8 GPUs, each with 18 NVLinks split 5/4/5/4 over four
    NVSwitches, GPUs 0-3 on NUMA node 0 and 4-7 on node 1."""
    gpus = [FakeGpu(bus, f"GPU-{i:08x}-1111-2222-3333-44445555{i:04x}", numa=0 if i < 4 else 1)
            for i, bus in enumerate(DGX_BUSES)]
    nvlinks = {g.bus: [NvLinkEnd(sw, "switch") for sw, count in zip(DGX_SWITCHES, (5, 4, 5, 4)) for _ in range(count)]
               for g in gpus}
    ancestor = {frozenset((a.bus, b.bus)): "NODE" if a.numa == b.numa else "SYS"
                for a in gpus for b in gpus if a is not b}
    return FakeMachine(gpus, {0: tuple(range(0, 56)) + tuple(range(112, 168)),
                              1: tuple(range(56, 112)) + tuple(range(168, 224))}, nvlinks, ancestor)


def pcie_box() -> FakeMachine:
    """Four PCIe GPUs, a switch per socket, no NVLink; the cross-socket pairs have no P2P."""
    buses = ["0000:1b:00.0", "0000:1c:00.0", "0000:88:00.0", "0000:89:00.0"]
    gpus = [FakeGpu(b, f"GPU-aaaa{i:04x}-0000-0000-0000-000000000000", numa=i // 2, name="NVIDIA L40S", cc=(8, 9))
            for i, b in enumerate(buses)]
    ancestor, no_p2p = {}, set()
    for a in gpus:
        for b in gpus:
            if a is not b:
                same = a.numa == b.numa
                ancestor[frozenset((a.bus, b.bus))] = "PIX" if same else "SYS"
                if not same:
                    no_p2p.add(frozenset((a.bus, b.bus)))
    return FakeMachine(gpus, {0: tuple(range(0, 32)), 1: tuple(range(32, 64))}, ancestor=ancestor, no_p2p=no_p2p)


class ScriptedBench:
    """Answers like CudaCopyBench from a table: GB/s per direction, failures, corrupted pairs."""

    def __init__(self, count, gbps, d2d=1500.0, no_access=(), broken=(), corrupt=()):
        self.count, self.gbps, self.d2d = count, gbps, d2d
        self.no_access, self.broken, self.corrupt = set(no_access), set(broken), set(corrupt)
        self.closed = False
        self.sizes = set()

    def device_count(self):
        return self.count

    def can_access_peer(self, a, b):
        return frozenset((a, b)) not in self.no_access

    def copy_gbps(self, src, dst, nbytes, repeats):
        self.sizes.add(nbytes)
        if src == dst:
            return self.d2d
        if frozenset((src, dst)) in self.broken:
            raise RuntimeError("cudaMemcpyPeerAsync failed: cudaErrorInvalidValue (invalid argument)")
        return self.gbps[(src, dst)] if (src, dst) in self.gbps else self.gbps[(dst, src)]

    def bidirectional_gbps(self, a, b, nbytes, repeats):
        return 2 * self.copy_gbps(a, b, nbytes, repeats) * 0.95

    def latency_us(self, src, dst):
        return 2.5

    def verify(self, src, dst):
        return frozenset((src, dst)) not in self.corrupt

    def close(self):
        self.closed = True
