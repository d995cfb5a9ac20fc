"""Training curves of one or more runs side by side, for both kinds of run ``dstnet train`` makes.

MLP runs (one record per epoch in ``metrics.jsonl``), against the epoch: (a) test accuracy (solid) and training
accuracy (dashed); (b) test loss (solid) and training loss (dashed). The legend gives each run's best test
accuracy and AAE (area across epochs: the mean test accuracy over epochs [CHTs]).

Transformer runs (one record per evaluation), against the optimizer step: (a) validation BLEU (greedy decoding);
(b) validation loss (solid) and training loss (dashed). The legend gives each run's best validation BLEU.

Runs of one method (same recipe, ``--set`` overrides and sparsity:
:func:`netsci_dst.plot.comparison.group_runs`) with different seeds are pooled: one line for the mean over the
seeds, and a shaded band from the lowest to the highest seed on the solid (test or validation) curves; the legend
names the number of seeds and gives the best value as mean ± standard deviation over the seeds. Runs without a
recorded method, or two runs with the same seed (a run and its own checkpoint), are drawn one line each.
Both legends sit below the panels, so they never cover a curve.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netsci_dst.errors import DstnetError
from netsci_dst.plot.comparison import band, group_runs, method_name
from netsci_dst.plot.degree import DOUBLE_COLUMN, DPI, check_figure_path, new_figure, paper_style, save_figure

__all__ = ["TrainingRun", "run_kind", "training_run", "training_figure", "plot_training"]

#: per kind: the x key and label, panel (a)'s key, name and title, panel (b)'s solid-line key and name
KINDS: dict[str, dict[str, str]] = {
    "mlp": {
        "x": "epoch",
        "xlabel": "epoch",
        "score": "test_acc",
        "score_label": "accuracy",
        "score_title": "(a) test accuracy (solid), training accuracy (dashed)",
        "train_score": "train_acc",
        "loss": "test_loss",
        "loss_title": "(b) test loss (solid), training loss (dashed)",
        "eval": "test",
    },
    "transformer": {
        "x": "step",
        "xlabel": "optimizer step",
        "score": "val_bleu",
        "score_label": "validation BLEU (greedy)",
        "score_title": "(a) validation BLEU",
        "train_score": "",
        "loss": "val_loss",
        "loss_title": "(b) validation loss (solid), training loss (dashed)",
        "eval": "validation",
    },
}


@dataclass
class TrainingRun:
    """One run's curves and what pools it with others.

    Attributes:
        label: the run's name in the legend (its folder).
        metrics: its records (``metrics.jsonl``: per epoch for an MLP, per evaluation for a Transformer).
        method: recipe and ``--set`` overrides (:func:`~netsci_dst.plot.comparison.method_name`); empty when
            unknown (the run is never pooled).
        sparsity, seed: from the run's configuration.
    """

    label: str
    metrics: list[dict[str, Any]]
    method: str = ""
    sparsity: float = 0.0
    seed: int | None = None


def training_run(label: str, metrics: list[dict[str, Any]], config: dict[str, Any] | None = None) -> TrainingRun:
    """A :class:`TrainingRun` from a run's records and its configuration (``config.json`` or a checkpoint's
    ``config``: method, sparsity and seed are read from its ``train`` section)."""
    train = (config or {}).get("train") or {}
    seed = train.get("seed")
    return TrainingRun(
        label=label,
        metrics=metrics,
        method=method_name(train, label) if "method" in train else "",
        sparsity=float(train.get("sparsity", 0.0)),
        seed=int(seed) if isinstance(seed, int) else None,
    )


def run_kind(metrics: list[dict[str, Any]]) -> str:
    """``"transformer"`` for records with a validation BLEU, ``"mlp"`` for records with a test accuracy; a
    :class:`DstnetError` for anything else."""
    if any(r.get("val_bleu") is not None for r in metrics):
        return "transformer"
    if any(r.get("test_acc") is not None for r in metrics):
        return "mlp"
    raise DstnetError("the metrics hold neither a test accuracy (MLP) nor a validation BLEU (Transformer)")


def _series(metrics: list[dict[str, Any]], x_key: str, key: str) -> tuple[list[float], list[float]]:
    """The records' ``(x, value)`` pairs where both are numbers."""
    xs, ys = [], []
    for r in metrics:
        x, v = r.get(x_key), r.get(key)
        if isinstance(x, (int, float)) and isinstance(v, (int, float)):
            xs.append(x)
            ys.append(float(v))
    return xs, ys


