"""``vibetensor-launch``: run a script as one rank per GPU (or CPU ranks), supervised.

    vibetensor-launch --nproc-per-node gpu train.py --lr 3e-4     # one rank per visible GPU (CPU ranks without)
    vibetensor-launch --nproc-per-node 4 --device cpu train.py    # four CPU ranks
    vibetensor-launch --nproc-per-node 2 -m mypkg.train           # a module, like python -m
    vibetensor-launch --nproc-per-node 8 --log-dir logs --ranks-filter 0 train.py
    vibetensor-launch --nproc-per-node 8 --nnodes 2 --node-rank 0 --master-addr host0 --master-port 29500 train.py
    mpirun -np 16 vibetensor-launch train.py                      # ranks from MPI: no spawning (also srun)
    python -m vibetensor.launch ...                               # the same

Exit status: 0 when every rank succeeded; the failed rank's exit code (128 + signal number when a
signal killed it); 124 after --timeout; 2 for bad arguments. On SIGINT/SIGTERM/SIGHUP the ranks
get the signal and the launcher then dies of it.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import external
from .devices import gpu_count, place_ranks
from .environment import World, free_port, new_job_id, rank_environment
from .output import OutputMux
from .supervise import PROG, JobSpec, Supervisor

__all__ = ["main", "build_parser"]


def _nproc(text: str) -> int | str:
    if text in ("gpu", "cpu"):
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, 'gpu' or 'cpu', not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _ranks(text: str) -> set[int]:
    try:
        ranks = {int(p) for p in text.split(",") if p.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ranks like 0,2, not {text!r}") from None
    if not ranks or min(ranks) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated ranks like 0,2, not {text!r}")
    return ranks


def _positive(kind: type):
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a script as one rank per GPU (or as CPU ranks): torchrun's environment, CPU "
                    "pinning from the topology, prefixed output, and fail-fast supervision.",
        epilog="Examples:\n" + "\n".join(l for l in __doc__.splitlines() if l.startswith("    ")))
    p.add_argument("--nproc-per-node", "--nproc_per_node", type=_nproc, default=None, metavar="N|gpu|cpu",
                   help="ranks on this node: a number, 'gpu' (one per visible GPU; 2 CPU ranks without "
                        "GPUs) or 'cpu' (one per usable CPU). Default 1; under mpirun/srun, leave it out "
                        "to take ranks from MPI/Slurm instead of spawning")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                   help="what ranks drive: GPUs when there are any (auto), GPUs or fail (cuda), or CPU")
    p.add_argument("--nnodes", type=int, default=1, help="nodes in the job (default 1)")
    p.add_argument("--node-rank", "--node_rank", type=int, default=0, help="this node's index (default 0)")
    p.add_argument("--master-addr", "--master_addr", default=None,
                   help="address of rank 0's node (default 127.0.0.1; needed with --nnodes > 1)")
    p.add_argument("--master-port", "--master_port", type=int, default=None,
                   help="rendezvous port (default: a free port; needed with --nnodes > 1)")
    p.add_argument("--job-id", default=None, help="VIBETENSOR_FABRIC_JOB for every rank (default: unique per launch)")
    p.add_argument("--log-dir", default=None, help="also write each rank's output to DIR/rank_<r>.log, and its "
                   "fabric counters to DIR/fabric_rank<r>.json at exit")
    p.add_argument("--ranks-filter", "--local-ranks-filter", type=_ranks, default=None, metavar="R,R",
                   help="show only these ranks' output on the console (log files keep everything)")
    p.add_argument("--max-restarts", type=_positive(int), default=0,
                   help="restart all ranks up to K times after a failure (default 0)")
    p.add_argument("--timeout", type=_positive(float), default=None, metavar="S",
                   help="stop the job (exit 124) if it runs longer than S seconds, e.g. a hung rank")
    p.add_argument("--grace", type=_positive(float), default=3.0, metavar="S",
                   help="seconds ranks get to exit after SIGTERM before SIGKILL (default 3)")
    p.add_argument("--no-bind", action="store_true", help="do not pin ranks to CPUs")
    p.add_argument("-m", "--module", action="store_true", help="SCRIPT is a module name, run like python -m")
    p.add_argument("script", metavar="SCRIPT", help="the Python script (or module, with -m) each rank runs")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    return p


def _python_argv(args: argparse.Namespace) -> list[str]:
    target = ["-m", args.script] if args.module else [args.script]
    return [sys.executable, "-u", *target, *args.args]


def _resolve_nproc(args: argparse.Namespace, ngpus: int, parser: argparse.ArgumentParser) -> tuple[int, int]:
    """(ranks on this node, GPUs they use: 0 means CPU ranks)."""
    if args.device == "cpu" or args.nproc_per_node == "cpu":
        ngpus = 0
    elif args.device == "cuda" and not ngpus:
        parser.error("--device cuda, but no GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)")
    n = args.nproc_per_node
    if n is None:
        n = 1
    elif n == "cpu":
        n = len(os.sched_getaffinity(0))
    elif n == "gpu":
        if not ngpus:
            n = min(2, len(os.sched_getaffinity(0)))
            print(f"{PROG}: no GPU visible; running {n} rank(s) on CPU", file=sys.stderr)
        else:
            n = ngpus
    return n, ngpus


def _spawn(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.nnodes < 1 or not 0 <= args.node_rank < args.nnodes:
        parser.error(f"--node-rank must be in [0, {args.nnodes}) for --nnodes {args.nnodes}")
    multinode = args.nnodes > 1
    if multinode and (args.master_addr is None or args.master_port is None):
        parser.error("--nnodes > 1 needs --master-addr and --master-port (the same on every node)")
    if multinode and args.max_restarts:
        parser.error("--max-restarts needs a single node: nodes restart on their own and could not agree "
                     "on a new port")
    if args.module is False and not os.path.exists(args.script):
        parser.error(f"no such script: {args.script}")
    nproc, ngpus = _resolve_nproc(args, 0 if args.device == "cpu" else gpu_count(), parser)
    placements, notes = place_ranks(nproc, ngpus, bind=not args.no_bind)
    for n in notes:
        print(f"{PROG}: {n}", file=sys.stderr)
    argv = _python_argv(args)
    base = dict(os.environ)
    if args.log_dir:  # ranks leave their fabric counters beside their logs (python -m vibetensor.fabric.stats DIR)
        base.setdefault("VIBETENSOR_FABRIC_STATS", os.path.abspath(args.log_dir))
    addr = args.master_addr or "127.0.0.1"

    def build(attempt: int) -> list[tuple[int, list[str], dict[str, str]]]:
        # A restart gets a new port (the old one may linger in TIME_WAIT) and a new job id.
        port = args.master_port if args.master_port and (multinode or attempt == 0) else free_port()
        job = args.job_id or (f"vt-{addr}:{port}" if multinode else new_job_id())
        world = World(nproc, args.nnodes, args.node_rank, addr, port,
                      job if attempt == 0 else f"{job}-r{attempt}", attempt, args.max_restarts)
        return [(world.global_rank(i), argv, rank_environment(base, world, i, placements[i]))
                for i in range(nproc)]

    mux = OutputMux(args.log_dir, args.ranks_filter)
    spec = JobSpec(build, max_restarts=args.max_restarts, timeout=args.timeout, grace=args.grace)
    return Supervisor(spec, mux).run()


def _in_place(ext: external.External, args: argparse.Namespace) -> int:
    """Become the rank MPI/Slurm started: set the variables, pin, exec the script."""
    ignored = [flag for flag, on in (("--log-dir", args.log_dir), ("--ranks-filter", args.ranks_filter),
                                     ("--max-restarts", args.max_restarts), ("--timeout", args.timeout))
               if on]
    if ignored and ext.rank == 0:
        print(f"{PROG}: under {ext.kind}, {', '.join(ignored)} are left to {ext.kind} and ignored here",
              file=sys.stderr)
    ngpus = 0 if args.device == "cpu" else gpu_count()
    # Respect a binding mpirun/srun already made (the CPU set is narrower than the machine).
    prebound = len(os.sched_getaffinity(0)) < (os.cpu_count() or 1)
    placements, _ = place_ranks(ext.local_size, ngpus, bind=not (args.no_bind or prebound))
    place = placements[ext.local_rank % len(placements)]
    world = World(ext.local_size, ext.nnodes, ext.node_rank, ext.master_addr or "", ext.master_port or 0,
                  args.job_id or ext.job_id)
    env = rank_environment(dict(os.environ), world, ext.local_rank, place, launcher=ext.kind)
    # MPI may map ranks to nodes in any order: its own rank and size are the truth.
    env.update(RANK=str(ext.rank), ROLE_RANK=str(ext.rank), WORLD_SIZE=str(ext.size), ROLE_WORLD_SIZE=str(ext.size))
    if ext.master_addr is None:  # across hosts without a known address, vt.fabric.init() rendezvous over MPI
        for k in ("MASTER_ADDR", "MASTER_PORT"):
            env.pop(k, None)
    if place.cpus:
        os.sched_setaffinity(0, place.cpus)
    argv = _python_argv(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
    return 1  # not reached


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (in MPI/Slurm mode it does not return: it becomes the rank)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        ext = external.detect() if args.nproc_per_node is None else None
    except external.ExternalError as exc:
        parser.error(str(exc))
    if ext is not None:
        return _in_place(ext, args)
    return _spawn(args, parser)
