"""Degree distributions on log-log axes with the fitted power law, one panel per layer.

Per layer, the fraction of neurons with each degree (among neurons with at least one link) for the input neurons
(links they send) and the output neurons (links they receive), and the Clauset-Shalizi-Newman power-law fit of each
(:func:`netsci_dst.analysis.powerlaw.fit_gamma`) drawn over its tail ``k >= xmin``:

    P(k) = (n_tail / n) * k^-gamma / zeta(gamma, xmin)

(the discrete power law normalised over the tail, scaled to the tail's share of the neurons). A fit that runs into
the bound of the gamma range has no exponent and no line ("not a power law"), nor has a side with fewer than
:data:`~netsci_dst.analysis.powerlaw.MIN_TAIL` neurons ("no fit").

This module also holds the figure style shared by the other plot modules: figures built without pyplot (no global
state, safe in notebooks and threads), constrained layout, 8-point fonts, widths of one (3.4 in) or two (7 in)
journal columns, PNG at 200 dpi.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from netsci_dst.analysis.powerlaw import MIN_TAIL, fit_gamma
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack

__all__ = [
    "DPI",
    "COLUMN",
    "DOUBLE_COLUMN",
    "FIGURE_SUFFIXES",
    "paper_style",
    "new_figure",
    "save_figure",
    "check_figure_path",
    "degree_figure",
    "plot_degree",
]

DPI = 200  # raster output resolution
COLUMN = 3.4  # inches: one journal column
DOUBLE_COLUMN = 7.0  # inches: a full page width
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")

PAPER_RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.2,
    "lines.markersize": 3,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}

IN_COLOR = "tab:blue"
OUT_COLOR = "tab:orange"


@contextmanager
def paper_style():
    """Apply the shared figure style (fonts, spines, font embedding) inside a ``with`` block."""
    import matplotlib

    with matplotlib.rc_context(PAPER_RC):
        yield


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **subplot_kw: Any):
    """A pyplot-free ``Figure`` with constrained layout and a 2-D array of axes (``squeeze=False``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, subplot_kw=subplot_kw or None)
    return fig, axes


def check_figure_path(path: str | os.PathLike) -> Path:
    """Raise :class:`DstnetError` unless ``path`` names a PNG, SVG or PDF file in an existing folder."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise DstnetError(f"{path}: use a .png, .svg or .pdf file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DstnetError(f"{path}: folder {parent} does not exist")
    return path


def save_figure(fig, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Save ``fig`` as PNG, SVG or PDF (by suffix) at ``dpi``; the pixel size is exactly ``figsize * dpi``."""
    path = check_figure_path(path)
    try:
        fig.savefig(path, dpi=dpi, format=path.suffix.lower()[1:])
    except OSError as e:
        raise DstnetError(f"{path}: cannot write ({e.strerror or e})") from None
    return path


def grid_shape(n: int, max_cols: int = 3) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, at most ``max_cols`` per row."""
    ncols = max(1, min(n, max_cols))
    return math.ceil(n / ncols), ncols


def panel_size(nrows: int, ncols: int) -> tuple[float, float]:
    """Figure size in inches: one column for a single panel, up to a page width for a row of three."""
    if nrows == 1 and ncols == 1:
        return COLUMN, 2.8
    return max(COLUMN, 2.35 * ncols), 2.3 * nrows


# --------------------------------------------------------------------------------------------------- degree
def _draw_side(ax, degrees: np.ndarray, fit: dict[str, Any] | None, color: str, marker: str) -> str | None:
    """Draw one side's distribution and its fitted tail; return a short text describing the fit."""
    from scipy.special import zeta

    pos = degrees[degrees > 0]
    if pos.size == 0:
        return None
    values, counts = np.unique(pos, return_counts=True)
    ax.plot(values, counts / pos.size, marker, color=color, alpha=0.75, ls="none")
    fit = fit or {}
    if fit.get("capped"):
        return r"not a power law ($\gamma$ at its bound)"
    gamma, xmin = fit.get("gamma"), fit.get("xmin")
    if gamma is None or xmin is None or not np.isfinite(gamma) or gamma <= 1:
        return f"no fit ({pos.size} neurons)" if pos.size < MIN_TAIL else "no fit"
    kmin = max(math.ceil(float(xmin)), 1)
    tail = pos[pos >= kmin]
    norm = float(zeta(gamma, kmin))
    if tail.size and np.isfinite(norm) and norm > 0:
        k = np.arange(kmin, int(tail.max()) + 1, dtype=float)
        pk = (tail.size / pos.size) * k**-gamma / norm
        seen = pk >= 0.5 / pos.size  # below half a neuron the line says nothing about this network
        ax.plot(k[seen], pk[seen], color=color, lw=1.0)
    return rf"$\gamma$={gamma:.2f}, $k_{{min}}$={kmin}"


