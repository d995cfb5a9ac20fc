"""The sparse execution backend against the dense one, through DSTEngine, side by side in one run.

    python benchmarks/bench_sparse.py                       # everything below (about 10-15 minutes on 2 cores)
    python benchmarks/bench_sparse.py --only steps          # or: epoch, scan
    python benchmarks/bench_sparse.py --quick               # a smoke run (small sizes, seconds)

Every measurement runs in its own worker process (``--worker JSON``), so its peak memory (``ru_maxrss`` minus the
worker's resident size after the imports) is its own; the two backends alternate, and each step figure is the best
of its rounds (these machines are noisy). The network is the papers' MLP, 784-H-H-H-10 (H = 1568), sparse on the
three hidden layers with CHTs at a fixed density (``chts-paper``: the sparsity in the table is the sparsity the
step computes), SGD with momentum 0.9 and weight decay 5e-4, random standardised inputs (the cost does not depend
on the pixel values). Sections:

* ``steps``: one training step (zero_grad, forward, cross-entropy, backward, optimizer step with the engine's
  hooks; no topology update inside the timed steps) at 99% and 99.9% sparsity, batch 32 and 128;
* ``epoch``: a full 60,000-sample epoch at batch 32 (1,875 steps) ending with its topology update (CH3-L3 soft
  regrowth, percolation) at 99% sparsity, for ``chts-paper`` and for ``chts``, the authors' recipe, whose EM&S
  starts at density D + 5% (6%: its first epochs compute 6x the links of its last);
* ``scan``: 99.9% sparsity, hidden width 1568, 8192, 16384, 32768: seconds per epoch (steps measured, times 1,875,
  plus one measured topology update) and peak memory; the dense backend while its weights, gradients and momentum
  fit in memory. ``kernels`` is the share of the step spent in the compiled sparse products; the rest is torch and
  Python around them.

A worker that runs out of memory (``--mem-limit-gb``, default 22) or time reports it instead of a number.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from typing import Any

SIZES = (784, 1568, 1568, 1568, 10)
EPOCH_SAMPLES = 60_000


# ---------------------------------------------------------------------------------------------------------------
# worker: one measurement in a fresh process
# ---------------------------------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from torch import nn

    from netsci_dst.dst import sparse_linear
    from netsci_dst.dst.engine import DSTEngine
    from netsci_dst.models.mlp import MLP

    torch.manual_seed(0)
    base = _rss_bytes()
    width, density, batch, backend = spec["width"], spec["density"], spec["batch"], spec["backend"]
    method = spec.get("method", "chts-paper")
    sizes = (784, width, width, width, 10)
    model = MLP(sizes)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, foreach=True)
    steps_per_epoch = EPOCH_SAMPLES // batch
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no calibration data: BSW instead of CSTI, the same for both backends
        engine = DSTEngine(
            model,
            opt,
            method,
            density=density,
            total_steps=100 * steps_per_epoch,
            update_interval=steps_per_epoch,
            sparse_layers=model.sparse_layer_names(),
            backend=backend,
        )
    attach_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(8, batch, 784, generator=g)
    ys = torch.randint(0, 10, (8, batch), generator=g)

    kernel_s = [0.0]
    if backend == "sparse":  # time the compiled products inside the step

        def timed(pair):
            def wrap(f):
                def call(*args):
                    t = time.perf_counter()
                    f(*args)
                    kernel_s[0] += time.perf_counter() - t

                return call

            return (wrap(pair[0]), wrap(pair[1]))

        for name in ("_rows_times", "_cols_times", "_link_dots"):
            setattr(sparse_linear, name, timed(getattr(sparse_linear, name)))

    def step(i: int) -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(xs[i % 8]), ys[i % 8]).backward()
        opt.step()

    out: dict[str, Any] = {"attach_s": attach_s}
    mode = spec["mode"]
    if mode in ("steps", "scan"):
        for i in range(3):
            step(i)
        rounds, per_round = spec["rounds"], spec["steps"]
        best, kern = float("inf"), 0.0
        for _ in range(rounds):
            kernel_s[0] = 0.0
            t = time.perf_counter()
            for i in range(per_round):
                step(i)
            dt = (time.perf_counter() - t) / per_round
            if dt < best:
                best, kern = dt, kernel_s[0] / per_round
        out["step_s"] = best
        out["kernel_share"] = kern / best if backend == "sparse" else None
    if mode == "epoch":
        t = time.perf_counter()
        for i in range(steps_per_epoch):  # the last step triggers the epoch's topology update
            step(i)
        out["epoch_s"] = time.perf_counter() - t
        out["updates"] = engine.n_updates
    if mode == "scan":
        engine.step = steps_per_epoch - 1  # the next step ends the epoch: time it with its topology update
        t = time.perf_counter()
        step(0)
        out["update_s"] = time.perf_counter() - t - out["step_s"]
        out["updates"] = engine.n_updates
    out["links"] = sum(int(m.sum()) for m in engine.masks.values())
    out["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base) / 2**20
    return out


# ---------------------------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------------------------


def run_worker(spec: dict[str, Any], mem_limit_gb: float, timeout: float) -> dict[str, Any]:
    limit = int(mem_limit_gb * 2**30)

    def cap() -> None:  # the worker, not this machine, runs out of memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        p = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=cap,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["?"])[-1]
        oom = "MemoryError" in p.stderr or "alloc" in p.stderr.lower() or p.returncode in (-9, 137)
        return {"error": "out of memory" if oom else tail[:80]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def fits_dense(width: int, mem_limit_gb: float) -> bool:
    cells = 784 * width + 2 * width * width
    return cells * 4 * 3.2 < mem_limit_gb * 2**30  # weight, gradient, momentum, masks and the update's copies


def fmt_ms(r: dict[str, Any], key: str) -> str:
    return r["error"] if "error" in r else f"{r[key] * 1e3:.2f}"


def steps_section(args) -> None:
    print("\n## Training step, paper MLP 784-1568-1568-1568-10 (ms; best round; ratio sparse / dense)\n")
    print(
        "| sparsity | batch | dense [ms] | sparse [ms] | sparse/dense | kernels | dense peak [MB] | sparse peak [MB] |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for density in args.densities:
        for batch in args.batches:
            best: dict[str, dict[str, Any]] = {}
            for _ in range(args.alternations):
                for backend in ("dense", "sparse"):
                    spec = dict(mode="steps", width=args.width, density=density, batch=batch, backend=backend,
                                rounds=args.rounds, steps=args.steps)  # fmt: skip
                    r = run_worker(spec, args.mem_limit_gb, args.timeout)
                    if backend not in best or r.get("step_s", 1e9) < best[backend].get("step_s", 1e9):
                        best[backend] = r
            d, s = best["dense"], best["sparse"]
            ratio = f"{s['step_s'] / d['step_s']:.3f}" if "error" not in d and "error" not in s else "-"
            share = f"{s['kernel_share']:.0%}" if "error" not in s else "-"
            print(
                f"| {1 - density:.1%} | {batch} | {fmt_ms(d, 'step_s')} | {fmt_ms(s, 'step_s')} | {ratio} | {share} "
                f"| {d.get('peak_mb', 0):.0f} | {s.get('peak_mb', 0):.0f} |",
                flush=True,
            )


def epoch_section(args) -> None:
    print(f"\n## The first {EPOCH_SAMPLES:,}-sample epoch with its topology update, 99% sparsity, batch 32\n")
    print("| method | links | dense [s] | sparse [s] | sparse/dense | dense peak [MB] | sparse peak [MB] |")
    print("|---|---|---|---|---|---|---|")
    for method in ("chts-paper", "chts"):
        res = {}
        for backend in ("dense", "sparse"):
            spec = dict(mode="epoch", width=args.width, density=0.01, batch=32, backend=backend, method=method)
            res[backend] = run_worker(spec, args.mem_limit_gb, args.timeout * 10)
        d, s = res["dense"], res["sparse"]
        cells = [r["error"] if "error" in r else f"{r['epoch_s']:.1f}" for r in (d, s)]
        ratio = f"{s['epoch_s'] / d['epoch_s']:.3f}" if "error" not in d and "error" not in s else "-"
        links = f"{s['links']:,}" if "links" in s else "-"
        print(
            f"| {method} | {links} | {cells[0]} | {cells[1]} | {ratio} | {d.get('peak_mb', 0):.0f} "
            f"| {s.get('peak_mb', 0):.0f} |",
            flush=True,
        )


def scan_section(args) -> None:
    print("\n## Width scan at 99.9% sparsity, chts-paper, batch 32 (an epoch = 1,875 steps + one topology update)\n")
    print("| hidden width | links | backend | step [ms] | kernels | update [s] | epoch [s] | peak [MB] |")
    print("|---|---|---|---|---|---|---|---|")
    for width in args.widths:
        for backend in ("dense", "sparse"):
            if backend == "dense" and not fits_dense(width, args.mem_limit_gb):
                print(f"| {width} | - | dense | does not fit in {args.mem_limit_gb:g} GB | | | | |", flush=True)
                continue
            steps = max(2, min(args.steps, int(2e8 / width**2) if backend == "dense" else args.steps))
            spec = dict(mode="scan", width=width, density=0.001, batch=32, backend=backend, rounds=2, steps=steps)
            r = run_worker(spec, args.mem_limit_gb, args.timeout * 10)
            if "error" in r:
                print(f"| {width} | - | {backend} | {r['error']} | | | | |", flush=True)
                continue
            epoch = r["step_s"] * (EPOCH_SAMPLES // 32) + r["update_s"]
            share = f"{r['kernel_share']:.0%}" if r["kernel_share"] is not None else "-"
            print(
                f"| {width} | {r['links']:,} | {backend} | {r['step_s'] * 1e3:.2f} | {share} | {r['update_s']:.2f} "
                f"| {epoch:.0f} | {r['peak_mb']:.0f} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=["steps", "epoch", "scan"], action="append", help="Run only these sections.")
    ap.add_argument("--quick", action="store_true", help="A smoke run: width 64, short rounds, no epoch.")
    ap.add_argument("--widths", default="1568,8192,16384,32768", help="Hidden widths of the scan.")
    ap.add_argument(
        "--densities",
        default="0.01,0.001",
        help="Densities of the steps section (0.5,0.2,0.1: where backend='auto' turns sparse, AUTO_SPARSE_DENSITY).",
    )
    ap.add_argument("--mem-limit-gb", type=float, default=22.0, help="Address-space cap of each worker.")
    ap.add_argument("--timeout", type=float, default=600.0, help="Seconds per worker (x10 for epochs and scans).")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    args.widths = [int(w) for w in args.widths.split(",")]
    args.densities = tuple(float(d) for d in args.densities.split(","))
    args.batches, args.width = (32, 128), SIZES[1]
    args.rounds, args.steps, args.alternations = 5, 40, 2
    sections = args.only or ["steps", "epoch", "scan"]
    if args.quick:
        args.width, args.widths, args.rounds, args.steps, args.alternations = 64, [64, 128], 2, 3, 1
        args.batches = (32,)
        sections = [s for s in sections if s != "epoch"]
    import numba
    import torch

    print(
        f"# bench_sparse: {os.cpu_count()} CPU(s), torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads, layer {numba.config.THREADING_LAYER})"
    )
    t0 = time.perf_counter()
    if "steps" in sections:
        steps_section(args)
    if "epoch" in sections:
        epoch_section(args)
    if "scan" in sections:
        scan_section(args)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
