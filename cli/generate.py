"""``dstnet generate``: build a layer or a whole stack with a topology model, summarise it, save it, draw it."""

from __future__ import annotations

import inspect

import click

from netsci_dst.errors import DstnetError
from netsci_dst.outputs import check_output_path

# Options that only some models accept; a model accepts an option when its generator has a parameter of that name.
_MODEL_OPTIONS = ("beta", "r", "degree", "soft", "data")


def _parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",")]  # an empty item ("10,,5") is an error too
    except ValueError:
        raise DstnetError(f"--layers takes comma-separated integers like 784,1568,1568, got {text!r}") from None
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise DstnetError(f"--layers needs at least two positive sizes, got {text!r}")
    return sizes


def _model_params(model: str) -> set[str]:
    from netsci_dst.topology import get

    sig = inspect.signature(get(model).func)
    return set(sig.parameters) - {"n_in", "n_out", "density", "seed"}


@click.command("generate")
@click.argument("model", type=str, metavar="MODEL")
@click.option("--n-in", type=int, help="Input neurons of a single layer (with --n-out).")
@click.option("--n-out", type=int, help="Output neurons of a single layer (with --n-in).")
@click.option("--layers", type=str, help="Neuron-layer sizes of a stack, e.g. 784,1568,1568,1568 (3 layers).")
@click.option("--density", type=float, help="Fraction of links kept, in (0, 1]. Default 0.01.")
@click.option("--sparsity", type=float, help="1 - density (give one of --density/--sparsity).")
@click.option(
    "--distribution",
    type=click.Choice(["uniform", "erk"]),
    default="uniform",
    show_default=True,
    help="Per-layer density: the same for every layer, or Erdos-Renyi-Kernel.",
)
@click.option("--beta", type=float, help="bsw: rewiring probability in [0, 1] (paper default 0.25).")
@click.option("--r", "r", type=float, help="brf: receptive-field randomness in [0, 1] (paper default 0.25).")
@click.option("--degree", type=click.Choice(["fixed", "uniform"]), help="brf: row-degree distribution.")
@click.option("--soft", is_flag=True, default=None, help="csti: sample links proportionally to |correlation|.")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(),
    help="csti: folder of MNIST-layout IDX files (default: the bundled 6,000 training digits).",
)
@click.option("--equal-partition", is_flag=True, help="Redraw first-layer inputs so input degrees are near-uniform.")
@click.option("--resort", type=click.Choice(["rigid", "soft"]), help="Align hidden-neuron degrees across layers.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed (same seed, same topology)."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output file [default: MODEL.npz].")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["npz", "edgelist", "graphml"]),
    help="Output format [default: from the file suffix].",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Also draw the adjacency matrices and degree distributions (PNG, SVG or PDF).",
)
def generate(
    model,
    n_in,
    n_out,
    layers,
    density,
    sparsity,
    distribution,
    beta,
    r,
    degree,
    soft,
    data_dir,
    equal_partition,
    resort,
    seed,
    output,
    fmt,
    plot_path,
):
    """Generate a sparse bipartite topology with MODEL: er, bsw, bsf, brf or csti.

    \b
    Examples:
      dstnet generate bsw --beta 0.25 --n-in 784 --n-out 1568 --density 0.01 -o topo.npz
      dstnet generate bsf --layers 784,1568,1568,1568 --sparsity 0.99 --equal-partition --resort rigid
      dstnet generate csti --layers 784,1568 --density 0.01 --plot csti.png
    """
    from netsci_dst.analysis.degree import format_summary, stack_summary
    from netsci_dst.graph import check_mask_sizes, format_of, save
    from netsci_dst.topology import get
    from netsci_dst.topology.stack import build_stack

    spec = get(model)
    if plot_path:
        from netsci_dst.plot.degree import FIGURE_SUFFIXES

        check_output_path(plot_path, "--plot", suffixes=FIGURE_SUFFIXES)
    if layers is not None and (n_in is not None or n_out is not None):
        raise DstnetError("give either --layers or --n-in/--n-out, not both")
    if layers is not None:
        sizes = _parse_layers(layers)
    elif n_in is not None and n_out is not None:
        sizes = [n_in, n_out]
    else:
        raise DstnetError("give the layer sizes: --n-in and --n-out, or --layers 784,1568,...")
    if density is not None and sparsity is not None:
        raise DstnetError("give either --density or --sparsity, not both")
    if sparsity is not None:
        density = 1.0 - sparsity
    if density is None:
        density = 0.01

    given = {"beta": beta, "r": r, "degree": degree, "soft": soft, "data": data_dir}
    accepted = _model_params(spec.name)
    params = {}
    for name in _MODEL_OPTIONS:
        if given[name] is None:
            continue
        if name not in accepted:
            raise DstnetError(
                f"--{name} does not apply to {spec.name} (it takes: "
                f"{', '.join('--' + p for p in sorted(accepted & set(_MODEL_OPTIONS))) or 'no options'})"
            )
        params[name] = given[name]
    if "data" in params:
        from netsci_dst.data.bundled import calibration_data

        params["data"] = calibration_data(params["data"])

    output = check_output_path(output or f"{spec.name}.npz", "-o", inputs=[data_dir] if data_dir else ())
    implied = format_of(output)
    if fmt and fmt != implied:  # dstnet (and analyze, plot, linkpred) read a file by its suffix
        raise DstnetError(f"--format {fmt} into {output.name}: that name is read back as {implied}; rename the file")
    fmt = fmt or implied
    given_sizes = f"--layers {layers}" if layers is not None else f"--n-in {n_in} --n-out {n_out}"
    check_mask_sizes([(b, a) for a, b in zip(sizes, sizes[1:], strict=False)], given_sizes)
    stack = build_stack(
        sizes,
        spec.name,
        density,
        seed=seed,
        distribution=distribution,
        equal_partition=equal_partition,
        resort=resort,
        **params,
    )
    click.echo(f"{spec.name}: {len(stack)} layer(s), sizes {','.join(map(str, sizes))}, seed {seed}")
    click.echo(format_summary(stack_summary(stack)))
    save(stack, output, fmt)
    click.echo(f"wrote {output} ({fmt})")
    if plot_path:
        from netsci_dst.fileio import atomic_path
        from netsci_dst.plot.topology import plot_stack_topology

        with atomic_path(plot_path, keep_suffix=True) as figure:
            plot_stack_topology(stack, figure, title=f"{spec.name}, density {density:g}, seed {seed}")
        click.echo(f"wrote {plot_path}")
