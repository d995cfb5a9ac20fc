"""Methods compared over seeds, in the style of the CHT papers' MLP figures: accuracy bands, ANP, and the
accuracy-vs-AAE plane relative to the dense network.

Runs (run directories of ``dstnet train mlp``, several seeds each) are grouped by method and sparsity. Three panels:

(a) test accuracy per epoch: the mean over seeds, with a band from the lowest to the highest seed;
(b) ANP, the share of hidden neurons still active after percolation at the end of training (1 for dense), mean
    and standard deviation over seeds [CHT, Zhang et al., ICLR 2024];
(c) the "ultra-sparse advantage" plane [CHT, Fig. 1; CHTs]: each method's best accuracy against its AAE (area
    across the epochs: the mean test accuracy over training, which rewards learning early), both as differences
    to the ``fc`` runs when there are any (in percentage points; the shaded upper-right quadrant is "better than
    dense on both"), else as plain values.

Only ``config.json``, ``metrics.jsonl`` and (for finished runs) ``summary.json`` are read: fast for many runs.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from netsci_dst.errors import DstnetError
from netsci_dst.plot.degree import DOUBLE_COLUMN, DPI, check_figure_path, new_figure, paper_style, save_figure

__all__ = [
    "RunCurves",
    "band",
    "comparison_figure",
    "group_runs",
    "load_run_curves",
    "method_name",
    "plot_comparison",
]


class MethodRun(Protocol):
    """What :func:`group_runs` needs of a run: its method name and sparsity."""

    method: str
    sparsity: float


R = TypeVar("R", bound=MethodRun)


def method_name(train: dict[str, Any], default: str) -> str:
    """A run's method as the comparison names it: the recipe with its ``--set`` overrides, from the ``train``
    section of its configuration (``chts +init_topology=bsw``); ``default`` when the recipe is not recorded."""
    overrides = train.get("method_overrides") or {}
    return str(train.get("method", default)) + "".join(f" +{k}={v}" for k, v in sorted(overrides.items()))


@dataclass
class RunCurves:
    """What the comparison needs of one run.

    Attributes:
        path: the run directory.
        method: the recipe name, with its ``--set`` overrides (``chts +init_topology=bsw``); ``sparsity``: the
            run's sparsity; ``seed``: its seed.
        epochs, test_acc: per completed epoch.
        best_acc: the best accuracy by the recipe's convention (``summary.json``), else the best epoch so far.
        aae: the mean test accuracy over the completed epochs.
        anp: the ANP after the last completed epoch.
        planned_epochs: the epochs the run was started for; ``complete``: whether it finished.
    """

    path: Path
    method: str
    sparsity: float
    seed: int
    epochs: list[int]
    test_acc: list[float]
    best_acc: float
    aae: float
    anp: float
    planned_epochs: int
    complete: bool


def load_run_curves(path: str | os.PathLike) -> RunCurves:
    """Read one run directory; a folder without ``config.json`` and at least one epoch in ``metrics.jsonl`` is
    refused with a one-line :class:`DstnetError`."""
    from netsci_dst.train.rundir import RunDir

    path = Path(path)
    run = RunDir(path)
    train = run.read_config().get("train")
    if not isinstance(train, dict) or not run.metrics.is_file():
        raise DstnetError(f"{path}: not a training run directory with config.json and metrics.jsonl")
    rows = [r for r in run.read_metrics() if isinstance(r.get("test_acc"), (int, float))]
    if not rows:
        raise DstnetError(f"{path}: no completed epoch in metrics.jsonl")
    summary = run.read_json("summary.json") or {}
    accs = [float(r["test_acc"]) for r in rows]
    best = summary.get("best_acc")
    return RunCurves(
        path=path,
        method=method_name(train, path.name),
        sparsity=float(train.get("sparsity", 0.0)),
        seed=int(train.get("seed", 0)),
        epochs=[int(r.get("epoch", i + 1)) for i, r in enumerate(rows)],
        test_acc=accs,
        best_acc=float(best) if isinstance(best, (int, float)) else max(accs),
        aae=statistics.fmean(accs),
        anp=float(rows[-1].get("anp", 1.0) if rows[-1].get("anp") is not None else 1.0),
        planned_epochs=int(train.get("epochs", len(rows))),
        complete=bool(summary),
    )


def group_runs(runs: Sequence[R]) -> dict[str, list[R]]:
    """Runs (anything with ``method`` and ``sparsity``) by method, and by sparsity when the runs have several, in the
    order first seen; ``fc`` keeps its name."""
    sparsities = {r.sparsity for r in runs if r.method != "fc"}
    groups: dict[str, list[R]] = {}
    for r in runs:
        label = r.method if r.method == "fc" or len(sparsities) <= 1 else f"{r.method} {r.sparsity:.1%}"
        groups.setdefault(label, []).append(r)
    return groups


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def band(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]],
) -> tuple[list[float], list[float], list[float], list[float]]:
    """The x values every curve ``(xs, ys)`` reached, and the mean, lowest and highest y there."""
    common = sorted(set.intersection(*(set(xs) for xs, _ in curves)))
    by_x = [dict(zip(xs, ys, strict=True)) for xs, ys in curves]
    mean = [statistics.fmean(d[x] for d in by_x) for x in common]
    low = [min(d[x] for d in by_x) for x in common]
    high = [max(d[x] for d in by_x) for x in common]
    return common, mean, low, high


def comparison_figure(groups: dict[str, list[RunCurves]], title: str | None = None):
    """The three-panel figure of the module docstring for ``groups`` (label -> runs)."""
    from matplotlib import colormaps

    if not groups:
        raise DstnetError("no runs to compare")
    cmap = colormaps["tab10"]
    colors = {label: cmap(i % 10) for i, label in enumerate(groups)}
    reference = groups.get("fc")
    with paper_style():
        fig, axes = new_figure(DOUBLE_COLUMN, 2.7, nrows=1, ncols=3)
        ax_acc, ax_anp, ax_plane = axes[0]
        for label, runs in groups.items():
            epochs, mean, low, high = band([(r.epochs, r.test_acc) for r in runs])
            seeds = f"{len(runs)} seed{'s' if len(runs) > 1 else ''}"
            ax_acc.plot(epochs, [100 * m for m in mean], color=colors[label], lw=1.2, label=f"{label} ({seeds})")
            if len(runs) > 1:
                ax_acc.fill_between(
                    epochs, [100 * v for v in low], [100 * v for v in high], color=colors[label], alpha=0.2, lw=0
                )
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("test accuracy (%)")
        ax_acc.set_title("(a) accuracy, band: min-max over seeds")
        ax_acc.legend(loc="lower right", fontsize="x-small", ncol=2 if len(groups) > 4 else 1)
        accs = [100 * a for runs in groups.values() for r in runs for a in r.test_acc[len(r.test_acc) // 3 :]]
        if accs:  # the interesting part: the last two thirds of training
            lo, hi = min(accs), max(accs)
            ax_acc.set_ylim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.1 * (hi - lo + 1e-9))

        labels = list(groups)
        anp = [_mean_sd([100 * r.anp for r in groups[g]]) for g in labels]
        ax_anp.bar(
            range(len(labels)),
            [m for m, _ in anp],
            yerr=[s for _, s in anp],
            color=[colors[g] for g in labels],
            capsize=2,
        )
        ax_anp.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax_anp.set_ylabel("ANP (%)")
        ax_anp.set_ylim(0, 105)
        ax_anp.set_title("(b) active neurons after percolation")

        if reference:
            ref_best = statistics.fmean(r.best_acc for r in reference)
            ref_aae = statistics.fmean(r.aae for r in reference)
        else:
            ref_best = ref_aae = 0.0
        for label, runs in groups.items():
            if reference and label == "fc":
                continue
            x, xs = _mean_sd([100 * (r.aae - ref_aae) for r in runs])
            y, ys = _mean_sd([100 * (r.best_acc - ref_best) for r in runs])
            ax_plane.errorbar(x, y, xerr=xs, yerr=ys, fmt="o", color=colors[label], ms=4, capsize=2, lw=0.8)
            ax_plane.annotate(label, (x, y), textcoords="offset points", xytext=(4, 3), fontsize="small")
        if reference:
            ax_plane.axhline(0, color="0.3", lw=0.6)
            ax_plane.axvline(0, color="0.3", lw=0.6)
            x0, x1 = ax_plane.get_xlim()
            y0, y1 = ax_plane.get_ylim()  # keep some of every quadrant in view
            ax_plane.set_xlim(min(x0, -0.2 * (x1 - x0)), max(x1, 0.2 * (x1 - x0)))
            ax_plane.set_ylim(min(y0, -0.2 * (y1 - y0)), max(y1, 0.2 * (y1 - y0)))
            ax_plane.fill_between([0, ax_plane.get_xlim()[1]], 0, ax_plane.get_ylim()[1], color="0.85", zorder=0)
            ax_plane.set_xlabel("AAE - AAE of fc (points)")
            ax_plane.set_ylabel("best accuracy - fc (points)")
            ax_plane.set_title("(c) against the dense network")
        else:
            ax_plane.set_xlabel("AAE (%)")
            ax_plane.set_ylabel("best accuracy (%)")
            ax_plane.set_title("(c) accuracy and AAE (no fc runs)")
        for ax in (ax_acc, ax_anp, ax_plane):
            ax.grid(alpha=0.25, lw=0.5)
        if title:
            fig.suptitle(title)
    return fig


def plot_comparison(
    paths: Sequence[str | os.PathLike], output: str | os.PathLike, title: str | None = None, dpi: int = DPI
) -> Path:
    """Load the run directories ``paths``, group them (:func:`group_runs`) and save :func:`comparison_figure`."""
    check_figure_path(output)
    runs = [load_run_curves(p) for p in paths]
    return save_figure(comparison_figure(group_runs(runs), title=title), output, dpi=dpi)
