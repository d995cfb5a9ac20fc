"""The record of one layer's share of one topology update: the rows of ``DSTEngine.history``, of a checkpoint's
engine state, and of the ELM analysis.

A row (:class:`LayerUpdate`, plain data, so it goes into checkpoints and JSON as it is):

==============  ======================================================================================================
``update``      the update's number (1, 2, ...)
``step``        the optimizer step it ran at
``layer``       the sparse layer's name
``pruned``      links pruned by the density schedule (EM&S, sigmoid decay) before the regular removal
``removed``     links gone by the update: pruned, removed by the rule and percolated (the ELM's ``R_t``)
``percolated``  links removed by network percolation (inactive neurons, incomplete paths)
``regrown``     links added by regrowth (``A*_t``)
``both``        links removed and regrown by the same update (``|R_t ∩ A*_t|``)
``overlap``     ``both / regrown``, the overlap ratio of the epitopological local minimum [CHT]; NaN if none regrew
``links``       links after the update; ``density``: links over the layer's size
``active_in``   input neurons with a link after the update; ``active_out``: output neurons with one
==============  ======================================================================================================

Rows written before ``both`` was recorded are completed by :func:`read_history` from the overlap ratio (exact: the
ratio was ``both / regrown`` with ``both <= regrown``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypedDict

from netsci_dst.errors import DstnetError

__all__ = ["LayerUpdate", "layer_update", "read_history", "update_totals"]


class LayerUpdate(TypedDict):
    """One row of an engine history (see the module docstring for each field)."""

    update: int
    step: int
    layer: str
    pruned: int
    removed: int
    percolated: int
    regrown: int
    both: int
    overlap: float
    links: int
    density: float
    active_in: int
    active_out: int


_INTS = ("update", "step", "pruned", "removed", "percolated", "regrown", "both", "links", "active_in", "active_out")


def layer_update(
    update: int,
    step: int,
    layer: str,
    *,
    pruned: int,
    removed: int,
    percolated: int,
    regrown: int,
    both: int,
    links: int,
    cells: int,
    active_in: int,
    active_out: int,
) -> LayerUpdate:
    """A :class:`LayerUpdate`; ``overlap`` and ``density`` (``links / cells``) are derived here, nowhere else."""
    return LayerUpdate(
        update=int(update),
        step=int(step),
        layer=str(layer),
        pruned=int(pruned),
        removed=int(removed),
        percolated=int(percolated),
        regrown=int(regrown),
        both=int(both),
        overlap=both / regrown if regrown else float("nan"),
        links=int(links),
        density=links / cells,
        active_in=int(active_in),
        active_out=int(active_out),
    )


def _number(row: dict[str, Any], key: str, k: int, integer: bool) -> Any:
    value = row.get(key)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and value != int(value)):
        raise DstnetError(f"corrupt history: row {k} has {key} = {value!r}, not a number")
    return int(value) if integer else float(value)


def read_history(rows: Any) -> list[LayerUpdate]:
    """Validate the history rows of a checkpoint (or any other source) into :class:`LayerUpdate` rows.

    Requires ``update``, ``layer``, ``removed`` and ``regrown``; other fields missing from rows of older
    checkpoints are completed (``both`` from the overlap ratio, counts as 0). A row that is not a dict, or a field
    of the wrong type, raises one :class:`DstnetError` line.
    """
    if not isinstance(rows, (list, tuple)):
        raise DstnetError(f"corrupt history: a list of rows expected, got {type(rows).__name__}")
    out: list[LayerUpdate] = []
    for k, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DstnetError(f"corrupt history: row {k} is {type(row).__name__}, not a record")
        missing = [key for key in ("update", "layer", "removed", "regrown") if key not in row]
        if missing:
            raise DstnetError(f"corrupt history: row {k} lacks {', '.join(missing)}")
        regrown = _number(row, "regrown", k, True)
        if "both" in row:
            both = _number(row, "both", k, True)
        else:
            ratio = _number(row, "overlap", k, False) if row.get("overlap") is not None else math.nan
            both = round(ratio * regrown) if regrown and math.isfinite(ratio) else 0
        if not 0 <= both <= regrown:
            raise DstnetError(f"corrupt history: row {k} has both = {both} outside [0, regrown = {regrown}]")
        fields = {key: _number(row, key, k, True) if key in row else 0 for key in _INTS}
        fields.update(regrown=regrown, both=both)
        density = _number(row, "density", k, False) if row.get("density") is not None else math.nan
        record = LayerUpdate(
            **{key: fields[key] for key in ("update", "step")},
            layer=str(row["layer"]),
            **{key: fields[key] for key in ("pruned", "removed", "percolated", "regrown", "both")},
            overlap=both / regrown if regrown else float("nan"),
            links=fields["links"],
            density=density,
            active_in=fields["active_in"],
            active_out=fields["active_out"],
        )
        out.append(record)
    return out


def update_totals(rows: Iterable[LayerUpdate], cells: dict[str, int]) -> dict[str, Any]:
    """One update over all its layers: ``removed``, ``regrown``, ``both``, ``overlap`` (of all layers together),
    ``links`` and ``density`` (over the layers' ``cells``)."""
    rows = list(rows)
    regrown = sum(r["regrown"] for r in rows)
    both = sum(r["both"] for r in rows)
    links = sum(r["links"] for r in rows)
    return {
        "update": rows[0]["update"],
        "step": rows[0]["step"],
        "removed": sum(r["removed"] for r in rows),
        "regrown": regrown,
        "both": both,
        "overlap": both / regrown if regrown else float("nan"),
        "links": links,
        "density": links / sum(cells[r["layer"]] for r in rows),
    }