def _log_axis(axis) -> None:
    """Log ticks at 1, 2, 5 x 10^n with plain numbers, so short ranges still get readable labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def degree_figure(
    stack: LayerStack, fits: list[dict[str, Any]] | None = None, title: str | None = None, max_cols: int = 3
):
    """A figure with one log-log degree-distribution panel per layer, with the fitted power laws.

    ``fits``: per layer ``{"inputs": fit of the input neurons' out-degrees, "outputs": fit of the output neurons'
    in-degrees}``, as :func:`netsci_dst.analysis.powerlaw.degree_gammas` returns; fitted here when not given.
    """
    from matplotlib.lines import Line2D

    from netsci_dst.analysis.degree import input_degrees, output_degrees

    n = len(stack)
    nrows, ncols = grid_shape(n, max_cols)
    with paper_style():
        fig, axes = new_figure(*panel_size(nrows, ncols), nrows=nrows, ncols=ncols)
        for k, (mask, name) in enumerate(zip(stack.masks, stack.names, strict=True)):
            ax = axes[k // ncols][k % ncols]
            din, dout = input_degrees(mask), output_degrees(mask)
            fit_in = fits[k].get("inputs") if fits else fit_gamma(din)
            fit_out = fits[k].get("outputs") if fits else fit_gamma(dout)
            notes = [
                (_draw_side(ax, din, fit_in, IN_COLOR, "o"), IN_COLOR),
                (_draw_side(ax, dout, fit_out, OUT_COLOR, "s"), OUT_COLOR),
            ]
            ax.set_xscale("log")
            ax.set_yscale("log")
            _log_axis(ax.xaxis)
            _log_axis(ax.yaxis)
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi * (hi / lo) ** 0.3)  # head room for the fit notes
            y = 0.97
            for text, color in notes:
                if text:
                    ax.text(0.97, y, text, color=color, transform=ax.transAxes, ha="right", va="top", fontsize=7)
                    y -= 0.09
            ax.set_xlabel("degree $k$")
            ax.set_ylabel("fraction of neurons $P(k)$")
            ax.set_title(f"{name}\n({mask.shape[1]}\u2192{mask.shape[0]}, {int(mask.sum()):,} links)")
        for k in range(n, nrows * ncols):
            axes[k // ncols][k % ncols].set_visible(False)
        handles = [
            Line2D([], [], color=IN_COLOR, marker="o", ls="none", label="input neurons (out-degree)"),
            Line2D([], [], color=OUT_COLOR, marker="s", ls="none", label="output neurons (in-degree)"),
            Line2D([], [], color="0.3", ls="-", label="power-law fit"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=2 if ncols == 1 else 3)
        if title:
            fig.suptitle(title)
    return fig


def plot_degree(stack: LayerStack, path: str | os.PathLike, title: str | None = None, dpi: int = DPI) -> Path:
    """Save :func:`degree_figure` of ``stack`` to ``path`` (PNG, SVG or PDF)."""
    check_figure_path(path)
    fig = degree_figure(stack, title=title)
    with paper_style():
        return save_figure(fig, path, dpi=dpi)
