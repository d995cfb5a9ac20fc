"""One training run on every core, or one run per core side by side: which finishes a plan of runs sooner?

    python benchmarks/parallel_runs.py --data-dir ../shared/data/mnist --train-limit 15000 --methods set,fc

For each method this times, in one sitting (the machine is noisy, so the ratios matter more than the seconds):

* ``alone``: one ``dstnet train mlp`` run with the default threads (numba's and torch's pools on every core);
* ``1 thread``: the same run with ``NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1``;
* ``N x 1 thread``: N such runs at once (``--copies``, default: the number of cores).

and prints the epoch time of each, and the throughput of N copies relative to one run alone (runs per hour, as a
ratio: above 1 means that a plan of many runs, such as ``benchmarks/paper_scale.sh``, is done sooner by N copies
of one thread each). The epoch time is the run's own ``seconds`` of its first epoch (metrics.jsonl): start-up and
data loading are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def command(method: str, out: Path, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "netsci_dst.cli", "train", "mlp", "--method", method, "--epochs", "1"]
    cmd += ["--train-limit", str(args.train_limit), "--test-limit", "1000", "--out", str(out)]
    return cmd + (["--data-dir", str(args.data_dir)] if args.data_dir else [])


def epoch_seconds(out: Path) -> float:
    with open(out / "metrics.jsonl") as f:
        return float(json.loads(f.readline())["seconds"])


def timed(method: str, copies: int, env: dict[str, str], root: Path, args: argparse.Namespace) -> list[float]:
    """Start ``copies`` runs at once with ``env`` added; their first-epoch seconds."""
    outs = [Path(tempfile.mkdtemp(dir=root)) / "run" for _ in range(copies)]
    procs = [
        subprocess.Popen(command(method, out, args), env={**os.environ, **env}, stdout=subprocess.DEVNULL)
        for out in outs
    ]
    codes = [p.wait() for p in procs]  # every copy ends before the temporary folder goes
    if any(codes):
        raise SystemExit(f"a {method} run failed: {command(method, outs[0], args)}")
    return [epoch_seconds(out) for out in outs]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, help="MNIST IDX folder [default: the bundled digits]")
    ap.add_argument("--train-limit", type=int, default=8000, help="training digits per epoch [8000]")
    ap.add_argument("--methods", default="set,fc", help="comma-separated recipes [set,fc]")
    ap.add_argument("--copies", type=int, default=os.cpu_count() or 2, help="runs side by side [the cores]")
    args = ap.parse_args(argv)
    n = args.copies
    print(f"{'method':8} {'alone':>9} {'1 thread':>9} {f'{n} x 1 thread':>16}  throughput of {n} copies / alone")
    with tempfile.TemporaryDirectory() as root:
        for method in args.methods.split(","):
            (alone,) = timed(method, 1, {}, Path(root), args)
            (single,) = timed(method, 1, ONE_THREAD, Path(root), args)
            side = timed(method, n, ONE_THREAD, Path(root), args)
            # n runs end after max(side) seconds; one run alone takes `alone` seconds per run
            ratio = n * alone / max(side)
            each = "/".join(f"{s:.1f}" for s in side)
            print(f"{method:8} {alone:8.1f}s {single:8.1f}s {each:>15}s  {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    main()
