"""Reproduce the papers' MLP table: DST recipes x seeds on one dataset, printed in the papers' form.

    python benchmarks/reproduce_mlp.py --data-dir ../shared/data/mnist-8k --sparsity 0.99 --epochs 30 --seeds 2

For each method: the best test accuracy by the recipe's convention (the authors' run.py: under EM&S only the epochs
after 0.75 of training count, otherwise every epoch), the final test accuracy (mean ± sd over seeds), ANP (active
neurons after percolation, at the end), AAE (area across epochs: the mean test accuracy over epochs) and the
training time per run (its epochs' wall times summed, mean over seeds) with the median epoch over all seeds (robust
to epochs slowed by other work on the machine). The recipes are those of ``dstnet methods`` (the authors' code;
``chts-paper`` is the papers' fixed-density CHTs). Runs go to --out/METHOD-seedS; complete runs are reused and
interrupted ones resume from their last checkpoint, so the command can be repeated until the table is complete;
``--archive DIR`` also keeps each complete run's small files in a folder committed with the table, so a fresh clone
reuses them too. The papers' numbers (full MNIST, 100 epochs) are printed alongside with their source, for
reference, not compared against: settings differ.

``--figures DIR`` also draws, with the library calls behind ``dstnet plot``, ``DIR/TAG-methods.png`` (accuracy with a
band over seeds, ANP, best accuracy and AAE against fc: ``dstnet plot RUNS... --kind comparison``) and
``DIR/TAG-chts-evolution.png`` (the topology evolution of the first chts run: ``dstnet plot RUN --kind evolution``).

``--readme FILE --tag NAME`` also writes the table (with the command that made it) into FILE between the lines
``<!-- reproduce_mlp:NAME -->`` and ``<!-- /reproduce_mlp:NAME -->``, so the README's table is generated, never typed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

from netsci_dst.dst.methods import MethodConfig, get_recipe
from netsci_dst.errors import DstnetError
from netsci_dst.train.archive import train_or_reuse, write_block
from netsci_dst.train.mlp import MLPTrainer, TrainConfig
from netsci_dst.train.rundir import RunDir, read_jsonl

DEFAULT_METHODS = "fc,set,rigl,mest,cht,chts,chts-paper,chtss"

#: [CHTss] Zhang et al., arXiv 2501.19107, Table 7: MNIST, MLP 784-1568-1568-1568-10, 99 % sparsity, 100 epochs on
#: the 60,000 training digits; accuracy % and (ANP %). CHTs there is the CH3-L3p row (the authors' MLP command).
PAPER_MNIST_99 = {
    "fc": (98.78, None),
    "set": (98.14, 100.0),
    "rigl": (98.61, 29.0),
    "cht": (98.48, 29.0),
    "chts": (98.81, 20.0),
    "chtss": (98.83, 32.0),
}
PAPER_SOURCE = "CHTss paper (arXiv 2501.19107) Table 7: full MNIST, 100 epochs, 99 % sparsity"


def variant(args: argparse.Namespace) -> str:
    """The ``--set`` overrides as a name part, ``+key=value+...`` ("" without overrides)."""
    return "".join(f"+{k}={v}" for k, v in sorted(args.overrides.items()))


def run_dir(method: str, seed: int, args: argparse.Namespace) -> Path:
    """``OUT/METHOD-seedS``, or ``OUT/METHOD+key=value-seedS`` for an ablation made with ``--set``."""
    return Path(args.out) / f"{method}{variant(args)}-seed{seed}"


def run_one(method: str, seed: int, args: argparse.Namespace) -> Path | None:
    """Train (or resume, or reuse) one run; returns the folder of the complete run (in ``--out`` or, kept by an
    earlier session, in ``--archive``), ``None`` with ``--table-only`` when it is not complete."""

    def config() -> TrainConfig:
        return TrainConfig(
            method=method,
            method_overrides=dict(args.overrides),
            sparsity=args.sparsity,
            dataset=args.dataset,
            data_dir=args.data_dir,
            epochs=args.epochs,
            seed=seed,
            progress=False,
            train_limit=args.train_limit,
            test_limit=args.test_limit,
        )

    return train_or_reuse(run_dir(method, seed, args), args.archive, MLPTrainer, config, args.table_only)


def epoch_seconds(run_dir: Path) -> list[float]:
    """The wall time of each epoch in metrics.jsonl: their sum is the run's time, also for a run that was
    interrupted and resumed; their median is the typical epoch, robust to epochs slowed by other work on the
    machine."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["seconds"] for line in lines if line.strip()]


