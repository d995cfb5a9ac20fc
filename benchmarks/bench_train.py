"""Epoch time of dense training (fc) and of each DST method on the paper MLP, side by side with the ratio to fc.

    python benchmarks/bench_train.py                       # paper-sized epochs: 60,000 samples, batch 32
    python benchmarks/bench_train.py --samples 6000 --rounds 3

The papers train on MNIST's 60,000 training images, so an epoch is 1,875 steps of batch 32 ending with one topology
update. Only 6,000 real training digits ship with dstnet, so the benchmark tiles them (10 copies make 60,000
samples: the same per-step work as full MNIST) into IDX files in a temporary folder. Each method is set up for
three epochs and the second is timed (it ends with a topology update). The methods run interleaved, fc first in
every round, and each cell is the best of --rounds rounds, because this machine's speed drifts. The step and
update columns split the epoch: the median optimizer step (forward, backward, masking, step) and the topology
update(s) of the epoch.

Target [issue 5]: every sparse method within 1.15x of fc's epoch time on CPU, topology updates included. Sparse
layers are stored dense with masks (as in the papers' code), so a sparse step costs a dense one plus the gradient
masking, and an epoch adds its topology update.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from netsci_dst.data.bundled import load_bundled
from netsci_dst.data.idx import write_idx
from netsci_dst.train.mlp import MLPTrainer, TrainConfig

METHODS = ["fc", "set", "rigl", "mest", "cht", "chts", "chtss"]


def tiled_mnist(folder: Path, samples: int) -> Path:
    """The bundled training digits repeated to ``samples`` images (and the bundled test split), as IDX files."""
    images, labels = load_bundled("train")
    reps = -(-samples // len(images))
    write_idx(np.concatenate([images] * reps)[:samples], folder / "train-images-idx3-ubyte")
    write_idx(np.concatenate([labels] * reps)[:samples], folder / "train-labels-idx1-ubyte")
    test_images, test_labels = load_bundled("test")
    write_idx(test_images, folder / "t10k-images-idx3-ubyte")
    write_idx(test_labels, folder / "t10k-labels-idx1-ubyte")
    return folder


def epoch_time(method: str, data_dir: Path, sparsity: float, workdir: str) -> tuple[float, float, float]:
    """(epoch seconds, median step seconds, update seconds) of the second epoch."""
    cfg = TrainConfig(
        method=method,
        sparsity=sparsity,
        epochs=3,
        data_dir=str(data_dir),
        test_limit=500,
        progress=False,
        snapshot_masks=False,
        seed=0,
    )
    trainer = MLPTrainer(cfg, f"{workdir}/{method}-{time.perf_counter_ns()}")
    trainer.train(stop_after_epoch=1)  # warm-up epoch (allocations, numba compilation, the first update)
    updates = trainer.engine.n_updates
    update_seconds = [0.0]
    marks: list[float] = []  # the end of every optimizer step: consecutive gaps are whole iterations

    def post(*_):
        marks.append(time.perf_counter())

    original_update = trainer.engine.update

    def timed_update():
        t0 = time.perf_counter()
        rows = original_update()
        update_seconds[0] += time.perf_counter() - t0
        return rows

    trainer.engine.update = timed_update
    hook = trainer.optimizer.register_step_post_hook(post)
    t0 = time.perf_counter()
    trainer.train(stop_after_epoch=2)  # the timed epoch, ending with the second update
    seconds = time.perf_counter() - t0
    hook.remove()
    assert method == "fc" or trainer.engine.frozen or trainer.engine.n_updates == updates + 1
    return seconds, statistics.median(np.diff(marks).tolist()), update_seconds[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=60000, help="training samples per epoch (tiled bundled digits)")
    ap.add_argument("--sparsity", type=float, default=0.99)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    if "fc" not in methods:
        methods.insert(0, "fc")
    best = {m: (float("inf"), 0.0, 0.0) for m in methods}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.samples} samples/epoch "
        f"({-(-args.samples // 32)} steps of batch 32), sparsity {args.sparsity}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = tiled_mnist(Path(tmp), args.samples)
        for _ in range(args.rounds):
            for m in methods:
                best[m] = min(best[m], epoch_time(m, data_dir, args.sparsity, tmp))
    fc_epoch, fc_step, _ = best["fc"]
    print(f"{'method':<7} {'epoch [s]':>10} {'x fc':>6} {'step [ms]':>10} {'x fc':>6} {'update [s]':>11} {'target':>8}")
    for m in methods:
        epoch, step, update = best[m]
        ratio = epoch / fc_epoch
        verdict = "" if m == "fc" else ("ok" if ratio <= 1.15 else "MISS")
        print(
            f"{m:<7} {epoch:>10.2f} {ratio:>6.2f} {step * 1e3:>10.2f} {step / fc_step:>6.2f} {update:>11.3f} "
            f"{verdict:>8}"
        )


if __name__ == "__main__":
    main()
