"""A run's topology evolution in one small file: what the evolution figure is drawn from, without the masks.

The evolution figure (:mod:`netsci_dst.plot.evolution`) needs, per topology update, the density and the ANP of
every layer (computed from the ``masks/update_NNNNN.npz`` snapshots: megabytes per run) and the engine history
(removed, regrown and their overlap, in ``checkpoints/latest.pt``: tens of megabytes). A run kept in the repository
(:mod:`netsci_dst.train.archive`) has neither, so :func:`write_evolution` stores the figure's data itself (tens of
kilobytes of JSON) as ``evolution.json`` beside the kept ``metrics.jsonl``; :func:`read_evolution` reads a run
directory with its snapshots, or a kept run with that file, and the figure is the same from both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netsci_dst.errors import DstnetError

if TYPE_CHECKING:
    from netsci_dst.analysis.targets import Target

__all__ = ["EVOLUTION_FILE", "EvolutionRecord", "snapshot_series", "evolution_record", "write_evolution",
           "read_evolution"]  # fmt: skip

#: the file of a kept run that holds its evolution (see :func:`write_evolution`)
EVOLUTION_FILE = "evolution.json"
_FORMAT = 1


@dataclass
class EvolutionRecord:
    """What the evolution figure shows of one run.

    Attributes:
        series: per mask snapshot, :func:`snapshot_series`'s rows (density and ANP per layer).
        history: the engine history, one dict per update and layer (``update``, ``step``, ``layer``, ``overlap``,
            ...); empty when the run has no checkpoint.
        metrics: the per-epoch (or per-evaluation) records of ``metrics.jsonl``.
        label: the run's name, the figure's default title.
        has_checkpoint: whether ``history`` was read from a checkpoint (for the note on an empty overlap panel).
    """

    series: list[dict[str, Any]]
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    label: str = ""
    has_checkpoint: bool = True


def _run_config(snapshots: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """The ``config.json`` of the run directory holding the snapshots (``RUN/masks/update_*.npz``), or ``{}``."""
    from netsci_dst.train.rundir import RunDir

    return RunDir(Path(snapshots[0]).parent.parent).read_config()


def snapshot_series(
    snapshots: Sequence[str | os.PathLike], config: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Per mask snapshot: ``update``, ``step``, ``density`` (overall), ``layer_density`` (per layer name), ``anp``
    (overall) and ``anp_parts`` (``{name: rate}`` per neuron layer of a chain, or per unit group of a Transformer;
    both absent for independent layers).

    ``config``: the run's configuration (its ``sizes`` name the neuron layers); read from the run directory's
    ``config.json`` when not given.
    """
    from netsci_dst.analysis.anp import anp, anp_structure, ends_at_output, layer_labels
    from netsci_dst.analysis.targets import load_snapshot, snapshot_update
    from netsci_dst.dst.structures import infer_structure

    if not snapshots:
        return []
    if config is None:
        config = _run_config(snapshots)
    rows = []
    for path in snapshots:
        stack = load_snapshot(path)
        links = sum(int(m.sum()) for m in stack.masks)
        size = sum(m.size for m in stack.masks)
        row: dict[str, Any] = {
            "update": snapshot_update(path),
            "step": stack.meta.get("step"),
            "density": links / size if size else 0.0,
            "layer_density": {n: float(m.mean()) for n, m in zip(stack.names, stack.masks, strict=True)},
        }
        inferred = infer_structure(stack.names)
        if inferred is not None:  # a Transformer: its q/k, v and FFN units, not a chain of its shapes
            a = anp_structure(dict(zip(stack.names, stack.masks, strict=True)), inferred[0])
            row["anp"], row["anp_parts"] = a["overall"], dict(a["per_group"])
        elif stack.is_chain:
            a = anp(stack)
            labels = layer_labels(len(a["per_layer"]), last_is_output=ends_at_output(config, len(stack)))
            row["anp"], row["anp_parts"] = a["overall"], dict(zip(labels, a["per_layer"], strict=True))
        rows.append(row)
    return rows


