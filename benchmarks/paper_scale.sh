#!/usr/bin/env bash
# The papers' MLP table at their scale (issue 14): all 60,000 MNIST digits, 100 epochs, 3 seeds, 99 % sparsity,
# and set/rigl/chts at 99.9 %. Every run resumes from its checkpoint and complete runs are reused, so the same
# command continues the plan after an interruption, across sessions:
#
#     nice -n 10 bash benchmarks/paper_scale.sh > runs/paper-scale.log 2>&1 &
#
# One copy uses every core: the sparse backend's compiled kernels run multi-threaded (numba). Measured here, SET at
# 99 % takes 7 s an epoch alone and 62 s an epoch with a second such process beside it (the two kernels' thread
# pools fight over the 2 cores). To run copies side by side (they share the plan, each taking the runs nobody
# trains), give each one core: NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1.
#
# Each complete run's config, summary and metrics are also kept in benchmarks/results/ (commit them: a fresh clone
# then reuses them, and only an interrupted run in OUT is lost with the machine). MNIST=... and OUT=... override the
# data folder (IDX files) and the runs' root. Sparse runs take the sparse backend
# (train's default on a CPU at 99 %); the dense fc runs come after the sparse ones of each seed, as they take
# about 7x longer (about 75 minutes each on 2 cores). Afterwards, the tables and figures:
#
#     bash benchmarks/paper_scale.sh tables
set -euo pipefail
cd "$(dirname "$0")/.."
MNIST=${MNIST:-../shared/data/mnist}
OUT=${OUT:-runs/paper}
MNIST=$(cd "$MNIST" && pwd)  # stored resolved in every run's config
common=(--data-dir "$MNIST" --epochs 100)
sparse99=chts,chtss,mest,cht,rigl,set
kept=benchmarks/results/mnist-paper

if [[ "${1:-}" == "tables" ]]; then
    python benchmarks/reproduce_mlp.py "${common[@]}" --seeds 3 --methods fc,$sparse99 --out "$OUT/99" \
        --archive $kept-99 --table-only --tag paper99 --readme README.md --figures docs/img
    python benchmarks/reproduce_mlp.py "${common[@]}" --seeds 3 --methods set,rigl,chts --sparsity 0.999 \
        --out "$OUT/99.9" --archive $kept-99.9 --table-only --tag paper999 --readme README.md --figures docs/img
    exit 0
fi

for seed in 0 1 2; do
    python benchmarks/reproduce_mlp.py "${common[@]}" --first-seed $seed --seeds 1 --methods $sparse99 --out "$OUT/99" \
        --archive $kept-99
    python benchmarks/reproduce_mlp.py "${common[@]}" --first-seed $seed --seeds 1 --methods fc --out "$OUT/99" \
        --archive $kept-99
done
python benchmarks/reproduce_mlp.py "${common[@]}" --seeds 3 --methods set,rigl,chts --sparsity 0.999 --out "$OUT/99.9" \
    --archive $kept-99.9