def _mean_curve(
    runs: list[TrainingRun], x_key: str, key: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    """``(x, mean, lowest, highest)`` of ``key`` over ``runs`` at the x values all of them reached."""
    curves = [_series(r.metrics, x_key, key) for r in runs]
    if not all(xs for xs, _ in curves):
        return [], [], [], []
    return band(curves)


def _pooled(runs: Sequence[TrainingRun]) -> list[tuple[str, list[TrainingRun]]]:
    """``(legend label, runs)`` per line: seeds of one method pooled, every other run alone."""
    known = [r for r in runs if r.method]
    lines: list[tuple[str, list[TrainingRun]]] = []
    pooled: dict[int, str] = {}
    for label, group in group_runs(known).items():
        seeds = [r.seed for r in group]
        if len(group) > 1 and None not in seeds and len(set(seeds)) == len(seeds):
            for r in group:
                pooled[id(r)] = label
    done: set[str] = set()
    for r in runs:
        label = pooled.get(id(r))
        if label is None:
            lines.append((r.label, [r]))
        elif label not in done:
            done.add(label)
            lines.append((label, [g for g in runs if pooled.get(id(g)) == label]))
    return lines


def _stat(values: list[float], digits: int) -> str:
    """One run's value, or the mean ± standard deviation over several."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _legend_text(label: str, runs: list[TrainingRun], kind: str) -> str:
    """``label, N seeds: best ...``: the best test accuracy and AAE (MLP) or best validation BLEU (Transformer)."""
    seeds, spread = (f", {len(runs)} seeds", " (mean ± sd)") if len(runs) > 1 else ("", "")
    key = KINDS[kind]["score"]
    scores = [[v for v in (r.get(key) for r in run.metrics) if isinstance(v, (int, float))] for run in runs]
    best = _stat([max(s) for s in scores], 2 if kind == "transformer" else 4)
    if kind == "transformer":
        return f"{label}{seeds}: best BLEU {best}{spread}"
    return f"{label}{seeds}: best {best}, AAE {_stat([statistics.fmean(s) for s in scores], 4)}{spread}"


def training_figure(runs: Sequence[TrainingRun | tuple[str, list[dict[str, Any]]]], title: str | None = None):
    """The two-panel training figure of the module docstring for ``runs`` (all MLP or all Transformer runs).

    ``runs``: :class:`TrainingRun` objects, or ``(label, records)`` pairs for runs of unknown method (never pooled).
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not runs:
        raise DstnetError("no runs to plot")
    runs = [r if isinstance(r, TrainingRun) else TrainingRun(label=r[0], metrics=list(r[1])) for r in runs]
    kinds = [run_kind(r.metrics) for r in runs]
    if len(set(kinds)) > 1:
        mlp = runs[kinds.index("mlp")].label
        transformer = runs[kinds.index("transformer")].label
        raise DstnetError(
            f"the training curves of MLP runs (epochs, accuracy: {mlp}) and Transformer runs (steps, BLEU: "
            f"{transformer}) do not share axes; plot them separately"
        )
    kind = kinds[0]
    spec = KINDS[kind]
    x_key = spec["x"]
    lines = _pooled(runs)
    cmap = colormaps["tab10"]
    handles: list[Any] = []
    pooled = any(len(g) > 1 for _, g in lines)
    n_legend = len(lines) + 2 + pooled
    ncol = n_legend if n_legend <= 3 else 2
    legend_rows = -(-n_legend // ncol)
    with paper_style():
        fig, axes = new_figure(DOUBLE_COLUMN, 2.3 + 0.2 * legend_rows, nrows=1, ncols=2)
        ax_score, ax_loss = axes[0]
        for i, (label, group) in enumerate(lines):
            color = cmap(i % 10)
            for ax, key, dashed in (
                (ax_score, spec["score"], spec["train_score"]),
                (ax_loss, spec["loss"], "train_loss"),
            ):
                xs, mean, low, high = _mean_curve(group, x_key, key)
                ax.plot(xs, mean, color=color, marker="o" if len(xs) <= 30 else None)
                if len(group) > 1 and xs:
                    ax.fill_between(xs, low, high, color=color, alpha=0.2, lw=0)
                if dashed:
                    xs_t, mean_t, _, _ = _mean_curve(group, x_key, dashed)
                    ax.plot(xs_t, mean_t, color=color, ls="--", lw=0.8, alpha=0.8)
            handles.append(Line2D([], [], color=color, marker="o", label=_legend_text(label, group, kind)))
        mean = " (mean over seeds)" if pooled else ""
        handles.append(Line2D([], [], color="0.2", ls="-", label=spec["eval"] + mean))
        handles.append(Line2D([], [], color="0.2", ls="--", lw=0.8, label="training" + mean))
        if pooled:
            handles.append(Patch(color="0.2", alpha=0.2, lw=0, label=f"{spec['eval']}: min-max over seeds"))
        ax_score.set_ylabel(spec["score_label"])
        ax_score.set_title(spec["score_title"])
        ax_loss.set_ylabel("cross-entropy loss")
        ax_loss.set_title(spec["loss_title"])
        for ax in (ax_score, ax_loss):
            ax.set_xlabel(spec["xlabel"])
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.25, lw=0.5)
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol)
        if title:
            fig.suptitle(title)
    return fig


def plot_training(
    runs: Sequence[TrainingRun | tuple[str, list[dict[str, Any]]]],
    path: str | os.PathLike,
    title: str | None = None,
    dpi: int = DPI,
) -> Path:
    """Save :func:`training_figure` of ``runs`` to ``path`` (PNG, SVG or PDF)."""
    check_figure_path(path)
    fig = training_figure(runs, title=title)
    with paper_style():
        return save_figure(fig, path, dpi=dpi)
