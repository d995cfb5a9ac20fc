"""The one trainer: a run directory, checkpoints, exact resume, mask snapshots, metrics, the NaN stop, the best
checkpoint and progress, for any model that a :class:`Task` describes.

A task says what is particular to a model and its data: how to build the model, its optimizer and its DST engine;
the batches of each epoch; the loss of a batch; the learning rate of a step; when and how to evaluate; which
evaluation metric picks the best checkpoint; what goes into the summary. The trainer owns everything else, so the
MLP (:mod:`netsci_dst.train.mlp`), the Transformer (:mod:`netsci_dst.train.transformer`) and any new model share
one loop, one checkpoint format and one resume. Density, ANP and overlap come from the engine
(:meth:`~netsci_dst.dst.engine.DSTEngine.topology_metrics`).

The loop, for ``step`` from the checkpoint's to the task's ``total_steps``: take batch ``batch_pos`` of the current
epoch's batches (``task.epoch_batches(epoch)``, a pure function of the seed and the epoch), set the learning rate
``task.learning_rate(step)``, compute the loss (a non-finite loss stops the run), step the optimizer (whose hooks
let the engine mask, count and update the topology), save a mask snapshot after each topology update, and, when
``task.evaluate_now`` says so (and at the last step), evaluate, log a record, and write the checkpoints.

Determinism: batches, learning rates and the engine's generator are functions of the seed and the position, the
global torch RNG state (dropout) travels in the checkpoint, so a run resumed from ``latest.pt`` reaches
bit-identical weights and masks to one that never stopped (on CPU).

Commit order: ``best.pt`` and ``epoch_N.pt`` first, ``latest.pt`` last (the commit), then the metrics line. A
kill before ``latest.pt`` resumes from the previous evaluation and recomputes this one bit-identically; resume
rewinds ``metrics.jsonl`` and the mask snapshots to the checkpoint.
"""

from __future__ import annotations

import math
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from netsci_dst.errors import DstnetError
from netsci_dst.train.checkpoint import (
    checked_int,
    checked_records,
    checked_rng,
    load_checkpoint,
    restored,
    save_checkpoint,
)
from netsci_dst.train.rundir import RunDir

__all__ = ["TASKS", "Task", "TokenizedTask", "Trainer", "register_task", "resume", "task_class", "topology_text"]


class Task(ABC):
    """What the :class:`Trainer` needs to know about one kind of model and data.

    A subclass sets the class attributes, builds ``cfg``, ``method``, ``model``, ``optimizer``, ``engine``,
    ``device`` and ``total_steps`` in its constructor, and implements the abstract methods. Register it with
    :func:`register_task` so that :func:`resume` finds it from a checkpoint's ``kind``.
    """

    #: the checkpoint's ``kind``
    kind: ClassVar[str]
    #: the evaluation metric (a key of :meth:`evaluate`'s result) whose maximum (or minimum) picks ``best.pt``
    best_metric: ClassVar[str]
    #: whether a higher ``best_metric`` is better (accuracy, BLEU) or a lower one (loss, perplexity)
    best_higher: ClassVar[bool] = True
    #: the checkpoint field that stores that maximum, and the range its values may take
    best_key: ClassVar[str]
    best_range: ClassVar[tuple[float, float]]
    #: what a loop-ending non-finite loss suggests to change
    nan_hint: ClassVar[str] = "lower the learning rate?"

    cfg: Any
    method: Any
    model: nn.Module
    optimizer: torch.optim.Optimizer
    engine: Any
    device: torch.device
    total_steps: int
    #: write ``checkpoints/epoch_NNNN.pt`` at every ``save_every``-th evaluation (0: never)
    save_every: int = 0
    #: clip the gradients' global 2-norm to this before each step (0: no clipping)
    grad_clip: float = 0.0

    # ------------------------------------------------------------------------------------------- building
    @classmethod
    @abstractmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], **changes: Any) -> Task:
        """The task of a saved run, built with the configuration and the recipe it started with (``changes`` may
        alter what does not change the run's arithmetic: ``progress``, ``backend``)."""

    @abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """Plain data saved as ``config.json`` and in every checkpoint: enough to rebuild the task."""

    def extra_state(self) -> dict[str, Any]:
        """Further plain data the checkpoint carries (a tokenizer); read back by :meth:`from_checkpoint`."""
        return {}

    # ------------------------------------------------------------------------------------------- training
    @abstractmethod
    def epoch_batches(self, epoch: int) -> Sequence[Any]:
        """The batches of ``epoch`` (0-based), in order: a pure function of the seed and the epoch."""

    @abstractmethod
    def loss(self, batch: Any) -> tuple[torch.Tensor, int, dict[str, float]]:
        """``(mean loss, number of items it averages, summable extras)`` of one training batch (model in train
        mode). The trainer sums ``loss * n``, ``n`` and the extras until the next evaluation."""

    @abstractmethod
    def learning_rate(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based, the number of steps already taken)."""

    def train_metrics(self, loss_sum: float, n: int, extras: dict[str, float]) -> dict[str, float]:
        """The record's training fields from the sums since the last evaluation."""
        return {"train_loss": loss_sum / max(n, 1)}

    # ------------------------------------------------------------------------------------------- evaluation
    @abstractmethod
    def evaluate_now(self, step: int, epoch_ended: bool) -> bool:
        """Whether to evaluate (and checkpoint) after ``step`` steps; the trainer also does at the last step."""

    @abstractmethod
    def evaluate(self) -> dict[str, float]:
        """The evaluation metrics of the current model (restoring train mode after)."""

    def counts_for_best(self, record: dict[str, Any]) -> bool:
        """Whether ``record`` may become the best (the MLP recipes count only late epochs)."""
        return True

    def check_records(self, records: list[dict[str, Any]], epoch: int, step: int) -> None:
        """Refuse (with :class:`DstnetError`) metric records that cannot belong to a checkpoint at this position
        (by default every list of records is accepted)."""
        return None

    @abstractmethod
    def summary(self, records: list[dict[str, Any]], best: float) -> dict[str, Any]:
        """The run's summary from its records (the trainer adds ``seconds`` and ``run_dir``)."""

    def finish(self, run: RunDir) -> dict[str, Any]:
        """Work after the last step, merged into the final summary (the Transformer's test BLEU on best.pt)."""
        return {}

    @abstractmethod
    def format_record(self, record: dict[str, Any]) -> str:
        """One line of progress for an evaluation record."""


