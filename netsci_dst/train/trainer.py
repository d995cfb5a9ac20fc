"""The MLP trainer: the papers' training recipe, a run directory, trustworthy checkpoints and exact resume.

Defaults follow [CHT]/[CHTs]/[CHTss] (Zhang et al. 2024-2025) for the MLP on MNIST-like data as the authors' code
runs it (mlp_and_cnn/run.py of biomedical-cybernetics/Cannistraci-Hebb-training at d1677b5): SGD with momentum
0.9, weight decay 5e-4, batch 32, learning rate 0.025 decaying linearly per epoch to 2.5e-4 over the first 90 % of
the epochs (``LinearLR(end_factor=0.01, total_iters=int(0.9 epochs))``, lines 205-206) and constant after, one
topology update per epoch. The method's recipe decides from which epoch on the best accuracy counts (run.py line
234: after 0.75 of training for EM&S). Every setting can be overridden.

Determinism: the epoch-``e`` shuffle comes from a generator seeded with ``(seed, e)``, the learning rate is a pure
function of the step, and the engine's randomness lives in its own generator that travels in the checkpoint. So a
run resumed from its ``latest.pt`` reaches bit-identical weights and masks to one that never stopped (on CPU).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netsci_dst.errors import DstnetError
from netsci_dst.train.checkpoint import (
    checked_int,
    checked_records,
    checked_rng,
    load_checkpoint_of_kind,
    save_checkpoint,
)
from netsci_dst.train.rundir import RunDir


@dataclass
class TrainConfig:
    """Everything that defines an MLP training run (plain values; saved in every checkpoint)."""

    method: str = "chts"
    method_overrides: dict[str, Any] = field(default_factory=dict)
    sparsity: float = 0.99
    sizes: tuple[int, ...] = (784, 1568, 1568, 1568, 10)
    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    epochs: int = 5
    batch_size: int = 32
    lr: float = 0.025
    lr_end: float = 2.5e-4
    lr_decay_fraction: float | None = 0.9
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"
    save_every: int = 0
    snapshot_masks: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        self.sizes = tuple(int(s) for s in self.sizes)
        if not 0.0 <= self.sparsity < 1.0:
            raise DstnetError(f"sparsity must be in [0, 1), got {self.sparsity}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise DstnetError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.lr_end >= 0):
            raise DstnetError(f"learning rates must be positive, got lr={self.lr}, lr_end={self.lr_end}")
        if self.lr_decay_fraction is not None and not (
            isinstance(self.lr_decay_fraction, (int, float)) and 0.0 < self.lr_decay_fraction <= 1.0
        ):
            raise DstnetError(f"lr_decay_fraction must be in (0, 1], got {self.lr_decay_fraction}")
        if self.save_every < 0:
            raise DstnetError(f"save_every must be >= 0, got {self.save_every}")
        check_limits(self, ("train_limit", "test_limit"))
        check_seed(self.seed)
        self.data_dir = resolved(self.data_dir)
        check_backend(self.backend)

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sizes"] = list(self.sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise DstnetError(f"unknown training settings {sorted(unknown)}")
        d = dict(d)
        d.setdefault("lr_decay_fraction", None)  # runs made before it: the per-step decay over all steps
        d.setdefault("backend", "dense")  # runs made before the sparse backend
        return cls(**d)


def resolved(path: str | None) -> str | None:
    """A data folder stored as an absolute path, so a run resumed from another working folder reads the same data."""
    return None if path is None else str(Path(path).expanduser().resolve())


#: Seeds are below this (what numpy's and most DST code's seeds allow; the per-epoch shuffle seed ``seed * 1,000,003 +
#: epoch`` then fits torch's 64-bit generator).
MAX_SEED = 2**32


def check_seed(seed: Any) -> None:
    """Refuse a seed that is not an integer in ``[0, 2**32)``, before anything is built or written."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise DstnetError(f"seed must be an integer in [0, 2**32), got {seed!r}")


