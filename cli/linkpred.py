"""``dstnet linkpred``: Cannistraci-Hebb link prediction on the layers of a mask file.

A thin shell over :mod:`netsci_dst.linkpred`: load a stack (``.npz`` mask/stack file, an edge list of any bipartite
network, GraphML, or the masks of a checkpoint or run directory, through the same loader as ``dstnet analyze``),
score the missing links of the chosen layers, print the top-K as an aligned table and
optionally save every score (``-o -``: the .npz to stdout, for a pipe or a redirect, and the table to stderr).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import click
import numpy as np

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import atomic_write
from netsci_dst.outputs import check_output_path

__all__ = ["linkpred"]

STDOUT = Path("-")  # -o -: the scores to stdout


def _layer_indices(stack, layer: str | None) -> list[int]:
    if layer is None:
        return list(range(len(stack)))
    text = layer.strip()
    if text.lstrip("-").isdigit():
        k = int(text)
        if not -len(stack) <= k < len(stack):
            raise DstnetError(f"layer {k} out of range: the file has {len(stack)} layer(s) (0..{len(stack) - 1})")
        return [k % len(stack)]
    if text in stack.names:
        return [stack.names.index(text)]
    raise DstnetError(f"no layer {text!r}: layers are {', '.join(stack.names)} (or an index 0..{len(stack) - 1})")


def _format_table(rows: list[tuple[str, int, int, float]]) -> str:
    header = ("layer", "input", "output", "score")
    cells = [header] + [(name, str(i), str(o), f"{s:.6g}") for name, i, o, s in rows]
    widths = [max(len(r[c]) for r in cells) for c in range(4)]
    lines = []
    for r in cells:
        lines.append("  ".join([r[0].ljust(widths[0])] + [r[c].rjust(widths[c]) for c in (1, 2, 3)]))
    return "\n".join(lines)


@click.command("linkpred")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--method",
    "-m",
    default="CH3-L3",
    show_default=True,
    help="CH3-L3 or CH2-L3 (exact, path-based), CH3-L3n or CH2-L3n (node-based); case-insensitive.",
)
@click.option(
    "--layer", "-l", default=None, help="Layer index (0-based; -1 is the last) or name. Default: every layer."
)
@click.option("--top", "-k", "top", type=int, default=10, show_default=True, help="Links to print per layer.")
@click.option(
    "--backend",
    type=click.Choice(["auto", "dense", "sparse"], case_sensitive=False),
    default="auto",
    show_default=True,
    help="Node-based methods: dense GEMMs, sparse products, or pick automatically.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write all scores to this .npz (scores_<k> per layer, plus names and method); '-': to stdout (a pipe or a "
    "file, not a terminal), and the table to stderr.",
)
def linkpred(file: Path, method: str, layer: str | None, top: int, backend: str, output: Path | None) -> None:
    """Predict missing links of FILE's layers with a Cannistraci-Hebb rule and print the top-K.

    FILE is a mask/stack .npz, an edge list ("input output" or "layer input output" per line) of any bipartite
    network, GraphML, a checkpoint (.pt) or a run directory (the masks of its latest checkpoint). Each printed
    row is a missing link from an input neuron to an output neuron (0-based indices) with its score; only links
    with a positive score are listed.
    """
    from netsci_dst.analysis.targets import load_target
    from netsci_dst.graph import WORK_BYTES_PER_LINK
    from netsci_dst.linkpred import normalize_method, score, top_k
    from netsci_dst.memory import check_memory

    method = normalize_method(method)
    if output is not None and output != STDOUT:
        check_output_path(output, "-o", suffixes=(".npz",), inputs=(file,))
    if top < 1:
        raise DstnetError(f"--top must be at least 1, got {top}")
    stdout = click.open_file("-", "wb") if output == STDOUT else None
    if stdout is not None and stdout.isatty():
        raise DstnetError("-o -: the scores are a binary .npz; redirect stdout to a file or a pipe")
    echo = functools.partial(click.echo, err=stdout is not None)  # with the scores on stdout, the text on stderr
    stack = load_target(file).stack
    indices = _layer_indices(stack, layer)
    if output is not None:  # every chosen layer's float64 scores are kept until they are written
        cells = [stack[k].size for k in indices]
        check_memory(
            WORK_BYTES_PER_LINK * max(cells) + 8 * sum(cells),
            f"{file}: scoring {len(cells)} layer(s) and keeping their scores for -o",
            "score one layer at a time with --layer",
        )
    table: list[tuple[str, int, int, float]] = []
    summary: list[str] = []
    saved: dict[str, np.ndarray] = {}
    for k in indices:
        mask = stack[k]
        t0 = time.perf_counter()
        s = score(mask, method, backend=backend.lower())
        elapsed = time.perf_counter() - t0
        rows, cols = top_k(s, top)
        table.extend((stack.names[k], int(c), int(r), float(s[r, c])) for r, c in zip(rows, cols, strict=True))
        n_pos = int(np.count_nonzero(s > 0))
        summary.append(
            f"# {stack.names[k]} ({mask.shape[0]} outputs x {mask.shape[1]} inputs, {int(mask.sum())} links): "
            f"{n_pos} missing links with a positive {method} score, {elapsed:.3g} s"
        )
        if output is not None:
            saved[f"scores_{k}"] = s
    echo(_format_table(table))
    for line in summary:
        echo(line)
    if output is not None:
        saved["names"] = np.array(json.dumps([stack.names[k] for k in indices]))
        saved["layers"] = np.array(indices, dtype=np.int64)
        saved["method"] = np.array(method)
        if stdout is not None:
            np.savez_compressed(stdout, **saved)
            return
        try:
            with atomic_write(output, "wb") as f:  # a file object keeps the name exactly as given
                np.savez_compressed(f, **saved)
        except OSError as e:
            raise DstnetError(f"{output}: cannot write scores ({e.strerror or e})") from None
        echo(f"# scores written to {output}")
