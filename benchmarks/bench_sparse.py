"""Training step of the paper MLP with the truly sparse layer against dense masked layers, side by side in one run.

    python benchmarks/bench_sparse.py [--threads 1] [--batch 32] [--densities 0.01,0.001]

784-1568-1568-1568-10, the three hidden layers at the given density (dense ``nn.Linear`` with masked weights, the
way the dense backend computes them, against ``netsci_dst.dst.sparse_linear.SparseLinear``), the last layer dense;
one SGD step (momentum 0.9) of forward, backward and update on a random batch. Prints the best of 5 rounds of 20
steps for each, interleaved, and the ratio sparse / dense. The engine does not drive SparseLinear yet: this
measures the layer the sparse backend will use.
"""

from __future__ import annotations

import argparse
import time

import numba
import torch
from torch import nn

from netsci_dst.dst.sparse_linear import SparseLinear

SIZES = (784, 1568, 1568, 1568, 10)


def build(density: float, sparse: bool, seed: int = 0) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(SIZES[:-2], SIZES[1:-1], strict=True):
        mask = torch.rand(n_out, n_in, generator=g) < density
        weight = torch.randn(n_out, n_in, generator=g) * 0.1 * mask
        if sparse:
            layers += [SparseLinear(mask, weight, torch.zeros(n_out)), nn.ReLU()]
        else:
            linear = nn.Linear(n_in, n_out)
            with torch.no_grad():
                linear.weight.copy_(weight)
            layers += [linear, nn.ReLU()]
    layers.append(nn.Linear(SIZES[-2], SIZES[-1]))
    return nn.Sequential(*layers)


def step_seconds(model: nn.Module, batch: int, rounds: int = 5, steps: int = 20) -> list[float]:
    x, y = torch.randn(batch, SIZES[0]), torch.randint(0, SIZES[-1], (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(5):
        step()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        out.append((time.perf_counter() - t0) / steps)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--densities", default="0.01,0.001")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print(f"paper MLP {SIZES}, batch {args.batch}, {args.threads} thread(s); best of 5 rounds of 20 steps")
    print(f"{'density':>8} {'dense [ms]':>11} {'sparse [ms]':>12} {'sparse/dense':>13}")
    for density in (float(d) for d in args.densities.split(",")):
        dense, sparse = build(density, False), build(density, True)
        times = {"dense": [], "sparse": []}
        for _ in range(2):  # interleaved, so drift hits both alike
            times["dense"] += step_seconds(dense, args.batch)
            times["sparse"] += step_seconds(sparse, args.batch)
        d, s = min(times["dense"]), min(times["sparse"])
        print(f"{density:>8g} {d * 1e3:>11.2f} {s * 1e3:>12.2f} {s / d:>13.3f}")


if __name__ == "__main__":
    main()
