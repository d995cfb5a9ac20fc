"""Epitopological local minimum (ELM): how much of each update's regrowth merely restores what was removed
[CHT, Zhang et al. ICLR 2024, §3.3].

At update ``t`` a layer loses the links ``R_t`` (removal + percolation) and gains ``A*_t`` (regrowth). The overlap

    O_t = R_t ∩ A*_t,        overlap ratio = |O_t| / |A*_t|

is the fraction of new links that were just taken away. When it exceeds ``theta`` (0.9 in CHT) the topology has
reached an ELM: link prediction keeps proposing the links it already had, so the layer is flagged (CHT's
topological early stop freezes the topology once every layer is flagged).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netsci_dst.analysis.tables import format_table, is_missing
from netsci_dst.errors import DstnetError

__all__ = ["overlap_ratio", "overlap_rows", "first_elm", "elm_report", "format_elm"]


def _flat(idx: Any) -> np.ndarray:
    if hasattr(idx, "detach"):
        idx = idx.detach().cpu().numpy()
    arr = np.asarray(idx)
    if arr.dtype == np.bool_:  # a boolean mask of the layer: its set positions
        return np.flatnonzero(arr)
    arr = arr.ravel()
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise DstnetError("link indices must be integers (flat row-major positions in the mask)")
        arr = arr.astype(np.int64)
    return arr.astype(np.int64, copy=False)


def overlap_ratio(removed_idx: Any, regrown_idx: Any) -> float:
    """``|removed ∩ regrown| / |regrown|`` of two sets of flat (row-major) link indices; NaN when nothing regrew.

    Accepts lists, numpy arrays, torch tensors (like the engine's ``latest[layer]["removed"]``), or boolean masks of
    the layer (their set positions). Duplicates count once.
    """
    removed = np.unique(_flat(removed_idx))
    regrown = np.unique(_flat(regrown_idx))
    if regrown.size == 0:
        return float("nan")
    both = np.intersect1d(removed, regrown, assume_unique=True).size
    return both / regrown.size


def overlap_rows(history: list[dict[str, Any]], theta: float = 0.9) -> list[dict[str, Any]]:
    """One row per update and layer of an engine history with the ELM flag.

    Each row: ``update``, ``step`` (when recorded), ``layer``, ``removed`` and ``regrown`` (link counts),
    ``overlap`` (NaN when nothing regrew) and ``elm`` (``overlap > theta``; NaN gives False). Rows keep the
    history's order.
    """
    if not (0.0 <= theta <= 1.0):
        raise DstnetError(f"theta must be in [0, 1], got {theta}")
    rows = []
    for k, r in enumerate(history):
        try:
            update, layer = r["update"], r["layer"]
        except (KeyError, TypeError):
            raise DstnetError(f"history row {k} lacks 'update'/'layer': {r!r}") from None
        ov = r.get("overlap")
        ov = float("nan") if ov is None else float(ov)
        row: dict[str, Any] = {"update": int(update)}
        if "step" in r:
            row["step"] = int(r["step"])
        row["layer"] = str(layer)
        for key in ("removed", "regrown"):
            if key in r:
                row[key] = int(r[key])
        row["overlap"] = ov
        row["elm"] = bool(not math.isnan(ov) and ov > theta)
        rows.append(row)
    return rows


def first_elm(rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Per layer, the first update whose row (from :func:`overlap_rows`) is flagged, ``None`` if never."""
    out: dict[str, int | None] = {}
    for r in rows:
        out.setdefault(r["layer"], None)
        if r["elm"] and out[r["layer"]] is None:
            out[r["layer"]] = r["update"]
    return out


def elm_report(history: list[dict[str, Any]], theta: float = 0.9) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ELM rows of an engine history (:func:`overlap_rows`) and, per layer, the verdict at the latest update:
    ``layer``, ``update``, ``overlap``, ``elm`` and ``first_elm`` (the first flagged update, ``None`` if never)."""
    rows = overlap_rows(history, theta)
    first = first_elm(rows)
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        latest[r["layer"]] = r
    verdicts = [
        {
            "layer": layer,
            "update": r["update"],
            "overlap": r["overlap"],
            "elm": r["elm"],
            "first_elm": first.get(layer),
        }
        for layer, r in latest.items()
    ]
    return rows, verdicts


def format_elm(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    """The ELM table (one row per update and layer) and one verdict line per layer."""
    columns = [
        c for c in ("update", "step", "layer", "removed", "regrown", "overlap", "elm") if any(c in r for r in rows)
    ]
    lines = [format_table(rows, columns), ""]
    for v in verdicts:
        ov = "-" if is_missing(v["overlap"]) else f"{v['overlap']:.3f}"
        state = "in an epitopological local minimum" if v["elm"] else "not in an epitopological local minimum"
        first = f" (first reached at update {v['first_elm']})" if v["first_elm"] is not None else ""
        lines.append(f"{v['layer']}: overlap {ov} at update {v['update']}: {state}{first}")
    return "\n".join(lines)
