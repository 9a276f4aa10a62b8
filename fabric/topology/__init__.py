"""Fabric topology: the machine as a graph, planned rings and trees, and ``vibetensor-topo``.

Discover this machine (CUDA runtime + NVML + sysfs, each optional), or load one described by a file
(this package's JSON, or pasted `nvidia-smi topo -m` output), then plan on the graph with pure
functions:

>>> import vibetensor.fabric.topology as topo
>>> g = topo.load(topo.fixture_path("dgx_h100_8gpu"))
>>> topo.islands(g), topo.plan_ring(g).bottleneck_gbps
([(0, 1, 2, 3, 4, 5, 6, 7)], 450.0)
>>> topo.choose_algorithm(g, 1 << 30).algorithm, topo.gpu_affinity(g, 4).numa_node
('ring', 1)

Nothing here needs a GPU, cuda-python or NVML to import; ``discover()`` on a machine without them
returns a graph of the CPUs alone whose notes say why.
"""

from .affinity import Affinity, affinities, gpu_affinity
from .cost import Choice, CostModel, choose_algorithm, crossover_bytes, estimate_allreduce_time, estimate_broadcast_time
from .discover import discover
from .errors import ProbeUnavailable, SourceUnavailable, TopologyError, TopologyFileError
from .fixtures import FIXTURES, fixture_path
from .graph import gpu, gpus, link, link_bandwidth, numa_nodes, p2p_usable
from .plan_groups import cliques, islands, p2p_graph
from .plan_ring import Hop, Ring, plan_ring
from .plan_tree import Tree, plan_tree
from .probe import PairResult, ProbeReport, apply_probe, judge_pair, probe
from .render_dot import to_dot, write_png
from .serialize import dumps, load, loads, save
from .smi_text import format_topo_matrix, from_topo_matrix
from .source_cuda import cuda_device_count
from .visible import visible_devices

__all__ = [
    # discovery and files
    "discover", "load", "loads", "save", "dumps", "from_topo_matrix", "format_topo_matrix",
    "fixture_path", "FIXTURES", "visible_devices", "cuda_device_count",
    # reading the graph
    "gpus", "gpu", "link", "link_bandwidth", "p2p_usable", "numa_nodes",
    # planning
    "islands", "cliques", "p2p_graph", "plan_ring", "Ring", "Hop", "plan_tree", "Tree",
    "choose_algorithm", "estimate_allreduce_time", "estimate_broadcast_time", "crossover_bytes",
    "CostModel", "Choice", "gpu_affinity", "affinities", "Affinity",
    # measuring
    "probe", "apply_probe", "judge_pair", "ProbeReport", "PairResult",
    # pictures
    "to_dot", "write_png",
    # errors
    "TopologyError", "TopologyFileError", "SourceUnavailable", "ProbeUnavailable",
]
