"""What ``dstnet analyze`` and ``dstnet plot`` work on: a mask file, a checkpoint or a run directory.

:func:`load_target` reads any of the three into a :class:`Target` that holds the current layer stack and whatever
training record the target carries:

* a **mask/stack file** (``.npz``, edge list, GraphML; :func:`netsci_dst.graph.load`): only the stack;
* a **checkpoint** (``.pt``; :func:`netsci_dst.train.checkpoint.load_checkpoint`): the sparse layers' masks (the
  ``<layer>.weight_mask`` buffers of ``ckpt["model"]``), the engine history (one row per update and layer), the
  per-epoch metrics and the configuration;
* a **run directory** (docs/checkpoint.md): the masks and history of ``checkpoints/latest.pt`` (or the last mask
  snapshot when there is no checkpoint), ``metrics.jsonl`` and the ``masks/update_NNNNN.npz`` snapshots.

Also here: small helpers that turn nested analysis results into flat table rows (for the evolution table and its
CSV) and replace non-finite floats so results can be written as strict JSON.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack
from netsci_dst.train.rundir import read_jsonl

__all__ = [
    "Target",
    "load_target",
    "stack_from_checkpoint",
    "snapshot_update",
    "load_snapshot",
    "json_safe",
    "flatten",
    "table_columns",
    "format_table",
    "write_csv",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth")
_SNAPSHOT = re.compile(r"update_(\d+)\.npz$")


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
    from netsci_dst.graph import load

    try:
        stack = load(path)
    except DstnetError:
        raise
    except Exception as e:  # parsers raise assorted errors on foreign files
        raise DstnetError(f"{path}: unreadable mask file ({e.__class__.__name__}: {e})") from None
    return Target(path=path, kind="stack", stack=stack, label=path.stem)


def _load_checkpoint_target(path: Path, label: str | None = None) -> Target:
    from netsci_dst.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    stack = stack_from_checkpoint(ckpt, path)
    engine = ckpt.get("engine") or {}
    history = [_plain_row(r) for r in engine.get("history", [])]
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
    snapshots = sorted(run.mask_snapshots(), key=snapshot_update)
    has_metrics = run.metrics.exists()
    if not (run.latest.exists() or snapshots or has_metrics):
        raise DstnetError(
            f"{path}: not a run directory (no checkpoints/latest.pt, metrics.jsonl or masks/update_*.npz)"
        )
    config: dict[str, Any] = {}
    if (path / "config.json").exists():
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DstnetError(f"{path / 'config.json'}: unreadable ({e})") from None
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


def _plain_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v) for k, v in row.items()}


def snapshot_update(path: str | os.PathLike) -> int:
    """The update number of a snapshot file ``update_NNNNN.npz`` (0: the initial masks)."""
    m = _SNAPSHOT.search(Path(path).name)
    if not m:
        raise DstnetError(f"{path}: not a mask snapshot (expected update_NNNNN.npz)")
    return int(m.group(1))


def load_snapshot(path: str | os.PathLike) -> LayerStack:
    """Read one mask snapshot of a run directory."""
    from netsci_dst.graph import load_npz

    return load_npz(path)


# --------------------------------------------------------------------------------------------------- tables
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


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        if abs(v) >= 1e4 and abs(v) < 1e15:
            return f"{v:.0f}"
        return f"{v:.4g}"
    return str(v)  # integers in full: exact counts (CAPs) stay exact and greppable


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An aligned text table (numbers right-aligned, NaN and ``None`` as ``-``)."""
    columns = columns or table_columns(rows)
    body = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[k]) for row in body)) if body else len(c) for k, c in enumerate(columns)]
    lines = [
        "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(columns, widths, strict=True)))
    ]
    for row in body:
        lines.append(
            "  ".join(v.ljust(w) if k == 0 else v.rjust(w) for k, (v, w) in enumerate(zip(row, widths, strict=True)))
        )
    return "\n".join(line.rstrip() for line in lines)


def write_csv(rows: list[dict[str, Any]], path: str | os.PathLike, columns: list[str] | None = None) -> Path:
    """Write rows as CSV (``None``/NaN as empty cells); the header is the union of the rows' keys."""
    path = Path(path)
    columns = columns or table_columns(rows)
    try:
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for r in rows:
                writer.writerow(["" if _missing(r.get(c)) else r.get(c) for c in columns])
    except OSError as e:
        raise DstnetError(f"{path}: cannot write ({e.strerror or e})") from None
    return path


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def format_result(name: str, value: Any) -> str:
    """Human-readable text of one measure's result for the terminal.

    The per-layer summary uses :func:`netsci_dst.analysis.degree.format_summary`; a list of per-layer dicts becomes
    a table (one row per layer, nested values flattened, per-node lists left out); anything else becomes
    ``key: value`` lines of its flattened scalars.
    """
    from netsci_dst.analysis.degree import LayerSummary, format_summary

    if isinstance(value, list) and value and all(isinstance(v, LayerSummary) for v in value):
        return format_summary(value)
    if name == "summary" and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        try:
            return format_summary([LayerSummary(**v) for v in value])
        except TypeError:
            pass
    if name == "anp" and isinstance(value, dict) and "per_layer" in value:
        from netsci_dst.plot.hyperbolic import layer_labels

        labels = layer_labels(len(value["per_layer"]))
        rows = [
            {"neuron layer": lab, "active": a, "neurons": n, "ANP": rate}
            for lab, a, n, rate in zip(labels, value["active"], value["sizes"], value["per_layer"], strict=True)
        ]
        rows.append(
            {
                "neuron layer": "all",
                "active": sum(value["active"]),
                "neurons": sum(value["sizes"]),
                "ANP": value["overall"],
            }
        )
        return format_table(rows)
    if name == "powerlaw" and isinstance(value, list):
        rows = []
        for r in value:
            for side in ("inputs", "outputs"):
                fit = r.get(side) or {}
                exp, logn = fit.get("vs_exponential") or {}, fit.get("vs_lognormal") or {}
                rows.append(
                    {
                        "layer": r.get("layer"),
                        "neurons": side,
                        "gamma": fit.get("gamma"),
                        "xmin": fit.get("xmin"),
                        "KS": fit.get("ks"),
                        "n_tail": fit.get("n_tail"),
                        "capped": fit.get("capped"),
                        "R_exp": exp.get("R"),
                        "p_exp": exp.get("p"),
                        "R_lognormal": logn.get("R"),
                        "p_lognormal": logn.get("p"),
                        "note": fit.get("reason") or ("not a power law" if fit.get("capped") else ""),
                    }
                )
        return format_table(rows)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        rows = [flatten(v, max_list=4) for v in value]
        return format_table(rows)
    if isinstance(value, dict):
        flat = flatten(value, max_list=2)
        if not flat:
            return "(no scalar values)"
        width = max(len(k) for k in flat)
        return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in flat.items())
    return _cell(value)


