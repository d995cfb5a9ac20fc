"""The CHTss paper's language-model table at a CPU size: DST methods at 70% sparsity (30% connectivity), perplexity.

    python benchmarks/reproduce_lm.py --seeds 2 --readme README.md

Trains the CPU-sized LLaMA-style decoder (``--preset cpu``: about 1.8 M parameters; the paper's are LLaMA-60M and
-130M on C4) with each method on the bundled Multi30k English captions (or ``--text``) and prints, per method, the
best validation perplexity (mean ± sd over seeds), the final density, ANP and time per run, beside the unigram
perplexity of the corpus (the bar a model must clear). Runs go to --out/METHOD-seedS and are reused when complete
(and resumed when interrupted), so the same command continues an interrupted reproduction; with ``--archive DIR``
also across fresh clones (each complete run's small files are kept in DIR, committed with the table). The paper's
numbers are not shown: the model, the corpus and the number of tokens differ by orders of magnitude, and the
paper's LLaMA table could not be read offline (the authors' repository states none).

``--throughput`` measures tokens per second of 1 and 2 processes (torch.distributed, gloo) on the same run, side by
side in one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netsci_dst.train.archive import train_or_reuse, write_block
from netsci_dst.train.configs import LMConfig
from netsci_dst.train.lm import LMTrainer


def run_one(method: str, seed: int, args: argparse.Namespace) -> Path | None:
    """Train (or resume, or reuse) one run; returns the folder of the complete run (in ``--out`` or, kept by an
    earlier session, in ``--archive``), ``None`` with ``--table-only`` when it is not complete."""

    def config() -> LMConfig:
        options = {k: getattr(args, k) for k in ("steps", "text") if getattr(args, k) is not None}
        return LMConfig(method=method, sparsity=args.sparsity, preset=args.preset, seed=seed, progress=False, **options)

    out = Path(args.out) / f"{method}-seed{seed}"
    return train_or_reuse(out, args.archive, LMTrainer, config, args.table_only)


def run_seconds(folder: Path) -> float:
    """Training time summed over metrics.jsonl (right also for resumed runs)."""
    path = folder / "metrics.jsonl"
    return sum(json.loads(line)["seconds"] for line in path.read_text().splitlines() if line.strip())


def fmt(values: list[float], digits: int = 1) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(rows: list[tuple[str, list[dict]]], args: argparse.Namespace) -> str:
    first = rows[0][1][0] if rows else {}
    lines = [
        f"LLaMA-style decoder, preset {first.get('preset', args.preset)} ({first.get('parameters', 0) / 1e6:.1f} M "
        f"parameters), {first.get('steps', '?')} steps, sparsity {args.sparsity:g} on every projection (fc: dense), "
        f"corpus: {first.get('corpus', '?')}; unigram perplexity {first.get('unigram_ppl', float('nan')):.1f}.",
        "",
        "| method | seeds | best val perplexity | final val perplexity | density | ANP % | time per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, runs in rows:
        anp = "-" if method == "fc" else fmt([100 * r["anp"] for r in runs])
        lines.append(
            f"| {method} | {len(runs)} | {fmt([r['best_val_ppl'] for r in runs], 2)} | "
            f"{fmt([r['final_val_ppl'] for r in runs], 2)} | {statistics.mean(r['density'] for r in runs):.3f} | "
            f"{anp} | {statistics.mean(r['run_seconds'] for r in runs):.0f} s |"
        )
    return "\n".join(lines)


def throughput(args: argparse.Namespace) -> str:
    """Tokens per second of the same short run with 1 and 2 processes, measured one after the other."""
    rates = {}
    steps = 60
    for nproc in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "netsci_dst.cli", "train", "lm", "--preset", args.preset, "--steps",
                   str(steps), "--eval-every", str(steps), "--method", "chtss", "--sparsity", str(args.sparsity),
                   "--out", str(Path(tmp) / "run"), "--quiet", "--nproc", str(nproc)]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            records = [json.loads(x) for x in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
            cfg = json.loads((Path(tmp) / "run" / "config.json").read_text())["train"]
            tokens = steps * cfg["batch_size"] * cfg["seq_len"]
            rates[nproc] = tokens / sum(r["seconds"] for r in records)
    return (
        f"throughput, preset {args.preset}, {steps} steps, one thread per process: 1 process "
        f"{rates[1]:,.0f} tokens/s, 2 processes {rates[2]:,.0f} tokens/s ({rates[2] / rates[1]:.2f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="fc,set,rigl,mest,chts,chtss")
    ap.add_argument("--sparsity", type=float, default=0.7)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps [preset]")
    ap.add_argument("--text", default=None, help="corpus file or folder [bundled captions]")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--out", default="runs/reproduce-lm")
    ap.add_argument("--table-only", action="store_true", help="train nothing: tabulate the runs already complete")
    ap.add_argument(
        "--archive",
        type=Path,
        help="also keep each complete run's config, summary and metrics here (committed with the table) and reuse "
        "the runs kept there (netsci_dst/train/archive.py)",
    )
    ap.add_argument(
        "--readme", type=Path, help="also write the table (or the throughput) into this file's reproduce_lm block"
    )
    ap.add_argument("--throughput", action="store_true", help="measure 1- vs 2-process tokens/s instead")
    args = ap.parse_args()
    if args.throughput:
        text = throughput(args)
        print(text)
        if args.readme:
            write_block(
                args.readme,
                "reproduce_lm:throughput",
                f"```bash\npython benchmarks/reproduce_lm.py --throughput\n```\n\n{text}",
            )
        return

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    done: dict[str, list[dict]] = {m: [] for m in methods}
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # every method's first seed first
        for method in methods:
            t0 = time.perf_counter()
            folder = run_one(method, seed, args)
            if folder is None:
                continue
            s = json.loads((folder / "summary.json").read_text())
            s["run_seconds"] = run_seconds(folder)
            done[method].append(s)
            line = f"  {method} seed {seed}: best val ppl {s['best_val_ppl']:.2f}  density {s['density']:.3f}  "
            print(f"{line}{s['run_seconds']:.0f}s ({time.perf_counter() - t0:.0f}s now)", file=sys.stderr, flush=True)
    rows = [(method, runs) for method, runs in done.items() if runs]
    text = table(rows, args) if rows else "No run complete yet."
    print(text)
    if args.readme:
        write_block(args.readme, "reproduce_lm", text)


if __name__ == "__main__":
    main()
