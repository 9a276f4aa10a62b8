"""``vibetensor-topo``: this machine (or one described in a file) as a topology graph.

    vibetensor-topo                            # matrix, bandwidths, islands, rings, tree, all-reduce choice, affinity
    vibetensor-topo --from topo.txt            # a machine described by `nvidia-smi topo -m` output, or by JSON
    vibetensor-topo --json > box.json          # the graph as JSON (read it back with --from box.json)
    vibetensor-topo --dot topo.dot             # a picture as Graphviz DOT ("-" for stdout)
    vibetensor-topo --png topo.png             # the picture drawn (needs Graphviz dot or matplotlib)
    vibetensor-topo --probe                    # measure peer copy bandwidth and latency on this machine
    vibetensor-topo --sizes 16K,8M,2G          # all-reduce sizes to cost
    python -m vibetensor.fabric.topology ...   # the same

Exit status: 0 on success (also on a machine without GPUs), 1 when a file cannot be read or
written or a request cannot be met (one line on stderr), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .discover import discover
from .errors import ProbeUnavailable, TopologyError
from .probe import apply_probe, probe
from .render_dot import to_dot, write_png
from .render_text import REPORT_SIZES, render_probe, render_report
from .serialize import dumps, load

__all__ = ["main", "build_parser", "parse_size"]

PROG = "vibetensor-topo"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``4096``, ``64K``, ``1.5M``, ``2GiB`` (binary multiples).

    >>> parse_size("64K"), parse_size("1.5M"), parse_size("2GiB")
    (65536, 1572864, 2147483648)
    """
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 4096, 64K, 8M, 1G)")
    return int(float(m.group(1)) * 1024 ** "_kmgt".index(m.group(2).lower() or "_"))


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(parse_size(part) for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Show the machine's GPUs as a graph: links, "
                                "bandwidths, islands, planned rings and trees, and CPU affinity.",
                                epilog="Examples:\n" + "\n".join(l for l in __doc__.splitlines() if l.startswith("    ")),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", metavar="FILE",
                   help="describe the machine from FILE (this package's JSON, or `nvidia-smi topo -m` text)")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the graph as JSON (default: stdout)")
    p.add_argument("--dot", nargs="?", const="-", metavar="FILE", help="write a Graphviz DOT picture (default: stdout)")
    p.add_argument("--png", metavar="FILE", help="draw the picture into FILE (Graphviz dot or matplotlib)")
    p.add_argument("--probe", action="store_true",
                   help="measure peer copy bandwidth and latency on this machine's GPUs and flag disagreements")
    p.add_argument("--sizes", type=_sizes, default=REPORT_SIZES, metavar="LIST",
                   help="comma-separated all-reduce sizes to cost (default: 4K,256K,4M,64M,1G)")
    return p


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TopologyError(f"cannot write {target!r}: {exc.strerror or exc}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.probe and args.source:
        parser.error("--probe measures this machine; it cannot be combined with --from")
    if sum(x == "-" for x in (args.json, args.dot)) > 1:
        parser.error("only one of --json and --dot can write to stdout")
    try:
        g = load(args.source) if args.source else discover()
        report = None
        probe_note = None
        if args.probe:
            try:
                report = probe(g)
                apply_probe(g, report)
            except ProbeUnavailable as exc:
                probe_note = f"Probe: nothing measured: {exc}"
        if args.json:
            _write(args.json, dumps(g))
        if args.dot:
            _write(args.dot, to_dot(g))
        if args.png:
            backend = write_png(g, args.png)
            print(f"wrote {args.png} (drawn with {backend})", file=sys.stderr)
        if "-" not in (args.json, args.dot):
            out = render_report(g, args.sizes)
            if report is not None:
                out += "\n\n" + render_probe(report)
            if probe_note:
                out += "\n\n" + probe_note
            print(out)
    except TopologyError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0
