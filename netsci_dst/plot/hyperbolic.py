"""The hyperbolic disk of a layer stack: the coalescent embedding, neurons coloured by layer, links drawn.

Nodes sit at polar coordinates ``(r, theta)`` of :func:`netsci_dst.analysis.hyperbolic.coalescent_embedding`
(native representation of the hyperbolic plane: high-degree neurons near the centre). Links are drawn as thin
straight chords under the nodes (a seeded sample when there are many). The title reports the angular separation
index of the neuron layers (1: each layer in its own angular sector) and the gamma/beta of the radial coordinate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from netsci_dst.analysis.anp import layer_labels
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack
from netsci_dst.plot.degree import COLUMN, DPI, check_figure_path, new_figure, paper_style, save_figure

__all__ = ["hyperbolic_figure", "plot_hyperbolic"]

MAX_LINKS = 10_000  # links drawn at most (a uniform sample beyond this)


def _layer_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        cmap = colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def hyperbolic_figure(
    stack: LayerStack,
    embedding: dict[str, Any] | None = None,
    method: str = "ncISO",
    seed: int = 0,
    title: str | None = None,
    max_links: int = MAX_LINKS,
    asi: float | None = None,
    last_is_output: bool = True,
):
    """The hyperbolic disk of ``stack`` (one column wide). ``embedding`` as ``coalescent_embedding`` returns it;
    computed with ``method`` and ``seed`` when not given. ``asi`` is computed when not given. ``last_is_output``:
    whether the last neuron layer is the network's output (:func:`ends_at_output`) or hidden."""
    from matplotlib.collections import LineCollection

    from netsci_dst.analysis.hyperbolic import angular_separation_index, coalescent_embedding
    from netsci_dst.graph import _stack_edges

    if not stack.is_chain and len(stack.masks) > 1:
        raise DstnetError(
            f"the hyperbolic disk embeds a chain of layers; the {len(stack.masks)} layers ({stack.names[0]}, ...) "
            "are independent, so there is no whole network to embed"
        )
    if embedding is None:
        embedding = coalescent_embedding(stack, method=method, seed=seed)
    theta = np.asarray(embedding["theta"], dtype=float)
    r = np.asarray(embedding["r"], dtype=float)
    layer = np.asarray(embedding["layer"], dtype=int)
    x, y = r * np.cos(theta), r * np.sin(theta)
    ok = np.isfinite(x) & np.isfinite(y)
    if asi is None:
        asi = embedding.get("asi")
    if asi is None and ok.any():
        asi = angular_separation_index(theta[ok].tolist(), layer[ok].tolist())

    _, src, dst = _stack_edges(stack)
    keep = ok[src] & ok[dst]
    src, dst = src[keep], dst[keep]
    if len(src) > max_links:
        pick = np.random.default_rng(seed).choice(len(src), size=max_links, replace=False)
        src, dst = src[pick], dst[pick]
    n_groups = int(layer.max()) + 1 if layer.size else 0
    names = layer_labels(n_groups, stack.is_chain, last_is_output)
    colors = _layer_colors(n_groups)

    with paper_style():
        fig, axes = new_figure(COLUMN, COLUMN + 0.35)
        ax = axes[0][0]
        radius = float(np.nanmax(r[ok])) if ok.any() else 1.0
        segments = np.stack([np.column_stack([x[src], y[src]]), np.column_stack([x[dst], y[dst]])], axis=1)
        alpha = float(np.clip(8.0 / np.sqrt(max(len(src), 1)), 0.02, 0.3))
        ax.add_collection(LineCollection(segments, colors="0.3", linewidths=0.2, alpha=alpha, zorder=1))
        size = float(np.clip(600.0 / np.sqrt(max(int(ok.sum()), 1)), 1.0, 12.0))
        # one scatter in a seeded random order, so no layer hides another by being drawn last
        idx = np.flatnonzero(ok)
        idx = idx[np.random.default_rng(seed).permutation(len(idx))]
        palette = np.array([colors[g] for g in range(n_groups)]) if n_groups else np.zeros((0, 4))
        ax.scatter(x[idx], y[idx], s=size, c=palette[layer[idx]], lw=0, zorder=2)
        for g in range(n_groups):
            if (ok & (layer == g)).any():
                ax.scatter([], [], s=size, color=colors[g], label=names[g], lw=0)
        from matplotlib.patches import Circle

        ax.add_patch(Circle((0, 0), radius * 1.02, fill=False, lw=0.6, color="0.6", zorder=0))
        ax.set_xlim(-radius * 1.05, radius * 1.05)
        ax.set_ylim(-radius * 1.05, radius * 1.05)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$r\,\cos\theta$")
        ax.set_ylabel(r"$r\,\sin\theta$")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=min(n_groups, 4),
            markerscale=max(1.0, 4.0 / np.sqrt(size)),
            handletextpad=0.2,
            columnspacing=0.8,
        )
        parts = [title] if title else []
        stats = []
        if asi is not None and np.isfinite(asi):
            stats.append(f"ASI {asi:.2f}")
        if embedding.get("gamma") is not None:
            stats.append(rf"$\gamma$ {embedding['gamma']:.2f}")
        if embedding.get("beta") is not None:
            stats.append(rf"$\beta$ {embedding['beta']:.2f}")
        shown = f"{len(src):,} of {len(keep):,} links" if len(src) < len(keep) else f"{len(src):,} links"
        stats.append(shown)
        parts.append(", ".join(stats))
        ax.set_title("\n".join(parts))
    return fig


def plot_hyperbolic(
    stack: LayerStack,
    path: str | os.PathLike,
    method: str = "ncISO",
    seed: int = 0,
    title: str | None = None,
    dpi: int = DPI,
    embedding: dict[str, Any] | None = None,
    last_is_output: bool = True,
) -> Path:
    """Save :func:`hyperbolic_figure` of ``stack`` to ``path`` (PNG, SVG or PDF)."""
    check_figure_path(path)
    fig = hyperbolic_figure(
        stack, embedding=embedding, method=method, seed=seed, title=title, last_is_output=last_is_output
    )
    with paper_style():
        return save_figure(fig, path, dpi=dpi)
