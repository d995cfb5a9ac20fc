"""Plain data out of analysis results: strict JSON, flat table rows, aligned text tables and CSV files.

Analysis results are nested dicts and lists (per-layer rows, per-neuron lists). These helpers turn them into what
a terminal, a spreadsheet or a strict JSON parser can hold; they know nothing about any particular measure.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from netsci_dst.errors import DstnetError

__all__ = [
    "json_safe",
    "flatten",
    "table_columns",
    "format_cell",
    "format_table",
    "is_missing",
    "csv_text",
    "write_csv",
]


def json_safe(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON can hold: NaN/inf become ``None``, numpy/torch scalars and arrays become
    Python numbers and lists, tuples become lists, paths become strings."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, int):
        return obj
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if hasattr(obj, "tolist"):  # numpy arrays, torch tensors
        return json_safe(obj.tolist())
    return str(obj)


def flatten(record: dict[str, Any], max_list: int = 16) -> dict[str, Any]:
    """Flatten a nested result into scalar columns with dotted names.

    Nested dicts give ``outer.inner``; lists of at most ``max_list`` items give ``name.0``, ``name.1``, ... (a list
    of dicts that name their layer with ``layer`` or ``name`` uses that name instead of the index); longer lists
    (per-node values) are left out. Only numbers, strings, booleans and ``None`` survive.
    """
    out: dict[str, Any] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, (list, tuple)):
            if len(value) > max_list:
                return
            for i, v in enumerate(value):
                tag = str(i)
                if isinstance(v, dict):
                    for name_key in ("layer", "name"):
                        if isinstance(v.get(name_key), str):
                            tag = v[name_key]
                            v = {k: x for k, x in v.items() if k != name_key}
                            break
                walk(v, f"{key}.{tag}" if key else tag)
        elif hasattr(value, "as_dict"):
            walk(value.as_dict(), key)
        elif isinstance(value, np.generic):
            walk(value.item(), key)
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value

    walk(record, "")
    return out


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The union of the rows' keys, in first-seen order."""
    cols: dict[str, None] = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)
    return list(cols)


def is_missing(v: Any) -> bool:
    """Whether a cell holds no value: ``None``, NaN or an infinity."""
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def format_cell(v: Any) -> str:
    """One table cell: ``-`` for a missing value, ``yes``/``no`` for booleans, floats to 4 significant digits
    (whole numbers from 1e4 to 1e15 in full), integers in full (exact counts such as CAPs stay exact)."""
    if is_missing(v):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if abs(v) >= 1e4 and abs(v) < 1e15:
            return f"{v:.0f}"
        return f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An aligned text table (numbers right-aligned, NaN and ``None`` as ``-``)."""
    columns = columns or table_columns(rows)
    body = [[format_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[k]) for row in body)) if body else len(c) for k, c in enumerate(columns)]
    lines = [
        "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(columns, widths, strict=True)))
    ]
    for row in body:
        lines.append(
            "  ".join(v.ljust(w) if k == 0 else v.rjust(w) for k, (v, w) in enumerate(zip(row, widths, strict=True)))
        )
    return "\n".join(line.rstrip() for line in lines)


def csv_text(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Rows as CSV text (``None``/NaN as empty cells, CRLF line ends); the header is the union of the rows' keys."""
    columns = columns or table_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if is_missing(r.get(c)) else r.get(c) for c in columns])
    return buffer.getvalue()


def write_csv(rows: list[dict[str, Any]], path: str | os.PathLike, columns: list[str] | None = None) -> Path:
    """Write :func:`csv_text` of the rows to ``path``."""
    path = Path(path)
    try:
        with open(path, "w", newline="") as f:
            f.write(csv_text(rows, columns))
    except OSError as e:
        raise DstnetError(f"{path}: cannot write ({e.strerror or e})") from None
    return path