def check_limits(cfg: Any, names: tuple[str, ...]) -> None:
    """Refuse a sample limit below 1 (Python slicing would quietly take all but the last few, or nothing)."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise DstnetError(f"{name.replace('_', '-')} must be a positive number of samples, got {value!r}")


def check_backend(backend: str) -> None:
    """Refuse an unknown execution backend (see :data:`netsci_dst.dst.engine.BACKENDS`)."""
    from netsci_dst.dst.engine import BACKENDS

    if backend not in BACKENDS:
        raise DstnetError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA if available, else Apple MPS, else CPU. Anything else is passed to ``torch.device``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise DstnetError(f"unknown device {name!r} ({e})") from None
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise DstnetError(f"device {name!r}: dstnet trains on cpu, cuda, mps or xpu devices")
    available = {
        "cpu": lambda: True,
        "cuda": lambda: torch.cuda.is_available() and (dev.index is None or dev.index < torch.cuda.device_count()),
        "mps": lambda: getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
    }[dev.type]
    if not available():
        what = {"cuda": "CUDA (or that GPU)", "mps": "Apple MPS", "xpu": "an Intel XPU"}.get(dev.type, dev.type)
        raise DstnetError(f"device {name!r} asked for, but {what} is not available here")
    return dev


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


class MLPTrainer:
    """Train the paper MLP with a DST method; everything lands in a run directory.

    Use :meth:`run` for a new run and :meth:`resume` to continue one from its ``latest.pt``.
    """

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, method: Any = None) -> None:
        from netsci_dst.dst.engine import DSTEngine
        from netsci_dst.dst.methods import get_method
        from netsci_dst.models.mlp import MLP

        self.cfg = cfg
        self.run = RunDir(run_dir)
        self.device = pick_device(cfg.device)
        self.data = load_data(cfg, self.device)
        sizes = (self.data.x_train.shape[1], *cfg.sizes[1:-1], max(cfg.sizes[-1], self.data.n_classes))
        self.sizes = tuple(int(s) for s in sizes)
        # resuming: the recipe the run was started with, whatever the presets are now
        self.method = method if method is not None else get_method(cfg.method, **cfg.method_overrides)
        torch.manual_seed(cfg.seed)
        self.model = MLP(self.sizes).to(self.device)
        # foreach: one call per operation over all parameters instead of one per parameter (the same arithmetic,
        # 0.2 ms less Python per step: a tenth of a sparse-backend step)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True
        )
        self.steps_per_epoch = math.ceil(len(self.data.x_train) / cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
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
        self.epoch = 0
        self.step = 0
        self.best_acc = -1.0
        self.snapshots = 0
        self.records: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """The checkpoint payload (plain data; see docs/checkpoint.md)."""
        return {
            "kind": "mlp",
            "epoch": self.epoch,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.engine.optimizer_state_dict(),
            "engine": self.engine.state_dict(),
            "config": {"train": self.cfg.to_dict(), "method": self.method.to_dict(), "sizes": list(self.sizes)},
            "best_acc": self.best_acc,
            "snapshots": self.snapshots,
            "metrics": list(self.records),
            "rng": {"torch": torch.get_rng_state()},
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.engine.load_optimizer_state_dict(ckpt["optimizer"])
        self.engine.load_state_dict(ckpt["engine"])
        self.epoch = checked_int(ckpt, "epoch", 0, self.cfg.epochs)
        self.step = checked_int(ckpt, "step", 0, self.total_steps)
        self.snapshots = checked_int(ckpt, "snapshots", 0, self.total_steps + 1)
        self.records = checked_records(ckpt)
        if len(self.records) != self.epoch:
            raise DstnetError(f"corrupt checkpoint: {len(self.records)} metric records for {self.epoch} epochs")
        self.best_acc = float(ckpt["best_acc"])
        if not (self.best_acc == -1.0 or 0.0 <= self.best_acc <= 1.0):
            raise DstnetError(f"corrupt checkpoint: best_acc = {self.best_acc!r} is not an accuracy")
        torch.set_rng_state(checked_rng(ckpt))

    @classmethod
    def resume(cls, run_dir: str | Path, **changes: Any) -> MLPTrainer:
        """Rebuild a trainer from ``RUN_DIR/checkpoints/latest.pt`` (``changes`` may only alter ``progress`` and
        ``backend``: checkpoints resume on either backend)."""
        from netsci_dst.dst.methods import MethodConfig

        run = RunDir(run_dir)
        ckpt = load_checkpoint_of_kind(run.latest, "mlp", "an MLP run")
        train = dict(ckpt["config"]["train"])
        train.update(changes)
        method = MethodConfig.from_dict(dict(ckpt["config"]["method"]))
        trainer = cls(TrainConfig.from_dict(train), run_dir, method=method)
        trainer.load_state(ckpt)
        run.rewind(trainer.records, trainer.snapshots)
        return trainer

    # ------------------------------------------------------------------------------------------- loop
    def _snapshot(self) -> None:
        if self.cfg.snapshot_masks and self.engine.masks:
            self.run.save_masks(self.snapshots, self.engine.masks, {"step": self.step, "epoch": self.epoch})
        self.snapshots += 1

    def _save(self, is_best: bool) -> None:
        state = self.state()
        # latest.pt last, as the commit: a kill before it resumes from the previous epoch, which recomputes this
        # one bit-identically and writes best.pt and epoch_N.pt again; a kill after it has written them all
        if is_best:
            save_checkpoint(state, self.run.best)
        if self.cfg.save_every and self.epoch % self.cfg.save_every == 0:
            save_checkpoint(state, self.run.epoch_checkpoint(self.epoch))
        save_checkpoint(state, self.run.latest)

    def train(self, stop_after_epoch: int | None = None) -> dict[str, Any]:
        """Train until ``cfg.epochs`` (or ``stop_after_epoch``); returns the summary. The run directory is locked
        for the duration (a second process on it is refused)."""
        self.run.create()
        self.run.lock()
        try:
            return self._train(stop_after_epoch)
        finally:
            self.run.unlock()

    def _train(self, stop_after_epoch: int | None) -> dict[str, Any]:
        from tqdm.auto import tqdm

        if self.epoch == 0 and self.step == 0:
            if self.snapshots == 0:
                self.run.check_fresh()
            self.run.write_json(
                "config.json", {"train": self.cfg.to_dict(), "method": self.method.to_dict(), "sizes": list(self.sizes)}
            )
            if self.snapshots == 0:
                self._snapshot()
        cfg, data = self.cfg, self.data
        last = cfg.epochs if stop_after_epoch is None else min(cfg.epochs, stop_after_epoch)
        t_start = time.perf_counter()
        while self.epoch < last:
            epoch = self.epoch
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            order = torch.randperm(len(data.x_train), generator=gen).to(self.device)
            n_updates_before = self.engine.n_updates
            t0 = time.perf_counter()
            total_loss, correct, seen = 0.0, 0, 0
            bar = tqdm(
                range(self.steps_per_epoch),
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                leave=False,
                disable=not cfg.progress,
                unit="batch",
            )
            for b in bar:
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                x, y = data.x_train[idx], data.y_train[idx]
                for group in self.optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, self.step, self.total_steps)
                out = self.model(x)
                loss = nn.functional.cross_entropy(out, y)
                if not torch.isfinite(loss):
                    raise DstnetError(
                        f"the loss became {loss.item()} at epoch {epoch + 1}, step {self.step}: training stopped; "
                        f"the last good checkpoint is {self.run.latest if self.run.latest.exists() else 'none'} "
                        "(lower --lr?)"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()  # the engine's hooks mask, count and update the topology
                self.step += 1
                total_loss += loss.item() * len(y)
                correct += int((out.argmax(1) == y).sum().item())
                seen += len(y)
                if self.engine.n_updates != n_updates_before:
                    n_updates_before = self.engine.n_updates
                    self._snapshot()
                if b % 20 == 0:
                    bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
            bar.close()
            test_loss, test_acc = evaluate(self.model, data.x_test, data.y_test)
            self.epoch += 1
            record = self._metrics(
                epoch + 1, total_loss / seen, correct / seen, test_loss, test_acc, time.perf_counter() - t0
            )
            self.records.append(record)
            is_best = self._counts_for_best(epoch) and test_acc > self.best_acc
            if is_best:
                self.best_acc = test_acc
            self._save(is_best)  # the checkpoint first: a kill after it loses nothing
            self.run.append_metrics(record)
            if cfg.progress:
                print(_format_record(record), flush=True)
        summary = self.summary(time.perf_counter() - t_start)
        if self.epoch >= cfg.epochs:
            self.run.write_json("summary.json", summary)
        return summary

    def _metrics(
        self, epoch: int, loss: float, acc: float, test_loss: float, test_acc: float, seconds: float
    ) -> dict[str, Any]:
        from netsci_dst.analysis.anp import anp

        masks = self.engine.masks
        if masks:
            names = list(masks)
            nnz = sum(int(masks[n].sum()) for n in names)
            size = sum(masks[n].numel() for n in names)
            anp_rate = anp([masks[n].cpu().numpy() for n in names])["overall"]
        else:
            nnz = size = 1
            anp_rate = 1.0
        overlap = self.engine.last_update_summary().get("overlap")
        if overlap is not None and not math.isfinite(overlap):
            overlap = None  # nothing regrew in the last update
        return {
            "epoch": epoch,
            "step": self.step,
            "train_loss": loss,
            "train_acc": acc,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "density": nnz / size,
            "anp": anp_rate,
            "overlap": overlap,
            "updates": self.engine.n_updates,
            "frozen": bool(self.engine.frozen),
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
        }

    def _counts_for_best(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) counts for the best accuracy (the recipe's ``best_after_fraction``:
        the authors' run.py line 234, ``epoch > 0.75 * epochs`` under EM&S, every epoch otherwise). The last epoch
        always counts, so runs of 4 epochs or fewer have a best too (the authors' rule would leave them none)."""
        fraction = self.method.best_after_fraction
        return fraction == 0 or epoch > fraction * self.cfg.epochs or epoch == self.cfg.epochs - 1

    def summary(self, seconds: float = 0.0) -> dict[str, Any]:
        records = self.records
        accs = [r["test_acc"] for r in records]
        eligible = [(a, i + 1) for i, a in enumerate(accs) if self._counts_for_best(i)]
        best, best_epoch = max(eligible, key=lambda pair: (pair[0], -pair[1])) if eligible else (None, None)
        return {
            "method": self.cfg.method,
            "dataset": self.cfg.dataset,
            "sparsity": self.cfg.sparsity,
            "epochs": len(records),
            "final_acc": accs[-1] if accs else None,
            # the authors' convention: the best test accuracy over the epochs that count (see _counts_for_best)
            "best_acc": best,
            "best_epoch": best_epoch,
            "best_after_fraction": self.method.best_after_fraction,
            "aae": sum(accs) / len(accs) if accs else None,  # area across epochs: mean accuracy over epochs
            "anp": records[-1]["anp"] if records else None,
            "seconds": seconds,
            "run_dir": str(self.run.root),
        }


def _format_record(r: dict[str, Any]) -> str:
    overlap = "-" if r["overlap"] is None else f"{r['overlap']:.3f}"
    return (
        f"epoch {r['epoch']:>3}  loss {r['train_loss']:.4f}  train {r['train_acc']:.4f}  "
        f"test {r['test_acc']:.4f}  density {r['density']:.4f}  ANP {r['anp']:.3f}  overlap {overlap}  "
        f"{r['seconds']:.1f}s"
    )
