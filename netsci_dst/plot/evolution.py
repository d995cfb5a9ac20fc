"""Measures over training of one run directory: density, ANP and ELM overlap per update, accuracy or BLEU.

Drawn from a run directory (its mask snapshots, checkpoint and ``metrics.jsonl``) or from a kept run's
``evolution.json`` (:mod:`netsci_dst.analysis.evolution_record`): the same figure.

Four panels (a page wide), against the topology update for an MLP run and against the optimizer step for a
Transformer run (which updates and evaluates at steps, not epochs):

* (a) density of each sparse layer and of all layers together (from the ``masks/update_NNNNN.npz`` snapshots;
  update 0 is the initial topology);
* (b) ANP, the active-neuron post-percolation rate, per snapshot: of each neuron layer of an MLP chain (``input``,
  ``hidden 1``, ...: the last sparse layer of the package's MLP feeds the dense output layer, so its outputs are
  hidden neurons, read from the run's ``config.json``), or of each unit group of a Transformer (q/k, v, FFN
  hidden units: :func:`netsci_dst.analysis.anp.anp_structure`, the structure inferred from the layer names);
* (c) the ELM overlap ratio ``|removed ∩ regrown| / |regrown|`` of each layer per update (engine history), with the
  epitopological-local-minimum threshold theta;
* (d) test and training accuracy per epoch (MLP) or validation BLEU per evaluation (Transformer), from
  ``metrics.jsonl``.

Up to :data:`MAX_NAMED` layers (or neuron groups) get a colour and a legend entry each; more (a Transformer has
dozens) are drawn as thin grey lines under the black line of the whole network, with one legend entry. Legends sit
to the right of their panel, never over the data.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netsci_dst.analysis.evolution_record import EvolutionRecord, read_evolution, snapshot_series
from netsci_dst.plot.degree import DOUBLE_COLUMN, DPI, check_figure_path, new_figure, paper_style, save_figure
from netsci_dst.plot.training import run_kind

__all__ = ["MAX_NAMED", "snapshot_series", "evolution_figure", "plot_evolution", "read_evolution"]

MAX_NAMED = 6  # layers or neuron groups drawn and named one by one; beyond this: thin grey lines, one legend entry
_PART_COLOR = "0.6"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _xy(points: list[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    """``(xs, ys)`` of the ``(x, y)`` pairs where both are finite numbers, sorted by x."""
    points = sorted((x, y) for x, y in points if _finite(x) and _finite(y))
    return [x for x, _ in points], [y for _, y in points]


def _draw_parts(ax, xs: list[Any], parts: dict[str, list[float]], what: str, marker: str | None, cmap) -> None:
    """One line per part (layer or neuron group), coloured and named when there are at most :data:`MAX_NAMED`,
    else thin grey lines with one legend entry ``each <what> (N)``."""
    named = len(parts) <= MAX_NAMED
    for i, (name, ys) in enumerate(parts.items()):
        if named:
            ax.plot(xs, ys, color=cmap(i % 10), marker=marker, label=name)
        else:
            label = f"each {what} ({len(parts)})" if i == 0 else None
            ax.plot(xs, ys, color=_PART_COLOR, lw=0.6, marker="." if marker else None, ms=2, alpha=0.8, label=label)


def _same_x_range(axes: Sequence[Any]) -> None:
    """One x range for panels that share an axis: from the smallest to the largest x any of them draws, plus the
    usual 5% margins."""
    spans = [ax.dataLim.intervalx for ax in axes]
    lows = [lo for lo, hi in spans if math.isfinite(lo) and math.isfinite(hi)]
    highs = [hi for lo, hi in spans if math.isfinite(lo) and math.isfinite(hi)]
    if lows and max(highs) > min(lows):
        pad = 0.05 * (max(highs) - min(lows))
        for ax in axes:
            ax.set_xlim(min(lows) - pad, max(highs) + pad)


def _legend_right(ax) -> None:
    """The panel's legend outside its right edge (constrained layout makes room)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, handlelength=1.6)