def unfinished(folder: Path, epochs: int) -> str:
    """What an incomplete run has done: ``not started``, or its last logged epoch (it resumes from there)."""
    metrics = folder / "metrics.jsonl"
    try:
        done = [r.get("epoch") for r in read_jsonl(metrics)] if metrics.is_file() else []
    except DstnetError as e:
        return f"metrics unreadable ({e})"
    done = [e for e in done if isinstance(e, int)]
    if not done:
        return "not started"
    return f"epoch {max(done)} of {epochs} logged (resumes from its checkpoint; no row until complete)"


def fmt(values: list[float | None], scale: float = 100.0) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0] * scale:.2f}"
    return f"{statistics.mean(values) * scale:.2f} ± {statistics.stdev(values) * scale:.2f}"


def table(rows: list[tuple[str, list[dict]]], args: argparse.Namespace) -> str:
    """The markdown table: one row per method, the papers' numbers beside."""
    data = args.data_dir or "the bundled digits"
    lines = [
        f"{args.dataset} ({data}), sparsity {args.sparsity:g} (fc dense), MLP 784-1568-1568-1568-10; best accuracy "
        "as the authors record it (after 0.75 of training for the EM&S recipes chts, mest and chtss, over every "
        f"epoch otherwise); paper: {paper_source(args)}",
        "",
        "| method | origin | seeds x epochs | best accuracy % | final accuracy % | ANP % | AAE % | time per run "
        "| paper accuracy % (ANP %) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if not rows:
        return "No run complete yet."
    for method, runs in rows:
        best = [r.get("best_acc") for r in runs]
        final = [r["final_acc"] for r in runs]
        anp = [r["anp"] for r in runs]
        aae = [r["aae"] for r in runs]
        secs = statistics.mean(sum(r["epoch_seconds"]) for r in runs)
        typical = statistics.median(t for r in runs for t in r["epoch_seconds"])
        epochs = sorted({r["epochs"] for r in runs})
        paper = PAPER_MNIST_99.get(method) if has_paper_numbers(args) else None
        paper_text = "" if paper is None else f"{paper[0]:.2f}" + ("" if paper[1] is None else f" ({paper[1]:.0f})")
        origin = recipe_origin(method, [r["run_dir"] for r in runs], args.overrides)
        label = method + variant(args).replace("+", " +")
        lines.append(
            f"| {label} | {origin} | {len(runs)} x {'/'.join(map(str, epochs))} | {fmt(best)} | {fmt(final)} | "
            f"{'-' if method == 'fc' else fmt(anp)} | {fmt(aae)} | {secs:.0f} s (median epoch {typical:.1f} s) | "
            f"{paper_text} |"
        )
    return "\n".join(lines)


def has_paper_numbers(args: argparse.Namespace) -> bool:
    """The papers' table is MNIST at 99 % sparsity: other settings get no paper column values."""
    return args.dataset == "mnist" and abs(args.sparsity - 0.99) < 1e-12


def paper_source(args: argparse.Namespace) -> str:
    if has_paper_numbers(args):
        return PAPER_SOURCE
    return f"none here (the sources at hand give MNIST at 99 % sparsity only: {PAPER_SOURCE})"


def recipe_origin(method: str, run_dirs: list[str], overrides: dict | None = None) -> str:
    """The recipe's origin (code, assembled, paper), "ablation" with ``--set`` overrides, or "older preset" when the
    runs used another config (runs made before dstnet followed the authors' code)."""
    recipe = get_recipe(method)
    current = recipe.config.replace(**(overrides or {})).to_dict()
    for run_dir in run_dirs:
        stored = json.loads((Path(run_dir) / "config.json").read_text())["method"]
        used = MethodConfig.from_dict(stored).to_dict()
        if {k: v for k, v in used.items() if k != "update_interval"} != {
            k: v for k, v in current.items() if k != "update_interval"
        }:
            return "older preset"
    return "ablation" if overrides else recipe.origin


def figures(rows: list[tuple[str, list[dict]]], args: argparse.Namespace) -> list[Path]:
    """The comparison figure of every run in the table and the evolution figure of the first chts run."""
    from netsci_dst.analysis.evolution_record import EVOLUTION_FILE
    from netsci_dst.plot.comparison import plot_comparison
    from netsci_dst.plot.evolution import plot_evolution

    args.figures.mkdir(parents=True, exist_ok=True)
    run_dirs = [r["run_dir"] for _, runs in rows for r in runs]
    written = []
    if run_dirs:
        epochs = "/".join(str(e) for e in sorted({r["epochs"] for _, runs in rows for r in runs}))
        title = f"{args.dataset}, {args.sparsity:.1%} sparsity, {epochs} epochs"
        written.append(plot_comparison(run_dirs, args.figures / f"{args.tag}-methods.png", title=title))
    # a run folder has its mask snapshots, a kept run (--archive) its evolution.json; runs kept before that file
    # existed have neither, and their figure stays as drawn
    chts = [r["run_dir"] for method, runs in rows if method == "chts" for r in runs]
    chts = [d for d in chts if RunDir(d).mask_snapshots() or (Path(d) / EVOLUTION_FILE).is_file()]
    if chts:
        path = args.figures / f"{args.tag}-chts-evolution.png"
        written.append(plot_evolution(chts[0], path, title=f"chts topology evolution ({Path(chts[0]).name})"))
    return written


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=DEFAULT_METHODS, help=f"comma-separated recipes [{DEFAULT_METHODS}]")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None, help="IDX folder (default: the bundled subset)")
    ap.add_argument("--sparsity", type=float, default=0.99)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--out", default="runs/reproduce-mlp")
    ap.add_argument("--table-only", action="store_true", help="train nothing: tabulate the runs already complete")
    ap.add_argument(
        "--archive",
        type=Path,
        help="also keep each complete run's config, summary, metrics and evolution.json here (a folder committed "
        "with the table) and reuse the runs kept there: see netsci_dst/train/archive.py",
    )
    ap.add_argument(
        "--set",
        dest="set_items",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an ablation: override this method field in every run (repeatable; run folders METHOD+KEY=VALUE-seedS)",
    )
    ap.add_argument("--readme", type=Path, help="also write the table into this file (see --tag)")
    ap.add_argument("--figures", type=Path, help="also draw the comparison and chts-evolution figures in this folder")
    ap.add_argument("--tag", default="quick", help="the README block to fill [quick]")
    args = ap.parse_args(argv)

    from netsci_dst.cli.train import _parse_overrides

    args.overrides = _parse_overrides(tuple(args.set_items))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for method in methods:
        get_recipe(method).config.replace(**args.overrides)  # unknown names and fields fail before any training
    rows = []
    for method in methods:
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            folder = run_one(method, seed, args)
            if folder is None:  # with --table-only: incomplete (else: skipped, another process trains it)
                if args.table_only:
                    state = unfinished(run_dir(method, seed, args), args.epochs)
                    print(f"  {method}{variant(args)} seed {seed}: {state}", file=sys.stderr)
                continue
            s = json.loads((folder / "summary.json").read_text())
            s["run_dir"], s["epoch_seconds"] = str(folder), epoch_seconds(folder)
            runs.append(s)
            best = "-" if s.get("best_acc") is None else f"{s['best_acc']:.4f}"
            print(
                f"  {method}{variant(args)} seed {seed}: best {best}  final {s['final_acc']:.4f}  AAE {s['aae']:.4f}  "
                f"ANP {s['anp']:.3f}  {sum(s['epoch_seconds']):.0f}s",
                file=sys.stderr,
                flush=True,
            )
        if runs:
            rows.append((method, runs))
    text = table(rows, args)
    print("\n" + text)
    if args.figures:
        for path in figures(rows, args):
            print(f"wrote {path}", file=sys.stderr)
    if args.readme:
        write_block(
            args.readme,
            f"reproduce_mlp:{args.tag}",
            f"```bash\n{command_line(sys.argv[1:] if argv is None else argv)}\n```\n\n{text}",
        )
    return text


def command_line(argv: list[str]) -> str:
    """The command that made the table, without the README-writing options and the run folder."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--readme", "--tag", "--table-only", "--out", "--figures", "--archive"):
            skip = arg != "--table-only"
            continue
        if arg.startswith(("--readme=", "--tag=", "--out=", "--figures=", "--archive=")):
            continue
        kept.append(shlex.quote(arg))
    return " ".join(["python benchmarks/reproduce_mlp.py", *kept])


if __name__ == "__main__":
    main()