def evolution_record(target: Target) -> EvolutionRecord:
    """The record of a run-directory :class:`~netsci_dst.analysis.targets.Target` (one with mask snapshots)."""
    target.require_snapshots("the evolution plot")
    return EvolutionRecord(
        series=snapshot_series(target.snapshots, target.config),
        history=list(target.history),
        metrics=list(target.metrics),
        label=target.label,
        has_checkpoint=target.checkpoint is not None,
    )


def write_evolution(record: EvolutionRecord, path: str | os.PathLike) -> Path:
    """Write ``record``'s series and history to ``path`` (JSON, atomically; the metrics stay in ``metrics.jsonl``)."""
    from netsci_dst.analysis.tables import json_safe
    from netsci_dst.fileio import atomic_write

    data = {
        "format": _FORMAT,
        "label": record.label,
        "has_checkpoint": record.has_checkpoint,
        "series": json_safe(record.series),
        "history": json_safe(record.history),
    }
    with atomic_write(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    return Path(path)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _rate(v: Any) -> bool:
    """A density or an ANP: a finite number in [0, 1]."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0


def _rates(d: Any, keys: set[str] | None) -> bool:
    return isinstance(d, dict) and all(map(_rate, d.values())) and (keys is None or set(d) == keys)


def _series_ok(series: Any) -> bool:
    """What :func:`~netsci_dst.plot.evolution.evolution_figure` reads of :func:`snapshot_series` rows: an
    ``update``, rates in [0, 1], and the same layers (and neuron groups) in every row."""
    if not (isinstance(series, list) and all(isinstance(r, dict) for r in series)):
        return False
    if not series:
        return True
    layers = set(series[0].get("layer_density") or ())
    parts = set(series[0]["anp_parts"]) if isinstance(series[0].get("anp_parts"), dict) else None
    for r in series:
        if not (_int(r.get("update")) and (r.get("step") is None or _int(r["step"])) and _rate(r.get("density"))):
            return False
        if not _rates(r.get("layer_density"), layers):
            return False
        with_anp = "anp" in r or "anp_parts" in r
        if with_anp != (parts is not None):
            return False
        if with_anp and not (_rate(r.get("anp")) and _rates(r.get("anp_parts"), parts)):
            return False
    return True


def _history_row(r: Any) -> bool:
    return isinstance(r, dict) and _int(r.get("update")) and isinstance(r.get("layer"), str)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _read_file(run: Path) -> EvolutionRecord:
    from netsci_dst.train.rundir import read_jsonl

    path = run / EVOLUTION_FILE
    try:
        data = json.loads(path.read_text(), parse_constant=_refuse_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: bad JSON, huge integers
        raise DstnetError(f"{path}: not a readable evolution record ({type(e).__name__})") from None
    if not (isinstance(data, dict) and _int(data.get("format")) and data["format"] == _FORMAT):
        raise DstnetError(f"{path}: not an evolution record of format {_FORMAT}")
    series, history = data.get("series"), data.get("history")
    if not _series_ok(series):
        raise DstnetError(
            f"{path}: 'series' must be a list of per-update records (update; density, layer_density and anp_parts in "
            "[0, 1], the same layers in every record)"
        )
    if not (isinstance(history, list) and all(map(_history_row, history))):
        raise DstnetError(f"{path}: 'history' must be a list of per-update, per-layer records (update, layer)")
    metrics = read_jsonl(run / "metrics.jsonl") if (run / "metrics.jsonl").is_file() else []
    return EvolutionRecord(
        series=series,
        history=history,
        metrics=metrics,
        label=str(data.get("label") or run.name),
        has_checkpoint=bool(data.get("has_checkpoint", True)),
    )


def read_evolution(path: str | os.PathLike) -> EvolutionRecord:
    """The evolution of the run at ``path``: a run directory with mask snapshots (computed from them, its
    checkpoint and ``metrics.jsonl``), or a kept run holding :data:`EVOLUTION_FILE`."""
    from netsci_dst.analysis.targets import load_target
    from netsci_dst.train.rundir import RunDir

    run = Path(path)
    if run.is_dir() and not RunDir(run).mask_snapshots():
        if (run / EVOLUTION_FILE).is_file():
            return _read_file(run)
        raise DstnetError(
            f"the evolution plot: {run} has no mask snapshots (masks/update_*.npz) and no {EVOLUTION_FILE} (kept "
            "runs made before it existed have neither)"
        )
    return evolution_record(load_target(run))