def evolution_figure(
    series: list[dict[str, Any]],
    history: list[dict[str, Any]],
    metrics: list[dict[str, Any]],
    theta: float = 0.9,
    title: str | None = None,
    has_checkpoint: bool = True,
):
    """The four-panel evolution figure from :func:`snapshot_series` rows, the engine history and the metrics
    (``has_checkpoint``: whether ``history`` was read from one, for the note on an empty overlap panel)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    kind = run_kind(metrics) if metrics else "mlp"
    x_key, x_label = ("step", "optimizer step") if kind == "transformer" else ("update", "topology update")
    with paper_style():
        fig, axes = new_figure(DOUBLE_COLUMN, 4.8, nrows=2, ncols=2)
        (ax_d, ax_a), (ax_o, ax_acc) = axes
        marker = "o" if len(series) <= 30 else None
        xs = [r[x_key] for r in series]

        names = list(series[0]["layer_density"]) if series else []
        _draw_parts(ax_d, xs, {n: [r["layer_density"][n] for r in series] for n in names}, "layer", marker, cmap)
        ax_d.plot(xs, [r["density"] for r in series], color="k", ls="--", lw=1.0, label="all layers")
        if series:
            top = max(max(r["layer_density"].values(), default=0.0) for r in series)
            ax_d.set_ylim(0, max(top, 1e-12) * 1.1)  # from 0: a constant density reads as constant
        ax_d.set_ylabel("density")
        ax_d.set_title("(a) density")

        with_anp = [r for r in series if "anp" in r]
        if with_anp:
            parts = {p: [r["anp_parts"][p] for r in with_anp] for p in with_anp[0]["anp_parts"]}
            what = "unit group" if kind == "transformer" else "neuron layer"
            xs_anp = [r[x_key] for r in with_anp]
            _draw_parts(ax_a, xs_anp, parts, what, marker, cmap)
            ax_a.plot(xs_anp, [r["anp"] for r in with_anp], color="k", ls="--", lw=1.0, label="all")
        else:
            ax_a.text(0.5, 0.5, "independent layers: no ANP", transform=ax_a.transAxes, ha="center", va="center")
        ax_a.set_ylabel("active neurons (ANP)")
        ax_a.set_title("(b) active-neuron post-percolation rate")

        layers = list(dict.fromkeys(r["layer"] for r in history))
        measured = [r for r in history if _finite(r.get("overlap")) and _finite(r.get(x_key))]
        updates = sorted({r[x_key] for r in measured})
        by_layer = {name: {r[x_key]: r["overlap"] for r in measured if r["layer"] == name} for name in layers}
        if len(layers) <= MAX_NAMED:
            for i, name in enumerate(layers):
                ax_o.plot(*_xy(list(by_layer[name].items())), color=cmap(i % 10), marker="o", label=name)
        else:
            for i, name in enumerate(layers):
                label = f"each layer ({len(layers)})" if i == 0 else None
                ax_o.plot(*_xy(list(by_layer[name].items())), color=_PART_COLOR, lw=0.6, marker=".", ms=2, label=label)
            means = [statistics.fmean(d[u] for d in by_layer.values() if u in d) for u in updates]
            ax_o.plot(updates, means, color="k", marker="o", lw=1.0, label="mean over layers")
        if not history:
            note = "no topology update yet" if has_checkpoint else "no engine history (no checkpoint)"
            ax_o.text(0.5, 0.5, note, transform=ax_o.transAxes, ha="center")
        ax_o.axhline(theta, color="0.4", ls=":", lw=1.0, label=rf"ELM threshold $\theta$={theta:g}")
        ax_o.set_ylim(-0.02, 1.02)
        ax_o.set_ylabel(r"overlap $|O_t|/|A^*_t|$")
        ax_o.set_title("(c) removed-and-regrown overlap (ELM)")

        marker_e = "o" if len(metrics) <= 30 else None
        if kind == "transformer":
            pts = [(r.get("step"), r.get("val_bleu")) for r in metrics]
            ax_acc.plot(*_xy(pts), marker=marker_e, color=cmap(0))
            ax_acc.set_xlabel("optimizer step")
            ax_acc.set_ylabel("BLEU (greedy)")
            ax_acc.set_title("(d) validation BLEU")
        else:
            for key, label, ls in (("test_acc", "test", "-"), ("train_acc", "training", "--")):
                pts = [(r.get("epoch"), r.get(key)) for r in metrics]
                if any(_finite(y) for _, y in pts):
                    ax_acc.plot(*_xy(pts), marker=marker_e if ls == "-" else None, ls=ls, label=label)
            if not metrics:
                ax_acc.text(0.5, 0.5, "no evaluation recorded", transform=ax_acc.transAxes, ha="center", va="center")
            ax_acc.set_xlabel("epoch")
            ax_acc.set_ylabel("accuracy")
            ax_acc.set_title("(d) accuracy")
        shared = (ax_d, ax_a, ax_o, ax_acc) if kind == "transformer" else (ax_d, ax_a, ax_o)
        _same_x_range(shared)
        for ax in (ax_d, ax_a, ax_o):
            ax.set_xlabel(x_label)
        for ax in (ax_d, ax_a, ax_o, ax_acc):
            ax.ticklabel_format(axis="y", useOffset=False)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.25, lw=0.5)
            if ax.get_legend_handles_labels()[0]:
                _legend_right(ax)
        if title:
            fig.suptitle(title)
    return fig


def plot_evolution(
    source, path: str | os.PathLike, theta: float = 0.9, title: str | None = None, dpi: int = DPI
) -> Path:
    """Save the evolution figure of a run to ``path``. ``source``: an
    :class:`~netsci_dst.analysis.evolution_record.EvolutionRecord`, a run-directory
    :class:`~netsci_dst.analysis.targets.Target`, or the path of a run directory or of a kept run
    (:func:`~netsci_dst.analysis.evolution_record.read_evolution`)."""
    from netsci_dst.analysis.evolution_record import evolution_record
    from netsci_dst.analysis.targets import Target

    check_figure_path(path)
    if isinstance(source, Target):
        source = evolution_record(source)
    elif not isinstance(source, EvolutionRecord):
        source = read_evolution(source)
    fig = evolution_figure(
        source.series,
        source.history,
        source.metrics,
        theta=theta,
        title=title or source.label,
        has_checkpoint=source.has_checkpoint,
    )
    with paper_style():
        return save_figure(fig, path, dpi=dpi)
