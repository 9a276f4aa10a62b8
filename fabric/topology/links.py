"""Link kinds as `nvidia-smi topo -m` names them, and what each kind is worth.

Kinds, nearest first: ``NV#`` (a bonded set of # NVLinks), ``PIX`` (at most one PCIe bridge),
``PXB`` (several PCIe bridges, no host bridge), ``PHB`` (through a PCIe host bridge), ``NODE``
(between host bridges of one NUMA node), ``SYS`` (across the SMP interconnect between NUMA nodes).

The numbers below are nominal, per direction, in GB/s (1e9 bytes/s). They are a model for planning,
replaced by measured figures once ``--probe`` has run; each table is named so it can be tuned.
"""

from __future__ import annotations

import re

__all__ = [
    "PCIE_KINDS", "kind_rank", "nvlink_count", "is_nvlink", "normalize_kind",
    "NVLINK_GBPS_PER_LINK", "PCIE_GBPS_X16", "PCIE_PATH_FACTOR", "DEFAULT_PCIE_GEN",
    "HOST_STAGED_FACTOR", "SYNC_LATENCY_US", "HOST_STAGED_LATENCY_US", "MAX_NVLINKS_PER_GPU",
    "nominal_bandwidth", "sync_latency_us", "within_p2p_level",
]

PCIE_KINDS = ("PIX", "PXB", "PHB", "NODE", "SYS")
_NV = re.compile(r"^NV(\d+)$")
# Older drivers printed SOC for what is now SYS; NVB (NVLink through a GPU) is NCCL's name.
_ALIASES = {"SOC": "SYS"}

# NVLink per-link bandwidth per direction by compute-capability major: Pascal 20, Volta..Hopper 25
# (H100: 18 links x 25 = 450 GB/s), Blackwell 50. Unknown generation (topo -m text) uses the default.
NVLINK_GBPS_PER_LINK = {6: 20.0, 7: 25.0, 8: 25.0, 9: 25.0, 10: 50.0}
DEFAULT_NVLINK_GBPS = 25.0
# The most NVLinks one GPU has (Hopper, Blackwell); more links than this summed over a GPU's peers
# means the peers share links, i.e. an NVSwitch sits between them.
MAX_NVLINKS_PER_GPU = 18
# PCIe x16 per direction by generation; the GPU's generation picks the column.
PCIE_GBPS_X16 = {3: 15.75, 4: 31.5, 5: 63.0, 6: 121.0}
DEFAULT_PCIE_GEN = 4
# Peer traffic through more of the PCIe fabric gets less of the link (root complexes forward P2P
# slowly, the SMP interconnect more slowly still).
PCIE_PATH_FACTOR = {"PIX": 1.0, "PXB": 1.0, "PHB": 0.8, "NODE": 0.6, "SYS": 0.4}
# Without peer access a copy is staged through host memory: device->host then host->device.
HOST_STAGED_FACTOR = 0.5
# Cost of one flag handshake between two GPUs over the link (a ring step or a barrier), microseconds.
SYNC_LATENCY_US = {"NV": 1.0, "PIX": 1.5, "PXB": 1.5, "PHB": 2.0, "NODE": 2.5, "SYS": 3.0}
HOST_STAGED_LATENCY_US = 8.0


def normalize_kind(text: str) -> str:
    """Canonical spelling of a link kind, or ValueError.

    >>> normalize_kind("nv18"), normalize_kind("SOC")
    ('NV18', 'SYS')
    """
    kind = _ALIASES.get(text.strip().upper(), text.strip().upper())
    if _NV.match(kind) and int(kind[2:]) > 0 or kind in PCIE_KINDS:
        return kind
    raise ValueError(f"unknown link kind {text!r} (expected NV#, {', '.join(PCIE_KINDS)})")


def is_nvlink(kind: str) -> bool:
    """True for ``NV#`` kinds.

    >>> is_nvlink("NV4"), is_nvlink("PIX")
    (True, False)
    """
    return bool(_NV.match(kind))


def nvlink_count(kind: str) -> int:
    """Number of bonded NVLinks in a kind (0 for PCIe kinds).

    >>> nvlink_count("NV18"), nvlink_count("SYS")
    (18, 0)
    """
    m = _NV.match(kind)
    return int(m.group(1)) if m else 0


def kind_rank(kind: str) -> int:
    """Distance order: 0 for NVLink, then PIX=1 ... SYS=5.

    >>> sorted(["SYS", "NV2", "PHB"], key=kind_rank)
    ['NV2', 'PHB', 'SYS']
    """
    return 0 if is_nvlink(kind) else PCIE_KINDS.index(kind) + 1


def within_p2p_level(kind: str, level: str) -> bool:
    """Whether peer access is used over this kind under a P2P level (NVLink always is).

    >>> within_p2p_level("PIX", "PXB"), within_p2p_level("SYS", "PXB"), within_p2p_level("NV2", "PIX")
    (True, False, True)
    """
    return kind_rank(kind) <= kind_rank(level)


def nominal_bandwidth(kind: str, compute_capability: tuple[int, int] | None = None,
                      pcie_gen: int | None = None, pcie_width: int | None = None) -> float:
    """Nominal per-direction bandwidth in GB/s of a path of this kind between two GPUs.

    >>> nominal_bandwidth("NV18", (9, 0))
    450.0
    >>> nominal_bandwidth("PIX", pcie_gen=5)
    63.0
    >>> nominal_bandwidth("SYS", pcie_gen=4)
    12.6
    """
    if is_nvlink(kind):
        per_link = NVLINK_GBPS_PER_LINK.get(compute_capability[0], DEFAULT_NVLINK_GBPS) \
            if compute_capability else DEFAULT_NVLINK_GBPS
        return nvlink_count(kind) * per_link
    x16 = PCIE_GBPS_X16.get(pcie_gen or DEFAULT_PCIE_GEN, PCIE_GBPS_X16[DEFAULT_PCIE_GEN])
    width = min(pcie_width or 16, 16)
    return round(x16 * width / 16 * PCIE_PATH_FACTOR[kind], 3)


def sync_latency_us(kind: str, p2p: bool = True) -> float:
    """Modelled cost of one cross-GPU handshake over this kind, in microseconds.

    >>> sync_latency_us("NV18"), sync_latency_us("SYS"), sync_latency_us("PIX", p2p=False)
    (1.0, 3.0, 8.0)
    """
    if not p2p:
        return HOST_STAGED_LATENCY_US
    return SYNC_LATENCY_US["NV" if is_nvlink(kind) else kind]
