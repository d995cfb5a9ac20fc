"""Zeroing the missing links' gradients of the paper MLP, by gather/scatter and by bit mask, side by side in one run.

    python benchmarks/bench_masking.py                   # one thread, as each paper_scale.sh worker runs
    python benchmarks/bench_masking.py --threads 2 --repeats 100

On the dense-with-masks backend the engine zeroes the gradient of every missing link at every optimizer step
(``netsci_dst.dst.masking.keep_links_only``). This times both exact ways on the three hidden layers of the
784-1568-1568-1568-10 MLP at the densities a run passes through (CHTss decays from 50% to 1%; RigL, SET, CHTs stay
at 1%), plus ``masked_fill_`` for reference, and shows what ``keep_links_only`` picks. Each cell is the median
milliseconds for the three layers together over ``--repeats`` calls; the per-epoch column is that time the 1,875
steps of one MNIST epoch at batch 32, for the chosen way, and the ratio is gather/scatter over the chosen way.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from netsci_dst.dst.masking import GATHER_MAX_DENSITY, keep_links_only, zero_outside_by_bits, zero_outside_by_gather

SHAPES = ((1568, 784), (1568, 1568), (1568, 1568))
STEPS_PER_EPOCH = 60_000 // 32
DENSITIES = (0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01)


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def time_ways(density: float, g: torch.Generator, repeats: int) -> tuple[float, float, float, float]:
    """Median ms of (gather/scatter, bit mask, masked_fill_, keep_links_only's choice) on the 3 hidden layers."""
    layers = []
    for shape in SHAPES:
        mask = torch.rand(shape, generator=g) < density
        layers.append((torch.randn(shape, generator=g), mask, ~mask, mask.reshape(-1).nonzero().squeeze(1)))
    return (
        median_ms(lambda: [zero_outside_by_gather(t, i) for t, _, _, i in layers], repeats),
        median_ms(lambda: [zero_outside_by_bits(t, m) for t, m, _, _ in layers], repeats),
        median_ms(lambda: [t.masked_fill_(inv, 0) for t, _, inv, _ in layers], repeats),
        median_ms(lambda: [keep_links_only(t, m, i) for t, m, _, i in layers], repeats),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    print(f"{args.threads} thread(s); milliseconds per step for the 3 hidden layers; crossover {GATHER_MAX_DENSITY}")
    print(f"{'density':>8} {'gather':>8} {'bits':>8} {'masked_fill':>12} {'chosen':>8} {'s/epoch':>8} {'ratio':>6}")
    for density in DENSITIES:
        gather, bits, fill, chosen = time_ways(density, g, args.repeats)
        per_epoch = chosen * STEPS_PER_EPOCH / 1e3
        print(
            f"{density:>8} {gather:>8.2f} {bits:>8.2f} {fill:>12.2f} {chosen:>8.2f} {per_epoch:>8.1f} "
            f"{gather / chosen:>5.2f}x"
        )


if __name__ == "__main__":
    main()
