"""The MLP task: the papers' MLP on image classification, trained by the one :class:`~netsci_dst.train.loop.Trainer`.

Defaults follow [CHT]/[CHTs]/[CHTss] (Zhang et al. 2024-2025) for the MLP on MNIST-like data as the authors' code
runs it (mlp_and_cnn/run.py of biomedical-cybernetics/Cannistraci-Hebb-training at d1677b5): SGD with momentum
0.9, weight decay 5e-4, batch 32, learning rate 0.025 decaying linearly per epoch to 2.5e-4 over the first 90 % of
the epochs (``LinearLR(end_factor=0.01, total_iters=int(0.9 epochs))``, lines 205-206) and constant after, one
topology update per epoch, an evaluation on the test set after every epoch. The method's recipe decides from which
epoch on the best accuracy counts (run.py line 234: after 0.75 of training for EM&S). Every setting can be
overridden.

The epoch-``e`` shuffle comes from a generator seeded with ``(seed, e)`` and the learning rate is a pure function
of the step, so runs resume bit-identically (:mod:`netsci_dst.train.loop`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netsci_dst.errors import DstnetError
from netsci_dst.train.configs import TrainConfig
from netsci_dst.train.loop import Task, Trainer, register_task, topology_text
from netsci_dst.train.settings import pick_device

__all__ = ["MLPTask", "MLPTrainer", "TrainConfig", "evaluate", "learning_rate", "load_data"]


@dataclass
class Data:
    """Flattened, standardised tensors of one dataset on the training device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    calibration: torch.Tensor  # raw [0, 1] training pixels for CSTI

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()).item()) + 1


def load_data(cfg: TrainConfig, device: torch.device) -> Data:
    """Load, flatten and standardise (training mean/std) the configured dataset."""
    from netsci_dst.data.vision import load_vision

    xtr, ytr = load_vision(cfg.dataset, cfg.data_dir, "train", download=cfg.download)
    xte, yte = load_vision(cfg.dataset, cfg.data_dir, "test", download=cfg.download)
    if xtr.shape[1:] != xte.shape[1:]:
        test_size, train_size = ("x".join(map(str, x.shape[1:])) for x in (xte, xtr))
        raise DstnetError(
            f"{cfg.data_dir or 'bundled data'}: the test images are {test_size} but the training images are "
            f"{train_size}; both splits must have one image size"
        )
    if cfg.train_limit:
        xtr, ytr = xtr[: cfg.train_limit], ytr[: cfg.train_limit]
    if cfg.test_limit:
        xte, yte = xte[: cfg.test_limit], yte[: cfg.test_limit]
    raw = torch.tensor(xtr.reshape(len(xtr), -1), dtype=torch.float32) / 255.0
    mean, std = raw.mean(), raw.std().clamp_min(1e-8)
    test = (torch.tensor(xte.reshape(len(xte), -1), dtype=torch.float32) / 255.0 - mean) / std
    return Data(
        ((raw - mean) / std).to(device),
        torch.from_numpy(ytr).to(device),
        test.to(device),
        torch.from_numpy(yte).to(device),
        raw,
    )


