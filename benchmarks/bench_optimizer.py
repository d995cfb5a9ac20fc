"""The dense paper MLP's training step with the two SGD implementations, side by side in one run.

    python benchmarks/bench_optimizer.py                # one thread, as each paper_scale.sh worker runs
    python benchmarks/bench_optimizer.py --threads 2 --steps 200

The MLP trainer's optimizer (``netsci_dst.train.mlp.momentum_sgd``) is SGD with momentum 0.9 and weight decay 5e-4,
fused into one kernel where torch has one, else ``foreach``. On the dense 784-1568-1568-1568-10 MLP at batch 32
(the fc rows of the papers' table) the update is four passes over 6.2 million weights with ``foreach`` and one when
fused. Each round times both implementations back to back on fresh models; each cell is the median over rounds
(this machine's speed drifts), and the ratio is foreach over fused.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

SIZES = (784, 1568, 1568, 1568, 10)


def step_times(kind: str, steps: int) -> tuple[float, float]:
    """(whole step, optimizer step) median milliseconds over ``steps`` steps of batch 32."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(SIZES, SIZES[1:], strict=False):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=5e-4, **{kind: True})
    x, y = torch.randn(32, SIZES[0]), torch.randint(0, SIZES[-1], (32,))
    whole, update = [], []
    for i in range(steps + 5):
        start = time.perf_counter()
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        before_update = time.perf_counter()
        opt.step()
        end = time.perf_counter()
        if i >= 5:  # warm-up steps left out
            whole.append(end - start)
            update.append(end - before_update)
    return statistics.median(whole) * 1e3, statistics.median(update) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cells: dict[str, list[tuple[float, float]]] = {"foreach": [], "fused": []}
    for _ in range(args.rounds):
        for kind in cells:
            cells[kind].append(step_times(kind, args.steps))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(u for _, u in v)) for k, v in cells.items()}
    print(f"dense MLP {'-'.join(map(str, SIZES))}, batch 32, {args.threads} thread(s), median of {args.rounds} rounds")
    print(f"{'':8} {'step ms':>8} {'update ms':>10}")
    for kind, (whole, update) in med.items():
        print(f"{kind:8} {whole:8.1f} {update:10.1f}")
    ratio = [f / u for f, u in zip(med["foreach"], med["fused"], strict=True)]
    print(f"foreach / fused: step {ratio[0]:.2f}x, update {ratio[1]:.2f}x")


if __name__ == "__main__":
    main()