class TokenizedTask(Task):
    """A task whose configuration is a dataclass ``config_class`` and whose tokenizer travels in the checkpoint (the
    Transformer and the language model): their shared checkpoint plumbing. The constructor takes
    ``(cfg, tokenizer, method)`` and sets ``tokenizer`` and ``model_config``."""

    config_class: ClassVar[type]
    tokenizer: Any
    model_config: dict[str, Any]

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], **changes: Any) -> Task:
        from netsci_dst.data.translation import SubwordTokenizer
        from netsci_dst.dst.methods import MethodConfig

        train = {**ckpt["config"]["train"], **changes}
        method = MethodConfig.from_dict(dict(ckpt["config"]["method"]))
        return cls(cls.config_class.from_dict(train), SubwordTokenizer.from_str(ckpt["tokenizer"]), method=method)

    def config_dict(self) -> dict[str, Any]:
        return {"train": self.cfg.to_dict(), "method": self.method.to_dict(), "model": dict(self.model_config)}

    def extra_state(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.to_str()}


#: Task classes by checkpoint ``kind``: how :func:`resume` rebuilds any run.
TASKS: dict[str, type[Task]] = {}
#: The modules of dstnet's own tasks, imported (so registered) before a checkpoint's kind is looked up.
BUILTIN_TASKS = ("netsci_dst.train.mlp", "netsci_dst.train.transformer", "netsci_dst.train.lm")


