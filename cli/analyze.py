"""``dstnet analyze``: network-science measures of a mask file, a checkpoint or a run directory.

Each registered measure (:mod:`netsci_dst.analysis.measures`) has a flag of the same name, with its help line; the
flags are read from the registry when the command line is parsed or the help is shown.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from netsci_dst.analysis.measures import MEASURES, REGISTRY, MeasureSpec
from netsci_dst.errors import DstnetError
from netsci_dst.outputs import check_output_path

STDOUT = "-"  # --json - / --csv -: write to stdout (the text report then goes to stderr)


@functools.lru_cache(maxsize=8)
def _measure_flags(specs: tuple[MeasureSpec, ...]) -> tuple[click.Option, ...]:
    return tuple(click.Option([f"--{s.name}", f"m_{s.name}"], is_flag=True, help=s.help) for s in specs)


class _AnalyzeCommand(click.Command):
    """A command whose measure flags come from the measure registry, after TARGET and before the other options."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        target, *rest = super().get_params(ctx)
        flags = _measure_flags(tuple(REGISTRY.values()))
        taken = {opt for param in rest for opt in param.opts}
        clash = [f.opts[0] for f in flags if f.opts[0] in taken]
        if clash:
            raise RuntimeError(f"measure flag(s) {', '.join(clash)} clash with dstnet analyze's own options")
        return [target, *flags, *rest]


def _check_output(path: str | None, option: str, suffix: str, target: str) -> Path | None:
    """The file an output option names (``None``: not given, or stdout); see
    :func:`~netsci_dst.outputs.check_output_path` for what it refuses."""
    if path is None or path == STDOUT:
        return None
    return check_output_path(path, option, suffixes=(suffix,), inputs=(target,))


@click.command("analyze", cls=_AnalyzeCommand)
@click.argument("target", type=click.Path(), metavar="TARGET")
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
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the randomised measures."
)
@click.option(
    "--every",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Run directory: measure every N-th mask snapshot (the first and the last always).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(allow_dash=True),
    metavar="FILE",
    help="Also write every result to FILE as JSON ('-': to stdout, and the text to stderr).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(allow_dash=True),
    metavar="FILE",
    help="Write the table to FILE as CSV: the measures per mask snapshot (run directory) or the --elm rows ('-': to "
    "stdout, and the text to stderr).",
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
    from netsci_dst.analysis.anp import ends_at_output
    from netsci_dst.analysis.measures import format_result
    from netsci_dst.analysis.tables import json_safe
    from netsci_dst.analysis.targets import load_target

    if not 0.0 <= theta <= 1.0:
        raise DstnetError(f"--theta must be in [0, 1], got {theta}")
    if every < 1:
        raise DstnetError(f"--every must be a positive integer, got {every}")
    if json_path == STDOUT and csv_path == STDOUT:
        raise DstnetError("--json - and --csv - both ask for stdout: send one of them to a file")
    json_file = _check_output(json_path, "--json", ".json", target)
    csv_file = _check_output(csv_path, "--csv", ".csv", target)
    # with data on stdout, the text report goes to stderr
    echo = functools.partial(click.echo, err=STDOUT in (json_path, csv_path))
    t = load_target(target)

    chosen = [m for m in MEASURES if flags[f"m_{m}"]]
    if all_:
        chosen = list(MEASURES)
        elm = elm or t.has_history
    elif not chosen and not elm:
        # the default measures, less those that do not apply to independent layers (ANP needs a chain)
        chosen = [s.name for s in REGISTRY.values() if s.default and (t.stack.is_chain or s.scope == "layers")]
    if elm:
        t.require_history("--elm")
    if csv_path is not None and t.kind != "rundir" and not elm:
        raise DstnetError("--csv writes a table: the measures over a run directory's snapshots, or the --elm rows")

    echo(t.describe())
    out: dict = {"target": str(t.path), "kind": t.kind, "label": t.label, "method": t.method}
    table = None
    if chosen:
        if t.kind == "rundir" and t.snapshots:
            # one pass over the snapshots; the last one is the final state
            from netsci_dst.analysis.evolution import evolution_rows, evolution_table
            from netsci_dst.analysis.tables import format_table

            rows = evolution_rows(t, chosen, seed=seed, every=every, progress=sys.stderr.isatty())
            out["evolution"] = rows
            table = evolution_table(rows, t.history)
            results = rows[-1]
            echo(f"final masks: update {results['update']} ({results['file']})")
        else:
            from netsci_dst.analysis.report import report

            last_is_output = ends_at_output(t.config, len(t.stack)) if t.stack.is_chain else True
            results = report(t.stack, chosen, seed=seed, last_is_output=last_is_output)
            out["measures"] = results
        for name in chosen:
            echo(f"\n== {name} ==")
            value = results.get(name)
            if isinstance(value, dict) and "skipped" in value:
                echo(f"skipped: {value['skipped']}")
            else:
                echo(format_result(name, value))
        if table is not None:
            echo(f"\n== over training: {len(table)} mask snapshot(s) ==")
            echo(format_table(table))

    if elm:
        from netsci_dst.analysis.elm import elm_report, format_elm

        rows, verdicts = elm_report(t.history, theta)
        out["elm"] = {"theta": theta, "rows": rows, "latest": verdicts}
        echo(f"\n== ELM (theta {theta:g}) ==")
        echo(format_elm(rows, verdicts))
        if table is None:
            table = rows

    if json_path is not None:
        text = json.dumps(json_safe(out), indent=2) + "\n"
        if json_file is None:
            click.echo(text, nl=False)
        else:
            _write("--json", json_file, text)
            echo(f"\nwrote {json_file}")
    if csv_path is not None:
        from netsci_dst.analysis.tables import csv_text

        if table is None:
            raise DstnetError(f"--csv: {t.path} has no mask snapshots and no --elm rows to tabulate")
        if csv_file is None:
            click.echo(csv_text(table), nl=False)
        else:
            _write("--csv", csv_file, csv_text(table))
            echo(f"wrote {csv_file}")


def _write(option: str, path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a full disk leaves neither a partial file nor a temporary one."""
    from netsci_dst.fileio import atomic_write

    try:
        with atomic_write(path, newline="") as f:
            f.write(text)
    except OSError as e:
        raise DstnetError(f"{option} {path}: cannot write ({e.strerror or e})") from None
