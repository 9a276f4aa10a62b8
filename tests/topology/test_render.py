"""Pictures: DOT text for every fixture, and PNG through Graphviz, matplotlib, or a clear error."""

from __future__ import annotations

import os
import re
import stat
import sys

import pytest

from vibetensor.fabric.topology import TopologyError, fixture_path, load, to_dot, write_png
from vibetensor.fabric.topology.render_dot import png_backend


def edges(dot: str) -> dict[tuple[str, str], str]:
    return {(m[0], m[1]): m[2] for m in re.findall(r'"(\w+)" -- "(\w+)" \[(.*)\];', dot)}


def test_dot_for_every_fixture(fixture_name):
    g = load(fixture_path(fixture_name))
    dot = to_dot(g)
    assert dot.startswith("graph topology {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    for node in (n for n, t in g.nodes(data="type") if t == "gpu"):
        assert f'"{node}" [label="GPU' in dot


def test_dgx_picture_groups_by_numa_and_draws_the_switch(dgx):
    dot = to_dot(dgx)
    cluster0 = dot.split("subgraph cluster_numa0 {")[1].split("}")[0]
    cluster1 = dot.split("subgraph cluster_numa1 {")[1].split("}")[0]
    assert all(f'"gpu{i}"' in cluster0 for i in range(4)) and all(f'"gpu{i}"' in cluster1 for i in range(4, 8))
    assert "CPUs 56-111,168-223" in cluster1 and '"nic6"' in cluster1
    e = edges(dot)
    # Switched links are drawn GPU-to-switch, not as all 28 pairs.
    assert not any(u.startswith("gpu") and v.startswith("gpu") for u, v in e)
    assert e[("gpu0", "nvswitch0")].startswith('label="NV18\\n450 GB/s", penwidth=5.00')
    assert e[("gpu0", "nic0")] == 'label="PXB", style=dashed'


def test_edges_weighted_by_bandwidth(bridge):
    e = edges(to_dot(bridge))
    assert e[("gpu0", "gpu1")] == 'label="NV4\\n100 GB/s", penwidth=5.00, weight=10'
    assert e[("gpu2", "gpu3")] == 'label="PIX\\n31.5 GB/s", penwidth=2.26, weight=3'
    # Without peer access the drawn figure is the host-staged one.
    assert e[("gpu0", "gpu2")].startswith('label="NODE\\n9.45 GB/s"')


def test_measured_links_say_so(bridge):
    bridge.edges["gpu0", "gpu1"]["measured_uni_gbps"] = 88.0
    assert edges(to_dot(bridge))[("gpu0", "gpu1")].startswith('label="NV4\\n88 GB/s measured"')


def test_png_without_any_backend_says_use_dot(bridge, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert png_backend() is None
    with pytest.raises(TopologyError, match=r"--png needs Graphviz `dot` or matplotlib .*\(--dot topo.dot\)"):
        write_png(bridge, tmp_path / "x.png")


def _fake_dot(folder, body: str) -> None:
    exe = folder / "dot"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_png_through_graphviz_dot(bridge, monkeypatch, tmp_path):
    # A stand-in `dot` that records its arguments and input, as Graphviz would receive them.
    _fake_dot(tmp_path, 'echo "$@" > "$0.args"; cat > "$0.stdin"; printf PNG > "$3"\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "topo.png"
    assert write_png(bridge, out) == "dot"
    assert out.read_text() == "PNG"
    assert (tmp_path / "dot.args").read_text().split() == ["-Tpng", "-o", str(out)]
    assert (tmp_path / "dot.stdin").read_text() == to_dot(bridge)


def test_graphviz_failure_is_reported(bridge, monkeypatch, tmp_path):
    _fake_dot(tmp_path, 'echo "Error: syntax error in line 1" >&2; exit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TopologyError, match="Graphviz dot failed: Error: syntax error in line 1"):
        write_png(bridge, tmp_path / "x.png")


def test_png_through_matplotlib(dgx, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("PATH", str(tmp_path))  # hide Graphviz so matplotlib draws
    out = tmp_path / "topo.png"
    assert write_png(dgx, out) == "matplotlib"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