def learning_rate(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total_steps``.

    ``lr_decay_fraction = f`` (the authors' ``--linearlr``, ``decay_factor`` 0.9): constant within an epoch,
    ``lr + (lr_end - lr) * min(e, E) / E`` in epoch ``e`` (0-based) with ``E = int(f * epochs)``, so ``lr`` in the
    first epoch and ``lr_end`` from epoch ``E`` on. ``None`` (runs made before dstnet followed the authors' code):
    linear in the step, ``lr`` at step 0 to ``lr_end`` at the last step.
    """
    if cfg.lr_decay_fraction is None:
        frac = step / max(total_steps - 1, 1)
        return cfg.lr + (cfg.lr_end - cfg.lr) * min(frac, 1.0)
    steps_per_epoch = max(1, total_steps // cfg.epochs)
    decay_epochs = int(cfg.epochs * cfg.lr_decay_fraction)
    if decay_epochs <= 0:
        return cfg.lr
    epoch = step // steps_per_epoch
    return cfg.lr + (cfg.lr_end - cfg.lr) * (min(epoch, decay_epochs) / decay_epochs)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy) over a dataset."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch):
        out = model(x[i : i + batch])
        loss += nn.functional.cross_entropy(out, y[i : i + batch], reduction="sum").item()
        correct += int((out.argmax(1) == y[i : i + batch]).sum().item())
    model.train()
    return loss / max(len(x), 1), correct / max(len(x), 1)


def fused_sgd_devices() -> set[str]:
    """The device types for which this torch has a fused SGD kernel, among the CPU and CUDA (CPU from torch 2.4;
    torch lists them in a private helper, so none are assumed where it is missing)."""
    from torch.utils import _foreach_utils

    listed = getattr(_foreach_utils, "_get_fused_kernels_supported_devices", lambda: [])
    return {"cpu", "cuda"} & set(listed())


def momentum_sgd(
    params: Iterable[torch.nn.Parameter], lr: float, momentum: float, weight_decay: float
) -> torch.optim.SGD:
    """SGD with momentum and weight decay (``g += wd * w; b = m * b + g; w -= lr * b``), in one fused kernel where
    this torch has one for the parameters' device (``fused_sgd_devices``), else with ``foreach`` (one call per
    operation over all the parameters instead of one per parameter).

    The fused kernel computes the same update in one pass over the weights instead of four: on the paper's dense
    784-1568-1568-1568-10 MLP at batch 32 (one CPU thread) the optimizer step falls from about 13 ms to 5 ms and the
    whole step from 43 ms to 32 ms (``benchmarks/bench_optimizer.py``); the results differ from ``foreach`` by float
    rounding only (about 1e-8 after 50 steps). A run resumed from a checkpoint keeps the implementation it was
    started with (the optimizer's saved ``fused``/``foreach``)."""
    params = list(params)
    devices = fused_sgd_devices()
    kind = "fused" if all(p.is_floating_point() and p.device.type in devices for p in params) else "foreach"
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **{kind: True})


@register_task
class MLPTask(Task):
    """The MLP of ``cfg.sizes`` (input and output widths from the data) on ``cfg.dataset``, SGD with momentum and
    the method's DST engine; one epoch of shuffled batches between evaluations on the test set."""

    kind = "mlp"
    best_metric = "test_acc"
    best_key = "best_acc"
    best_range = (0.0, 1.0)
    nan_hint = "lower --lr?"

    def __init__(self, cfg: TrainConfig, method: Any = None) -> None:
        from netsci_dst.dst.engine import DSTEngine
        from netsci_dst.dst.methods import get_method
        from netsci_dst.models.mlp import MLP

        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.data = load_data(cfg, self.device)
        sizes = (self.data.x_train.shape[1], *cfg.sizes[1:-1], max(cfg.sizes[-1], self.data.n_classes))
        self.sizes = tuple(int(s) for s in sizes)
        # resuming: the recipe the run was started with, whatever the presets are now
        self.method = method if method is not None else get_method(cfg.method, **cfg.method_overrides)
        torch.manual_seed(cfg.seed)
        self.model = MLP(self.sizes).to(self.device)
        self.optimizer = momentum_sgd(self.model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.data.x_train) / cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.save_every = cfg.save_every
        if method is None and "update_interval" not in cfg.method_overrides:
            self.method = self.method.replace(update_interval=self.steps_per_epoch)
        self.engine = DSTEngine(
            self.model,
            self.optimizer,
            self.method,
            density=cfg.density,
            total_steps=self.total_steps,
            sparse_layers=self.model.sparse_layer_names(),
            data=self.data.calibration,
            seed=cfg.seed,
            backend=cfg.backend,
        )
        self._batches: list[torch.Tensor] = []
        self._batches_epoch = -1

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], **changes: Any) -> MLPTask:
        from netsci_dst.dst.methods import MethodConfig

        train = dict(ckpt["config"]["train"])
        train.update(changes)
        return cls(TrainConfig.from_dict(train), method=MethodConfig.from_dict(dict(ckpt["config"]["method"])))

    def config_dict(self) -> dict[str, Any]:
        return {"train": self.cfg.to_dict(), "method": self.method.to_dict(), "sizes": list(self.sizes)}

    # ------------------------------------------------------------------------------------------- training
    def epoch_batches(self, epoch: int) -> Sequence[torch.Tensor]:
        """Index tensors of the ``batch_size`` chunks of a permutation drawn from a generator seeded with
        ``seed * 1,000,003 + epoch``."""
        if self._batches_epoch != epoch:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            order = torch.randperm(len(self.data.x_train), generator=gen).to(self.device)
            self._batches = list(order.split(self.cfg.batch_size))
            self._batches_epoch = epoch
        return self._batches

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, int, dict[str, float]]:
        x, y = self.data.x_train[batch], self.data.y_train[batch]
        out = self.model(x)
        correct = float((out.argmax(1) == y).sum().item())
        return nn.functional.cross_entropy(out, y), len(y), {"correct": correct}

    def learning_rate(self, step: int) -> float:
        return learning_rate(self.cfg, step, self.total_steps)

    def train_metrics(self, loss_sum: float, n: int, extras: dict[str, float]) -> dict[str, float]:
        return {"train_loss": loss_sum / max(n, 1), "train_acc": extras.get("correct", 0.0) / max(n, 1)}

    # ------------------------------------------------------------------------------------------- evaluation
    def evaluate_now(self, step: int, epoch_ended: bool) -> bool:
        return epoch_ended

    def evaluate(self) -> dict[str, float]:
        test_loss, test_acc = evaluate(self.model, self.data.x_test, self.data.y_test)
        return {"test_loss": test_loss, "test_acc": test_acc}

    def counts_for_best(self, record: dict[str, Any]) -> bool:
        return self.epoch_counts_for_best(int(record["epoch"]) - 1)

    def epoch_counts_for_best(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) counts for the best accuracy (the recipe's ``best_after_fraction``:
        the authors' run.py line 234, ``epoch > 0.75 * epochs`` under EM&S, every epoch otherwise). The last epoch
        always counts, so runs of 4 epochs or fewer have a best too (the authors' rule would leave them none)."""
        fraction = self.method.best_after_fraction
        return fraction == 0 or epoch > fraction * self.cfg.epochs or epoch == self.cfg.epochs - 1

    def check_records(self, records: list[dict[str, Any]], epoch: int, step: int) -> None:
        if len(records) != epoch:
            raise DstnetError(f"corrupt checkpoint: {len(records)} metric records for {epoch} epochs")

    def summary(self, records: list[dict[str, Any]], best: float) -> dict[str, Any]:
        accs = [r["test_acc"] for r in records]
        eligible = [(a, i + 1) for i, a in enumerate(accs) if self.epoch_counts_for_best(i)]
        best_acc, best_epoch = max(eligible, key=lambda pair: (pair[0], -pair[1])) if eligible else (None, None)
        return {
            "method": self.cfg.method,
            "dataset": self.cfg.dataset,
            "sparsity": self.cfg.sparsity,
            "epochs": len(records),
            "final_acc": accs[-1] if accs else None,
            # the authors' convention: the best test accuracy over the epochs that count (see epoch_counts_for_best)
            "best_acc": best_acc,
            "best_epoch": best_epoch,
            "best_after_fraction": self.method.best_after_fraction,
            "aae": sum(accs) / len(accs) if accs else None,  # area across epochs: mean accuracy over epochs
            "anp": records[-1]["anp"] if records else None,
        }

    def format_record(self, r: dict[str, Any]) -> str:
        return (
            f"epoch {r['epoch']:>3}  loss {r['train_loss']:.4f}  train {r['train_acc']:.4f}  "
            f"test {r['test_acc']:.4f}  {topology_text(r)}"
        )


class MLPTrainer(Trainer):
    """``MLPTrainer(cfg, run_dir)``: the one :class:`~netsci_dst.train.loop.Trainer` on an :class:`MLPTask`; its
    :meth:`resume` accepts MLP runs only."""

    task_class = MLPTask

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, method: Any = None) -> None:
        super().__init__(MLPTask(cfg, method), run_dir)