# --------------------------------------------------------------------------------------------------- ELM
def elm_report(history: list[dict[str, Any]], theta: float = 0.9) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ELM rows of an engine history (:func:`netsci_dst.analysis.elm.overlap_rows`) and, per layer, the verdict
    at the latest update: ``layer``, ``update``, ``overlap``, ``elm`` and ``first_elm`` (the first flagged update,
    ``None`` if never)."""
    from netsci_dst.analysis.elm import first_elm, overlap_rows

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
        ov = "-" if _missing(v["overlap"]) else f"{v['overlap']:.3f}"
        state = "in an epitopological local minimum" if v["elm"] else "not in an epitopological local minimum"
        first = f" (first reached at update {v['first_elm']})" if v["first_elm"] is not None else ""
        lines.append(f"{v['layer']}: overlap {ov} at update {v['update']}: {state}{first}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------- evolution
def evolution_rows(target: Target, measures: list[str], seed: int = 0, **options: Any) -> list[dict[str, Any]]:
    """The chosen measures on every mask snapshot of a run-directory target
    (:func:`netsci_dst.analysis.evolution.evolution`): one row per snapshot, in update order."""
    from netsci_dst.analysis.evolution import evolution

    target.require_snapshots("tracking measures over training")
    return evolution(target.path, measures, seed=seed, **options)


def compact_measure(name: str, value: Any) -> dict[str, Any]:
    """A few scalar columns that summarise one measure's result (for tables over snapshots).

    summary: total ``links`` and ``density.<layer>``; anp: ``anp`` (overall); powerlaw: ``gamma_in.<layer>`` and
    ``gamma_out.<layer>``; cap: ``cap`` and ``cap_hub_share``; clustering: ``square.<layer>`` and
    ``l3_closure.<layer>``; community: ``modularity``, ``modularity_random``, ``communities``; paths: ``L``;
    hyperbolic: ``asi``, ``asi_random`` and ``embedding_gamma``. A skipped measure gives no columns; an unknown one
    its flattened scalars.
    """
    if isinstance(value, dict) and "skipped" in value:
        return {}
    out: dict[str, Any] = {}
    if name == "summary":
        out["links"] = sum(int(r["links"]) for r in value)
        out.update({f"density.{r['name']}": r["density"] for r in value})
    elif name == "anp":
        out["anp"] = value.get("overall")
    elif name == "powerlaw":
        for r in value:
            out[f"gamma_in.{r['layer']}"] = (r.get("inputs") or {}).get("gamma")
            out[f"gamma_out.{r['layer']}"] = (r.get("outputs") or {}).get("gamma")
    elif name == "cap":
        out["cap"] = value.get("count")
        out["cap_hub_share"] = value.get("hub_share")
    elif name == "clustering":
        for r in value:
            square = r.get("square")
            out[f"square.{r['layer']}"] = square.get("mean") if isinstance(square, dict) else square
            out[f"l3_closure.{r['layer']}"] = r.get("l3_closure")
    elif name == "community":
        out["modularity"] = value.get("q")
        out["modularity_random"] = value.get("baseline_q")
        out["communities"] = value.get("n_communities")
    elif name == "paths":
        out["L"] = value.get("L")
    elif name == "hyperbolic":
        out["asi"] = value.get("asi")
        out["asi_random"] = value.get("baseline_asi")
        out["embedding_gamma"] = value.get("gamma")
    else:
        out = {
            f"{name}.{k}" if k else name: v
            for k, v in flatten({"": value} if not isinstance(value, dict) else value).items()
        }
    return out


def evolution_table(
    rows: list[dict[str, Any]],
    history: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Flat table rows from :func:`evolution_rows`: ``update``, ``step``, the compact measure columns
    (:func:`compact_measure`), the ELM ``overlap.<layer>`` of that update from the engine history, and
    ``test_acc``: the accuracy measured with exactly these masks (see :func:`netsci_dst.analysis.evolution.evolution`;
    none for masks replaced before any evaluation, such as the initial ones)."""
    from netsci_dst.analysis.report import MEASURES

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
