"""Reproduce the papers' Transformer table on Multi30k en->de: DST methods at one sparsity, BLEU side by side.

    python benchmarks/reproduce_transformer.py --sparsity 0.9

Trains the CPU-sized Transformer (``--preset cpu``, the default; ``--preset paper`` is the CHTss Table 2 model for
a GPU) with each method on the bundled Multi30k corpus and prints, per method, the test BLEU (beam 2, sacrebleu,
lowercased) of the best-validation checkpoint, the best validation BLEU (greedy), the final density and ANP, and
the time of each run. Runs go to --out/METHOD-seedS and are reused when complete, so an interrupted reproduction
continues where it stopped. The papers' BLEU (6+6 layers, d_model 512, 5,000 steps on a GPU) is printed alongside
for reference, not compared against: the model sizes differ.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from netsci_dst.train.rundir import RunDir
from netsci_dst.train.transformer import TransformerConfig, TransformerTrainer

# [CHTss] Table 2, Multi30k en-de at 90% sparsity, beam 2 (ALGORITHMS.md §6).
PAPER_BLEU_90 = {"fc": 31.38, "chtss": 32.86, "chts": 29.81, "rigl": 30.26, "set": 29.73, "cht": 28.38}


def run_one(method: str, seed: int, args: argparse.Namespace) -> dict:
    out = Path(args.out) / f"{method}-seed{seed}"
    summary_path = out / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    if RunDir(out).resume_point.exists():
        trainer = TransformerTrainer.resume(out, progress=False)
    else:
        options = {k: getattr(args, k) for k in ("steps", "train_limit") if getattr(args, k) is not None}
        cfg = TransformerConfig(
            method=method, sparsity=args.sparsity, preset=args.preset, seed=seed, progress=False, **options
        )
        trainer = TransformerTrainer(cfg, out)
    t0 = time.perf_counter()
    summary = trainer.train()
    summary["wall_seconds"] = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def run_seconds(method: str, seed: int, args: argparse.Namespace, summary: dict) -> float:
    """Training time summed over metrics.jsonl (right also for resumed runs) plus the final test's time."""
    path = Path(args.out) / f"{method}-seed{seed}" / "metrics.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(r["seconds"] for r in lines) + summary["test_seconds"]


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="fc,set,rigl,chts,chtss")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--preset", default="cpu", choices=["cpu", "paper", "tiny"])
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps [preset]")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--out", default="runs/reproduce-transformer")
    ap.add_argument("--table-only", action="store_true", help="train nothing: tabulate the runs already complete")
    args = ap.parse_args()

    rows = []
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        runs = []
        for seed in range(args.seeds):
            if args.table_only and not (Path(args.out) / f"{method}-seed{seed}" / "summary.json").exists():
                continue
            s = dict(run_one(method, seed, args))
            s["run_seconds"] = run_seconds(method, seed, args, s)
            runs.append(s)
            print(
                f"  {method} seed {seed}: test BLEU {s['test_bleu']:.2f}  val BLEU {s['best_val_bleu']:.2f}  "
                f"density {s['density']:.3f}  {s['run_seconds']:.0f}s",
                file=sys.stderr,
                flush=True,
            )
        if runs:
            rows.append((method, runs))

    first = rows[0][1][0] if rows else {}
    print(
        f"\nMulti30k en->de (bundled), sparsity {args.sparsity:g} (fc dense), "
        f"preset {first.get('preset', args.preset)}, {first.get('steps', '?')} steps, "
        "test BLEU with beam 2 on test_2016_flickr\n"
    )
    print("| method | seeds | test BLEU | best val BLEU (greedy) | density | ANP % | time per run | paper BLEU |")
    print("|---|---|---|---|---|---|---|---|")
    for method, runs in rows:
        paper = PAPER_BLEU_90.get(method)
        secs = statistics.mean(r["run_seconds"] for r in runs)
        anp = "-" if method == "fc" else fmt([100 * r["anp"] for r in runs])
        print(
            f"| {method} | {len(runs)} | {fmt([r['test_bleu'] for r in runs])} | "
            f"{fmt([r['best_val_bleu'] for r in runs])} | {statistics.mean(r['density'] for r in runs):.3f} | "
            f"{anp} | {secs:.0f} s | {'' if paper is None else f'{paper:.2f}'} |"
        )


if __name__ == "__main__":
    main()
