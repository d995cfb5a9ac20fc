"""What ``dstnet analyze`` and ``dstnet plot`` work on: a mask file, a checkpoint or a run directory.

:func:`load_target` reads any of the three into a :class:`Target` that holds the current layer stack and whatever
training record the target carries:

* a **mask/stack file** (``.npz``, edge list, GraphML; :func:`netsci_dst.graph.load`): only the stack;
* a **checkpoint** (``.pt``; :func:`netsci_dst.train.checkpoint.load_checkpoint`): the sparse layers' masks (the
  ``<layer>.weight_mask`` buffers of ``ckpt["model"]``), the engine history (one row per update and layer), the
  per-epoch metrics and the configuration;
* a **run directory** (docs/checkpoint.md): the masks and history of ``checkpoints/latest.pt`` (or the last mask
  snapshot when there is no checkpoint), ``metrics.jsonl`` and the ``masks/update_NNNNN.npz`` snapshots.

What is then done with a target lives with its job: the measures in :mod:`.measures` and :mod:`.report`, their
course over a run's snapshots in :mod:`.evolution`, the ELM verdicts in :mod:`.elm`, tables and JSON in
:mod:`.tables`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Importable from here as before these helpers moved to the modules of their jobs.
from netsci_dst.analysis.elm import elm_report, format_elm
from netsci_dst.analysis.evolution import evolution_rows, evolution_table
from netsci_dst.analysis.measures import compact_measure, format_result
from netsci_dst.analysis.tables import flatten, format_table, json_safe, table_columns, write_csv
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack
from netsci_dst.train.rundir import SNAPSHOT, read_jsonl

__all__ = [
    "Target",
    "load_target",
    "stack_from_checkpoint",
    "snapshot_update",
    "load_snapshot",
    "elm_report",
    "format_elm",
    "evolution_rows",
    "evolution_table",
    "compact_measure",
    "format_result",
    "json_safe",
    "flatten",
    "table_columns",
    "format_table",
    "write_csv",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass
class Target:
    """One analysis target.

    Attributes:
        path: the path as given.
        kind: ``"stack"`` (a mask file), ``"checkpoint"`` or ``"rundir"``.
        stack: the current masks (for a run directory: those of ``checkpoints/latest.pt``, else the last snapshot).
        history: the engine history, one dict per update and layer (``update``, ``step``, ``layer``, ``removed``,
            ``regrown``, ``overlap``, ``links``, ``density``, ...); empty for a mask file.
        metrics: the per-epoch records (``epoch``, ``train_loss``, ``test_acc``, ``density``, ``anp``, ...).
        snapshots: the mask snapshot files of a run directory, in update order.
        config: the run's configuration (``train``, ``method``, ``sizes``) when known.
        checkpoint: the checkpoint file the stack and history came from, if any.
        label: a short name for legends and titles.
    """

    path: Path
    kind: str
    stack: LayerStack
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    label: str = ""

    @property
    def method(self) -> str | None:
        """The DST method preset of a training target (``None`` for a mask file)."""
        method = self.config.get("method")
        if isinstance(method, dict):
            return method.get("name")
        train = self.config.get("train") or {}
        return train.get("method")

    @property
    def has_history(self) -> bool:
        return bool(self.history)

    def describe(self) -> str:
        """One line: what the target is and what it holds."""
        what = {"stack": "mask file", "checkpoint": "checkpoint", "rundir": "run directory"}[self.kind]
        parts = [f"{self.path} ({what}"]
        if self.method:
            parts.append(f", method {self.method}")
        parts.append(f", {len(self.stack)} sparse layer(s), {self.stack.n_links:,} links")
        if self.metrics:
            parts.append(f", {len(self.metrics)} epoch(s)")
        updates = {r["update"] for r in self.history}
        if updates:
            parts.append(f", {len(updates)} update(s)")
        if self.snapshots:
            parts.append(f", {len(self.snapshots)} mask snapshot(s)")
        return "".join(parts) + ")"

    def require_history(self, what: str) -> None:
        """Raise :class:`DstnetError` unless the target carries an engine history (checkpoint or run directory)."""
        if not self.history:
            if self.kind == "stack":
                raise DstnetError(
                    f"{what} needs a checkpoint or a run directory: {self.path} is a mask file with no update history"
                )
            raise DstnetError(f"{what}: {self.path} holds no topology updates yet (empty engine history)")

    def require_snapshots(self, what: str) -> None:
        """Raise :class:`DstnetError` unless the target is a run directory with mask snapshots."""
        if self.kind != "rundir":
            raise DstnetError(f"{what} needs a run directory (with masks/update_*.npz), not a {self.kind} file")
        if not self.snapshots:
            raise DstnetError(f"{what}: {self.path} has no mask snapshots (masks/update_*.npz)")

    def require_metrics(self, what: str) -> None:
        """Raise :class:`DstnetError` unless the target carries per-epoch training metrics."""
        if not self.metrics:
            if self.kind == "stack":
                raise DstnetError(
                    f"{what} needs a run directory or a checkpoint: {self.path} is a mask file with no training metrics"
                )
            raise DstnetError(f"{what}: {self.path} has no training metrics (no epoch completed)")


# --------------------------------------------------------------------------------------------------- loading
def load_target(path: str | os.PathLike) -> Target:
    """Read a mask/stack file, a checkpoint or a run directory (see the module docstring).

    Every failure (no such path, an unreadable or foreign file, a folder that is not a run directory) is a
    :class:`DstnetError` with one line saying which.
    """
    path = Path(path)
    if not path.exists():
        raise DstnetError(f"{path}: no such file or directory")
    if path.is_dir():
        return _load_rundir(path)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return _load_checkpoint_target(path)
    return _load_stack_file(path)


def _load_stack_file(path: Path) -> Target:
    from netsci_dst.graph import load  # the one validating reader of each mask file format

    return Target(path=path, kind="stack", stack=load(path), label=path.stem)


def _load_checkpoint_target(path: Path, label: str | None = None) -> Target:
    from netsci_dst.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    stack = stack_from_checkpoint(ckpt, path)
    from netsci_dst.dst.history import read_history  # the one reader of engine history rows

    engine = ckpt.get("engine") or {}
    history = read_history(engine.get("history", []))
    metrics = [dict(r) for r in ckpt.get("metrics", [])]
    config = ckpt.get("config") or {}
    if label is None:
        label = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
    return Target(
        path=path,
        kind="checkpoint",
        stack=stack,
        history=history,
        metrics=metrics,
        config=dict(config),
        checkpoint=path,
        label=label,
    )


def stack_from_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike = "checkpoint") -> LayerStack:
    """The sparse layers' masks of a loaded checkpoint as a :class:`LayerStack`.

    The masks are the bool ``<layer>.weight_mask`` buffers of ``ckpt["model"]``, ordered as the engine's ``layers``
    (falling back to the model's order). Metadata: ``kind``, ``epoch``, ``step`` and the method name.
    """
    model = ckpt.get("model")
    if not isinstance(model, dict):
        raise DstnetError(f"{path}: the checkpoint holds no model state")
    found = {k[: -len(".weight_mask")]: v for k, v in model.items() if k.endswith(".weight_mask")}
    if not found:
        raise DstnetError(f"{path}: the model has no sparse layers (no '<layer>.weight_mask' buffers)")
    engine = ckpt.get("engine") or {}
    order = [n for n in engine.get("layers", []) if n in found]
    order += [n for n in found if n not in order]
    masks = [np.asarray(found[n].detach().cpu().numpy()).astype(bool) for n in order]
    method = (ckpt.get("config") or {}).get("method", {})
    meta = {
        "kind": ckpt.get("kind"),
        "epoch": int(ckpt.get("epoch", 0)),
        "step": int(ckpt.get("step", 0)),
        "method": method.get("name") if isinstance(method, dict) else method,
    }
    return_chain = _is_chain(engine.get("structure"), order)
    try:
        return LayerStack(masks, order, meta, chain=return_chain)
    except DstnetError as e:
        raise DstnetError(f"{path}: {e}") from None


def _is_chain(structure: Any, order: list[str]) -> bool | None:
    """Whether the engine's percolation structure is the plain chain ``order[0] -> order[1] -> ...`` (an MLP);
    ``None`` (infer from the shapes) for checkpoints without a structure."""
    if not isinstance(structure, dict):
        return None
    chains = [tuple(c) for c in structure.get("chains", [])]
    return not structure.get("coupled") and chains == list(zip(order[:-1], order[1:], strict=False))


def _load_rundir(path: Path) -> Target:
    from netsci_dst.train.rundir import RunDir

    run = RunDir(path)
    snapshots = run.mask_snapshots()
    has_metrics = run.metrics.exists()
    if not (run.latest.exists() or snapshots or has_metrics):
        raise DstnetError(
            f"{path}: not a run directory (no checkpoints/latest.pt, metrics.jsonl or masks/update_*.npz)"
        )
    config = run.read_config()
    metrics = read_jsonl(run.metrics) if has_metrics else []
    if run.latest.exists():
        t = _load_checkpoint_target(run.latest, label=path.name)
        stack, history, checkpoint = t.stack, t.history, run.latest
        config = config or t.config
        metrics = metrics or t.metrics
    elif snapshots:
        stack, history, checkpoint = load_snapshot(snapshots[-1]), [], None
    else:
        raise DstnetError(f"{path}: a run directory without checkpoints/latest.pt or mask snapshots: no masks to read")
    return Target(
        path=path,
        kind="rundir",
        stack=stack,
        history=history,
        metrics=metrics,
        snapshots=snapshots,
        config=config,
        checkpoint=checkpoint,
        label=path.name or str(path),
    )


def snapshot_update(path: str | os.PathLike) -> int:
    """The update number of a snapshot file ``update_NNNNN.npz`` (0: the initial masks)."""
    m = SNAPSHOT.fullmatch(Path(path).name)
    if not m:
        raise DstnetError(f"{path}: not a mask snapshot (expected update_NNNNN.npz)")
    return int(m.group(1))


def load_snapshot(path: str | os.PathLike) -> LayerStack:
    """Read one mask snapshot of a run directory."""
    from netsci_dst.graph import load_npz

    return load_npz(path)
