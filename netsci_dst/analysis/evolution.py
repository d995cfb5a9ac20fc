"""How a run's topology evolves: the chosen measures on every mask snapshot of a run directory.

A training run writes ``RUN_DIR/masks/update_NNNNN.npz`` after each topology update (``00000``: the initial masks;
:class:`netsci_dst.train.rundir.RunDir`), each carrying ``step`` and ``epoch`` in its metadata. :func:`evolution`
reads them in update order and runs :func:`netsci_dst.analysis.report.report` on each, so every row holds the
same measure results a one-off report would, plus the epoch's training record from ``metrics.jsonl`` when there is
one. :func:`evolution_table` flattens those rows into one table row per snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netsci_dst.analysis.measures import MEASURES, compact_measure
from netsci_dst.analysis.report import report, resolve_measures
from netsci_dst.errors import DstnetError
from netsci_dst.graph import load_npz
from netsci_dst.train.rundir import SNAPSHOT, RunDir, read_jsonl

if TYPE_CHECKING:
    from netsci_dst.analysis.targets import Target

__all__ = ["DEFAULT_MEASURES", "snapshots", "evolution", "evolution_rows", "evolution_table"]

DEFAULT_MEASURES: tuple[str, ...] = ("summary", "anp", "powerlaw", "cap", "clustering")


def snapshots(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(update, path)`` of every mask snapshot of a run directory, in update order."""
    root = Path(run_dir)
    if not root.is_dir():
        raise DstnetError(f"{root}: not a directory")
    return [(int(SNAPSHOT.fullmatch(p.name).group(1)), p) for p in RunDir(root).mask_snapshots()]


def _metrics_by_step(run_dir: Path) -> dict[int, dict[str, Any]]:
    """Epoch records keyed by the optimizer step at which they were taken (see :func:`_record_for`)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return {}
    return {rec["step"]: rec for rec in read_jsonl(path) if isinstance(rec.get("step"), int)}


def _record_for(step: Any, next_step: Any, record_steps: list[int], metrics: dict[int, dict[str, Any]]):
    """The evaluation made with exactly a snapshot's masks: the first record at or after the snapshot's step and
    before the next snapshot's. The trainer updates on an epoch's last step, before that epoch's evaluation, so
    the initial masks (replaced before any evaluation) get none."""
    if not isinstance(step, int):
        return None
    end = next_step if isinstance(next_step, int) else float("inf")
    return next((metrics[s] for s in record_steps if step <= s < end), None)


def evolution(
    run_dir: str | os.PathLike,
    measures: str | Iterable[str] = DEFAULT_MEASURES,
    *,
    every: int = 1,
    updates: Iterable[int] | None = None,
    with_metrics: bool = True,
    progress: bool = False,
    **report_options: Any,
) -> list[dict[str, Any]]:
    """One row per mask snapshot of a run directory with the chosen measures.

    Args:
        run_dir: the run directory (``masks/update_NNNNN.npz`` inside).
        measures: as for :func:`~netsci_dst.analysis.report.report` (default: summary, anp, powerlaw, cap,
            clustering; ``"all"`` adds the slower whole-network measures).
        every: keep every ``every``-th snapshot (the first and the last always stay).
        updates: only these update indices.
        with_metrics: attach the training record (``metrics.jsonl``) of the snapshot's epoch as ``metrics``.
        progress: show a progress bar over the snapshots (stderr).
        report_options: passed on to :func:`~netsci_dst.analysis.report.report` (``seed``, ``top``, ``modes``, ...).

    Returns:
        Rows ``{"update", "step", "epoch", "file", <measure>: result, ..., "metrics": record or None}`` in update
        order (``step``/``epoch`` from the snapshot metadata, ``None`` when absent).
    """
    names = resolve_measures(measures)
    if every < 1:
        raise DstnetError(f"every must be a positive integer, got {every}")
    root = Path(run_dir)
    found = snapshots(root)
    if not found:
        raise DstnetError(f"{root}: no mask snapshots (masks/update_NNNNN.npz)")
    if updates is not None:
        wanted = {int(u) for u in updates}
        missing = sorted(wanted - {u for u, _ in found})
        if missing:
            raise DstnetError(f"{root}: no snapshot for update(s) {missing}")
        found = [(u, p) for u, p in found if u in wanted]
    if every > 1:
        found = [f for k, f in enumerate(found) if k % every == 0 or k == len(found) - 1]
    metrics = _metrics_by_step(root) if with_metrics else {}
    record_steps = sorted(metrics)
    snapshot_steps = [load_npz(p).meta.get("step") for _, p in found] if with_metrics else []
    from tqdm.auto import tqdm

    rows = []
    for k, (update, path) in enumerate(tqdm(found, desc="snapshots", unit="update", disable=not progress, leave=False)):
        stack = load_npz(path)
        meta = stack.meta or {}
        row: dict[str, Any] = {
            "update": update,
            "step": meta.get("step"),
            "epoch": meta.get("epoch"),
            "file": path.name,
        }
        result = report(stack, names, **report_options)
        for name in names:
            row[name] = result[name]
        if with_metrics:
            nxt = snapshot_steps[k + 1] if k + 1 < len(snapshot_steps) else None
            row["metrics"] = _record_for(meta.get("step"), nxt, record_steps, metrics)
        rows.append(row)
    return rows


def evolution_rows(target: Target, measures: list[str], seed: int = 0, **options: Any) -> list[dict[str, Any]]:
    """:func:`evolution` of a run-directory :class:`~netsci_dst.analysis.targets.Target`: one row per mask snapshot,
    in update order; a clear error for a target without snapshots."""
    from netsci_dst.analysis.anp import ends_at_output

    target.require_snapshots("tracking measures over training")
    if target.stack is not None and target.stack.is_chain:  # the ANP table's names: is the last layer the output?
        options.setdefault("last_is_output", ends_at_output(target.config, len(target.stack)))
    return evolution(target.path, measures, seed=seed, **options)


def evolution_table(
    rows: list[dict[str, Any]],
    history: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Flat table rows from :func:`evolution`: ``update``, ``step``, the compact measure columns
    (:func:`~netsci_dst.analysis.measures.compact_measure`), the ELM ``overlap.<layer>`` of that update from the
    engine history, and ``test_acc``: the accuracy measured with exactly these masks (see :func:`evolution`; none
    for masks replaced before any evaluation, such as the initial ones)."""
    overlaps: dict[int, dict[str, Any]] = {}
    for h in history or []:
        overlaps.setdefault(int(h["update"]), {})[f"overlap.{h['layer']}"] = h.get("overlap")
    table = []
    for r in rows:
        flat: dict[str, Any] = {"update": r["update"], "step": r.get("step")}
        for name in MEASURES:
            if name in r:
                flat.update(compact_measure(name, r[name]))
        if history:
            flat.update(overlaps.get(int(r["update"]), {}))
        if "metrics" in r:
            flat["test_acc"] = r["metrics"].get("test_acc") if r["metrics"] else None
        table.append(flat)
    return table
