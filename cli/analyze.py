"""``dstnet analyze``: network-science measures of a mask file, a checkpoint or a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import click

from netsci_dst.errors import DstnetError

# Stack measures, in the order of netsci_dst.analysis.report.MEASURES; each has a flag of the same name.
MEASURES = ("summary", "anp", "powerlaw", "cap", "clustering", "community", "paths", "hyperbolic")
DEFAULT_MEASURES = ("summary", "anp")
_HELP = {
    "summary": "Per-layer links, density, degrees and active neurons.",
    "anp": "Active-neuron post-percolation rate per neuron layer and overall.",
    "powerlaw": "Power-law exponent gamma of the degree distributions (Clauset-Shalizi-Newman).",
    "cap": "Credit assignment paths through the stack and the share through the hubs.",
    "clustering": "Square and Latapy bipartite clustering, L3 closure rate.",
    "community": "Modularity (Leiden) against degree-preserving random rewirings.",
    "paths": "Characteristic path length of the largest component.",
    "hyperbolic": "Coalescent embedding in the hyperbolic disk and the layers' angular separation index.",
}


def _measure_options(f):
    for name in reversed(MEASURES):
        f = click.option(f"--{name}", f"m_{name}", is_flag=True, help=_HELP[name])(f)
    return f


def _check_output(path: str | None, option: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise DstnetError(f"{option} {path}: is a folder, give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DstnetError(f"{option} {path}: folder {parent} does not exist")
    return p


@click.command("analyze")
@click.argument("target", type=click.Path(), metavar="TARGET")
@_measure_options
@click.option(
    "--elm",
    is_flag=True,
    help="Per update and layer: removed/regrown links, overlap ratio, and whether the layer is in an "
    "epitopological local minimum (checkpoints and run directories).",
)
@click.option(
    "--theta", type=float, default=0.9, show_default=True, help="ELM threshold: overlap above theta is a minimum."
)
@click.option("--all", "all_", is_flag=True, help="Every measure (and --elm when the target has a history).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the randomised measures.")
@click.option(
    "--every",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Run directory: measure every N-th mask snapshot (the first and the last always).",
)
@click.option("--json", "json_path", type=click.Path(), metavar="FILE", help="Also write every result to FILE as JSON.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(),
    metavar="FILE",
    help="Write the table to FILE as CSV: the measures per mask snapshot (run directory) or the --elm rows.",
)
def analyze(target, elm, theta, all_, seed, every, json_path, csv_path, **flags):
    """Measure the sparse network in TARGET: a mask/stack file (.npz, edge list, GraphML), a checkpoint (.pt)
    or a run directory.

    Without a measure flag: the per-layer summary and ANP. On a run directory the measures are also tracked over
    the saved mask snapshots (one row per topology update).

    \b
    Examples:
      dstnet analyze bsf.npz --powerlaw --cap
      dstnet analyze runs/chts/checkpoints/latest.pt --elm --theta 0.9
      dstnet analyze runs/chts --anp --powerlaw --csv evolution.csv --json analysis.json
      dstnet analyze runs/chts --hyperbolic --every 10
      dstnet analyze runs/chts/checkpoints/best.pt --all --json all.json
    """
    from netsci_dst.analysis.targets import format_result, json_safe, load_target

    if not 0.0 <= theta <= 1.0:
        raise DstnetError(f"--theta must be in [0, 1], got {theta}")
    if every < 1:
        raise DstnetError(f"--every must be a positive integer, got {every}")
    json_file = _check_output(json_path, "--json")
    csv_file = _check_output(csv_path, "--csv")
    t = load_target(target)

    chosen = [m for m in MEASURES if flags[f"m_{m}"]]
    if all_:
        chosen = list(MEASURES)
        elm = elm or t.has_history
    elif not chosen and not elm:
        chosen = list(DEFAULT_MEASURES)
    if not all_ and not any(flags.values()) and "anp" in chosen and not t.stack.is_chain:
        chosen.remove("anp")  # the default skips ANP for independent layers (it needs a chain)
    if elm:
        t.require_history("--elm")
    if csv_file is not None and t.kind != "rundir" and not elm:
        raise DstnetError("--csv writes a table: the measures over a run directory's snapshots, or the --elm rows")

    click.echo(t.describe())
    out: dict = {"target": str(t.path), "kind": t.kind, "label": t.label, "method": t.method}
    table = None
    if chosen:
        if t.kind == "rundir" and t.snapshots:
            # one pass over the snapshots; the last one is the final state
            from netsci_dst.analysis.targets import evolution_rows, evolution_table, format_table

            rows = evolution_rows(t, chosen, seed=seed, every=every, progress=True)
            out["evolution"] = rows
            table = evolution_table(rows, t.history)
            results = rows[-1]
            click.echo(f"final masks: update {results['update']} ({results['file']})")
        else:
            from netsci_dst.analysis.report import report

            results = report(t.stack, chosen, seed=seed)
            out["measures"] = results
        for name in chosen:
            click.echo(f"\n== {name} ==")
            value = results.get(name)
            if isinstance(value, dict) and "skipped" in value:
                click.echo(f"skipped: {value['skipped']}")
            else:
                click.echo(format_result(name, value))
        if table is not None:
            click.echo(f"\n== over training: {len(table)} mask snapshot(s) ==")
            click.echo(format_table(table))

    if elm:
        from netsci_dst.analysis.targets import elm_report, format_elm

        rows, verdicts = elm_report(t.history, theta)
        out["elm"] = {"theta": theta, "rows": rows, "latest": verdicts}
        click.echo(f"\n== ELM (theta {theta:g}) ==")
        click.echo(format_elm(rows, verdicts))
        if table is None:
            table = rows

    if json_file is not None:
        try:
            json_file.write_text(json.dumps(json_safe(out), indent=2) + "\n")
        except OSError as e:
            raise DstnetError(f"--json {json_file}: cannot write ({e.strerror or e})") from None
        click.echo(f"\nwrote {json_file}")
    if csv_file is not None:
        from netsci_dst.analysis.targets import write_csv

        if table is None:
            raise DstnetError(f"--csv: {t.path} has no mask snapshots and no --elm rows to tabulate")
        write_csv(table, csv_file)
        click.echo(f"wrote {csv_file}")