def task_class(kind: str) -> type[Task]:
    """The registered task of checkpoint kind ``kind`` (dstnet's own are loaded on first use)."""
    import importlib

    for module in BUILTIN_TASKS:
        importlib.import_module(module)
    if kind not in TASKS:
        raise DstnetError(f"a {kind!r} checkpoint; dstnet resumes {', '.join(sorted(TASKS))} runs")
    return TASKS[kind]


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make a :class:`Task` resumable by its ``kind``."""
    if cls.kind in TASKS and TASKS[cls.kind] is not cls:
        raise ValueError(f"a task of kind {cls.kind!r} is already registered ({TASKS[cls.kind].__name__})")
    TASKS[cls.kind] = cls
    return cls


def topology_text(record: dict[str, Any]) -> str:
    """The end of every task's progress line: the engine's topology fields and the time of a record."""
    overlap = "-" if record["overlap"] is None else f"{record['overlap']:.3f}"
    return f"density {record['density']:.4f}  ANP {record['anp']:.3f}  overlap {overlap}  {record['seconds']:.1f}s"


def _kind_name(kind: str) -> str:
    return {"mlp": "an MLP run", "transformer": "a Transformer run", "lm": "a language-model run"}.get(
        kind, f"a {kind!r} run"
    )


class Trainer:
    """Train a :class:`Task`'s model with its DST engine; everything lands in a run directory.

    ``Trainer(task, run_dir).train()`` starts a run, :meth:`resume` continues one from its ``latest.pt``. A
    subclass may fix the task class (``task_class``), so ``MLPTrainer.resume`` refuses a Transformer run.
    """

    task_class: ClassVar[type[Task] | None] = None

    def __init__(self, task: Task, run_dir: str | Path) -> None:
        from netsci_dst.train.distributed import init_from_env

        self.task = task
        self.run = RunDir(run_dir)
        # under torchrun: this process's rank; rank 0 alone writes (see netsci_dst.train.distributed)
        self.group = init_from_env(task.device)
        if self.group.active and hasattr(task.engine, "defer_backend_turn"):
            task.engine.defer_backend_turn = True  # "auto" turns on rank 0's masks, in sync_masks
        self.epoch = 0  # epochs completed
        self.batch_pos = 0  # batches of the current epoch done
        self.step = 0
        self.best = self._no_best()
        self.snapshots = 0
        self.records: list[dict[str, Any]] = []
        self._last_step_epoch = 0  # 1-based epoch of the latest step

    def _no_best(self) -> float:
        """The best value before any evaluation: -1 when higher is better (as older checkpoints store), else +inf."""
        return -1.0 if self.task.best_higher else math.inf

    # the task's parts, for users of a trainer
    @property
    def cfg(self) -> Any:
        return self.task.cfg

    @property
    def method(self) -> Any:
        return self.task.method

    @property
    def model(self) -> nn.Module:
        return self.task.model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.task.optimizer

    @property
    def engine(self) -> Any:
        return self.task.engine

    @property
    def device(self) -> torch.device:
        return self.task.device

    # ------------------------------------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """The checkpoint payload (plain data; see docs/checkpoint.md)."""
        return {
            "kind": self.task.kind,
            "epoch": self.epoch,
            "step": self.step,
            "batch_pos": self.batch_pos,
            "model": self.model.state_dict(),
            "optimizer": self.engine.optimizer_state_dict(),
            "engine": self.engine.state_dict(),
            "config": self.task.config_dict(),
            **self.task.extra_state(),
            self.task.best_key: self.best,
            "snapshots": self.snapshots,
            "metrics": list(self.records),
            "rng": {"torch": torch.get_rng_state()},
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        """Restore a checkpoint's state, every field validated first (a tampered checkpoint must not steer a run)."""
        task = self.task
        total = task.total_steps
        step = checked_int(ckpt, "step", 0, total)
        epoch = checked_int(ckpt, "epoch", 0, max(step, 1))
        batch_pos = checked_int(ckpt, "batch_pos", 0, max(step, 1)) if "batch_pos" in ckpt else 0
        snapshots = checked_int(ckpt, "snapshots", 0, total + 1)
        records = checked_records(ckpt)
        task.check_records(records, epoch, step)
        best = ckpt.get(task.best_key)
        low, high = task.best_range
        unset = best == self._no_best() if isinstance(best, (int, float)) else False
        if isinstance(best, bool) or not isinstance(best, (int, float)) or not (unset or low <= best <= high):
            raise DstnetError(f"corrupt checkpoint: {task.best_key} = {best!r} is not in [{low}, {high}]")
        rng = checked_rng(ckpt)
        restored("model", lambda: self.model.load_state_dict(ckpt["model"]))
        restored("optimizer state", lambda: self.engine.load_optimizer_state_dict(ckpt["optimizer"]))
        restored("DST engine state", lambda: self.engine.load_state_dict(ckpt["engine"]))
        self.step, self.epoch, self.batch_pos, self.snapshots = step, epoch, batch_pos, snapshots
        self.records, self.best = records, float(best)
        self._last_step_epoch = epoch + (batch_pos > 0) if step else 0
        torch.set_rng_state(rng)

    @classmethod
    def resume(cls, run_dir: str | Path, **changes: Any) -> Trainer:
        """Rebuild a trainer from ``RUN_DIR/checkpoints/latest.pt`` (:attr:`RunDir.resume_point`) with the task of the
        checkpoint's ``kind`` (``changes`` may only alter ``progress`` and ``backend``: checkpoints resume on either
        backend)."""
        run = RunDir(run_dir)
        point = run.resume_point
        ckpt = load_checkpoint(point)
        kind = ckpt.get("kind")
        expected = cls.task_class
        if expected is not None and kind != expected.kind:
            raise DstnetError(f"{point}: a {kind!r} checkpoint, not {_kind_name(expected.kind)}")
        try:
            task = task_class(kind).from_checkpoint(ckpt, **changes)
        except DstnetError as e:
            raise DstnetError(f"{point}: {e}") from None
        trainer = cls.__new__(cls)
        Trainer.__init__(trainer, task, run_dir)
        try:
            trainer.load_state(ckpt)
        except DstnetError as e:
            raise DstnetError(f"{point}: {e}") from None
        if point == run.best:  # latest.pt absent: only a kill before the first latest.pt leaves nothing beyond best.pt
            logged, snapshots = len(run.read_metrics()), len(run.mask_snapshots())
            if logged > len(trainer.records) or snapshots > trainer.snapshots:
                raise DstnetError(
                    f"{run.latest} is missing and the run went on past best.pt ({logged} evaluations logged, best.pt "
                    f"holds {len(trainer.records)}): resuming from best.pt would discard them; restore latest.pt"
                )
        if trainer.group.main:
            run.rewind(trainer.records, trainer.snapshots)
        trainer.group.barrier()  # nobody trains before the run directory is rewound
        return trainer

    # ------------------------------------------------------------------------------------------- loop
    def train(self, stop_after_epoch: int | None = None, stop_after_step: int | None = None) -> dict[str, Any]:
        """Train to the task's last step, or until ``stop_after_epoch`` epochs / ``stop_after_step`` steps are done
        (then stop at the first evaluation there or after, which writes the checkpoint a resume continues from);
        returns the summary (with the task's final results when done). The run directory is locked for the duration
        (a second process on it is refused)."""
        if not self.group.main:
            return self._train(stop_after_epoch, stop_after_step)
        self.run.create()
        self.run.lock()
        try:
            return self._train(stop_after_epoch, stop_after_step)
        finally:
            self.run.unlock()

    def _snapshot(self) -> None:
        if self.group.main and self.cfg.snapshot_masks and self.engine.masks:
            self.run.save_masks(self.snapshots, self.engine.masks, {"step": self.step, "epoch": self.epoch})
        self.snapshots += 1

    def _stopped(self, stop_after_epoch: int | None, stop_after_step: int | None) -> bool:
        return (stop_after_epoch is not None and self.epoch >= stop_after_epoch) or (
            stop_after_step is not None and self.step >= stop_after_step
        )

    def _train(self, stop_after_epoch: int | None, stop_after_step: int | None) -> dict[str, Any]:
        from tqdm.auto import tqdm

        task, cfg, main = self.task, self.cfg, self.group.main
        if self.step == 0:
            if self.snapshots == 0 and main:
                self.run.check_fresh()
            if main:
                self.run.write_json("config.json", task.config_dict())
            if self.snapshots == 0:
                self._snapshot()
        t_start = time.perf_counter()
        # a bar on a terminal only: redirected, it would fill the log with carriage-return frames
        bar = tqdm(
            total=task.total_steps,
            initial=self.step,
            desc="training",
            unit="step",
            disable=not (cfg.progress and main and sys.stderr.isatty()),
        )
        try:
            self._loop(bar, stop_after_epoch, stop_after_step)
        finally:
            bar.close()
        summary = self.summary(time.perf_counter() - t_start)
        if self.step >= task.total_steps:
            self.group.barrier()  # rank 0 has written best.pt
            summary.update(self.group.from_main(task.finish(self.run) if main else None))
            if main:
                self.run.write_json("summary.json", summary)
        return summary

    def _loop(self, bar: Any, stop_after_epoch: int | None, stop_after_step: int | None) -> None:
        task = self.task
        loss_sum, n_sum, extras, t0 = 0.0, 0, {}, time.perf_counter()
        self.model.train()
        saved = True  # the state is the checkpoint's (or the start): stopping here loses nothing
        while self.step < task.total_steps and not (saved and self._stopped(stop_after_epoch, stop_after_step)):
            batches = task.epoch_batches(self.epoch)
            if self.batch_pos >= len(batches):  # a checkpoint written at an epoch's end by an older dstnet
                self.epoch, self.batch_pos = self.epoch + 1, 0
                continue
            batch = self.group.shard(batches[self.batch_pos])
            lr = task.learning_rate(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            params = [p for p in self.model.parameters() if p.requires_grad]
            if len(batch):
                loss, n, batch_extras = task.loss(batch)
            else:  # more processes than rows in this batch: this one contributes nothing
                loss, n, batch_extras = sum(p.sum() for p in params) * 0.0, 0, {}
            bad = not bool(torch.isfinite(loss))
            if self.group.any(bad):
                where = f" on rank {self.group.rank}" if self.group.active and bad else ""
                self._nan_stop(f"the loss became {loss.item()}{where} at epoch {self.epoch + 1}, step {self.step + 1}")
            updates_before = self.engine.n_updates
            self.optimizer.zero_grad(set_to_none=True)
            # processes averaging their gradients: each loss weighted by its share of the global batch, so the
            # step is the global batch's mean however the rows split
            weight = self.group.share(n)
            (loss * weight if weight != 1.0 else loss).backward()
            self.group.all_reduce_gradients(params, self._dense_gradients())
            if task.grad_clip:  # the norm of the sparse network's gradient, the same on either backend
                self.engine.mask_gradients()
                nn.utils.clip_grad_norm_(self.model.parameters(), task.grad_clip)
            self.optimizer.step()  # the engine's hooks mask, count and update the topology
            saved = False
            self.step += 1
            self.batch_pos += 1
            self._last_step_epoch = self.epoch + 1
            if self.engine.n_updates != updates_before:
                self.group.sync_masks(self.engine)
                self._snapshot()  # labelled with the epoch the update happened in
            epoch_ended = self.batch_pos == len(batches)
            if epoch_ended:
                self.epoch, self.batch_pos = self.epoch + 1, 0
            loss_sum += loss.item() * n
            n_sum += n
            for key, value in batch_extras.items():
                extras[key] = extras.get(key, 0.0) + value
            bar.update(1)
            if self.step % 20 == 0:
                shown = task.train_metrics(loss_sum, n_sum, extras)
                bar.set_postfix({k.removeprefix("train_"): f"{v:.4f}" for k, v in shown.items()}, refresh=False)
            if task.evaluate_now(self.step, epoch_ended) or self.step == task.total_steps:
                loss_sum, n_sum, *sums = self.group.sum([loss_sum, n_sum, *extras.values()])
                train = task.train_metrics(loss_sum, int(n_sum), dict(zip(extras, sums, strict=True)))
                record = self._evaluate(train, lr, time.perf_counter() - t0)
                saved = True
                loss_sum, n_sum, extras, t0 = 0.0, 0, {}, time.perf_counter()
                if self.cfg.progress and self.group.main:
                    bar.write(task.format_record(record))

    def _dense_gradients(self) -> list[torch.Tensor]:
        """The dense gradients the sparse backend's layers captured for the next update (RigL, MEST), which the
        processes must average as they average the parameters' gradients."""
        return [g for g in (getattr(m, "dense_grad", None) for m in self.model.modules()) if g is not None]

    def _nan_stop(self, what: str) -> None:
        last = self.run.latest if self.run.latest.exists() else "none"
        raise DstnetError(f"{what}: training stopped; the last good checkpoint is {last} ({self.task.nan_hint})")

    def _evaluate(self, train: dict[str, float], lr: float, seconds: float) -> dict[str, Any]:
        task = self.task
        metrics = task.evaluate()
        bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad or not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            # never checkpoint a diverged model as the last good one
            what = f"{bad[0]} became {metrics[bad[0]]}" if bad else "a weight became non-finite"
            self._nan_stop(f"{what} at step {self.step}")
        record = {
            "epoch": self._last_step_epoch,
            "step": self.step,
            **train,
            **metrics,
            **self.engine.topology_metrics(),
            "lr": lr,
            "seconds": seconds,
        }
        self.records.append(record)
        value = record[task.best_metric]
        better = value > self.best if task.best_higher else value < self.best
        is_best = task.counts_for_best(record) and better
        if is_best:
            self.best = record[task.best_metric]
        if not self.group.main:
            return record
        state = self.state()
        # latest.pt last, as the commit: a kill before it resumes from the previous evaluation, which recomputes
        # this one bit-identically and writes best.pt and epoch_N.pt again; a kill after it has written them all
        if is_best:
            save_checkpoint(state, self.run.best)
        if task.save_every and len(self.records) % task.save_every == 0:
            save_checkpoint(state, self.run.epoch_checkpoint(self.epoch))
        save_checkpoint(state, self.run.latest)
        self.run.append_metrics(record)
        return record

    def summary(self, seconds: float = 0.0) -> dict[str, Any]:
        """The task's summary of the records so far, with the training time and the run directory."""
        return {**self.task.summary(self.records, self.best), "seconds": seconds, "run_dir": str(self.run.root)}


def resume(run_dir: str | Path, **changes: Any) -> Trainer:
    """Continue any dstnet run from its ``latest.pt`` (:meth:`Trainer.resume`)."""
    return Trainer.resume(run_dir, **changes)
