"""``dstnet plot``: figures of mask files, checkpoints and run directories."""

from __future__ import annotations

from pathlib import Path

import click

from netsci_dst.errors import DstnetError

KINDS = ("adjacency", "comparison", "degree", "evolution", "hyperbolic", "training")
SEVERAL = ("training", "comparison")  # the kinds that take several targets


@click.command("plot")
@click.argument("targets", nargs=-1, required=True, type=click.Path(), metavar="TARGET...")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    required=True,
    help="adjacency: each layer's matrix and degrees; comparison: methods over seeds (run directories): accuracy "
    "bands, ANP, best accuracy and AAE against fc; degree: log-log degree distributions with the fitted power "
    "law; evolution: density, ANP, overlap and accuracy (MLP, per update) or validation BLEU (Transformer, per "
    "step) over training (run directory, or a kept run with its evolution.json); hyperbolic: the hyperbolic disk; "
    "training: accuracy and loss per epoch "
    "(MLP) or validation BLEU and loss per step (Transformer) of one or more runs, seeds of one method pooled into "
    "a mean with a min-max band.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Figure file: .png, .svg or .pdf [KIND.png].",
)
@click.option("--update", type=int, help="Draw the masks of this topology update of a run directory (0: initial).")
@click.option("--title", type=str, help="Figure title [the target's name].")
@click.option(
    "--embedding",
    type=click.Choice(["ncISO", "LE"]),
    default="ncISO",
    show_default=True,
    help="hyperbolic: dimension reduction of the coalescent embedding.",
)
@click.option("--theta", type=float, default=0.9, show_default=True, help="evolution: the ELM threshold line.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the embedding and link sampling."
)
@click.option("--dpi", type=int, default=200, show_default=True, help="Resolution of PNG output (adjacency: fixed).")
def plot(targets, kind, output, update, title, embedding, theta, seed, dpi):
    """Draw a figure of TARGET: a mask/stack file, a checkpoint (.pt) or a run directory.

    --kind training takes several run directories or checkpoints and draws their curves side by side (runs of
    one method and sparsity with different seeds as their mean and a min-max band); --kind comparison takes run
    directories of several methods and seeds (grouped by method) and draws the papers' comparison: accuracy with
    a band over seeds, ANP, and best accuracy against AAE relative to fc.

    \b
    Examples:
      dstnet plot bsf.npz --kind degree -o degree.pdf
      dstnet plot runs/chts --kind evolution -o evolution.png
      dstnet plot runs/chts --kind hyperbolic --update 0 -o initial-disk.png
      dstnet plot runs/chts runs/set --kind training -o curves.svg
      dstnet plot runs/reproduce-mlp/* --kind comparison -o methods.png
    """
    from netsci_dst.fileio import atomic_path
    from netsci_dst.outputs import check_output_path
    from netsci_dst.plot.degree import FIGURE_SUFFIXES

    output = check_output_path(output or f"{kind}.png", "-o", suffixes=FIGURE_SUFFIXES, inputs=targets)
    if not 1 <= dpi <= 1200:
        raise DstnetError(f"--dpi must be in [1, 1200], got {dpi}")
    if not 0.0 <= theta <= 1.0:
        raise DstnetError(f"--theta must be in [0, 1], got {theta}")
    if len(targets) > 1 and kind not in SEVERAL:
        raise DstnetError(
            f"--kind {kind} draws one TARGET, got {len(targets)} (only --kind training and comparison take several)"
        )
    if update is not None and kind in ("evolution", "training", "comparison"):
        raise DstnetError(f"--update selects the masks of one update; --kind {kind} draws the whole run")
    with atomic_path(output, keep_suffix=True) as figure:  # a failed or interrupted draw leaves no file behind
        _draw(kind, targets, figure, update=update, title=title, embedding=embedding, theta=theta, seed=seed, dpi=dpi)
    click.echo(f"wrote {output}")


def _draw(
    kind: str,
    targets: tuple[str, ...],
    figure: Path,
    *,
    update: int | None,
    title: str | None,
    embedding: str,
    theta: float,
    seed: int,
    dpi: int,
) -> None:
    """Draw the figure of ``kind`` for ``targets`` into the file ``figure``."""
    from netsci_dst.analysis.targets import load_snapshot, load_target

    if kind == "comparison":
        from netsci_dst.plot.comparison import plot_comparison

        plot_comparison(targets, figure, title=title, dpi=dpi)
        return
    if kind == "evolution":  # a run directory, or a kept run (its evolution.json)
        from netsci_dst.plot.evolution import plot_evolution

        plot_evolution(targets[0], figure, theta=theta, title=title, dpi=dpi)
        return
    loaded = [load_target(t) for t in targets]

    if kind == "training":
        for t in loaded:
            t.require_metrics("--kind training")
        from netsci_dst.plot.training import plot_training, training_run

        labels = [t.label for t in loaded]
        if len(set(labels)) < len(labels):
            labels = [str(t.path) for t in loaded]
        runs = [training_run(label, t.metrics, t.config) for label, t in zip(labels, loaded, strict=True)]
        plot_training(runs, figure, title=title, dpi=dpi)
    else:
        t = loaded[0]
        stack, name = t.stack, t.label
        if update is not None:
            t.require_snapshots("--update")
            from netsci_dst.analysis.targets import snapshot_update

            found = [p for p in t.snapshots if snapshot_update(p) == update]
            if not found:
                have = ", ".join(str(snapshot_update(p)) for p in t.snapshots)
                raise DstnetError(f"--update {update}: {t.path} has snapshots of updates {have}")
            stack, name = load_snapshot(found[0]), f"{t.label}, update {update}"
        title = title or name
        if kind == "adjacency":
            from netsci_dst.plot.topology import plot_stack_topology

            plot_stack_topology(stack, figure, title=title)
        elif kind == "degree":
            from netsci_dst.plot.degree import plot_degree

            plot_degree(stack, figure, title=title, dpi=dpi)
        else:
            from netsci_dst.analysis.anp import ends_at_output
            from netsci_dst.plot.hyperbolic import plot_hyperbolic

            plot_hyperbolic(
                stack,
                figure,
                method=embedding,
                seed=seed,
                title=title,
                dpi=dpi,
                last_is_output=ends_at_output(t.config, len(stack)),
            )
