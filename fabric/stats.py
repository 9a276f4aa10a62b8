"""`python -m vibetensor.fabric.stats DIR_OR_FILES...`: the fabric counters that ranks wrote at exit
(VIBETENSOR_FABRIC_STATS; vibetensor-launch --log-dir sets it), one column per rank."""
import argparse
import glob
import json
import os
import sys


def load(paths):
    """{rank: snapshot} from stats files, or directories holding fabric_rank*.json."""
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "fabric_rank*.json"))) if os.path.isdir(p) else [p]
    if not files:
        raise SystemExit(f"no fabric stats files in {', '.join(paths)} (run with VIBETENSOR_FABRIC_STATS=DIR or "
                         "vibetensor-launch --log-dir DIR)")
    out = {}
    for f in files:
        try:
            with open(f) as fh:
                snap = json.load(fh)
            out[int(snap["rank"])] = snap
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SystemExit(f"{f}: not a fabric stats file ({e})") from None
    return out


def table(snaps):
    ranks = sorted(snaps)
    names = sorted({k for s in snaps.values() for k in s["counters"]})
    rows = [["counter", *(f"rank {r}" for r in ranks)]]
    for n in names:
        vals = [snaps[r]["counters"].get(n, 0) for r in ranks]
        rows.append([n, *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in vals)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     for row in rows)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m vibetensor.fabric.stats", description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", help="stats directories or fabric_rank*.json files")
    p.add_argument("--json", action="store_true", help="print the merged snapshots as JSON")
    args = p.parse_args(argv)
    snaps = load(args.paths)
    print(json.dumps(snaps, indent=1) if args.json else table(snaps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
