"""Time the network-science analyzers, side by side with networkx where it has the same measure.

    python benchmarks/bench_analysis.py            # Latapy vs networkx at 1%, the MLP report, the 4096x11008 layer
    python benchmarks/bench_analysis.py --full     # also networkx at 5% density (~66 s for networkx alone)
    python benchmarks/bench_analysis.py --quick    # small sizes only (seconds)
    python benchmarks/bench_analysis.py --no-llm   # skip the 4096x11008 layer
    python benchmarks/bench_analysis.py --skip-mlp --llm-measures clustering,paths   # some measures, big layer only

Masks are ER (``netsci_dst.topology.build_stack(..., "er", density)``), seed 0. Sections:

1. Latapy clustering (mode ``dot``) of every neuron of one 1568x1568 layer: ours (best of --repeat after a warm-up)
   against ``networkx.bipartite.clustering`` (one call), the ratio and the largest difference between the two.
   Target: at least 50x faster (networkx takes ~2.6 s at 1% on a 2-core machine).
2. The compiled shortest paths (:mod:`netsci_dst.analysis.shortest_paths`) on the MLP's stack graph: Dijkstra with
   RA1 weights (the ncISO kernel) from 1024 sources against ``scipy.sparse.csgraph.dijkstra``, and the all-pairs
   BFS path length against igraph's ``average_path_length``.
3. ``report(stack, "all")`` on the paper's MLP (784-1568-1568-1568, three sparse layers at 1%), with the time of each
   measure, and with ``--checkpoint FILE`` on a trained checkpoint too. Target: under 10 s in all.
4. Each measure alone on one 4096x11008 layer at 30% (13.5M links), path length with sampled sources (the exact
   all-pairs version is out of scope at this size). Target: under 30 s each.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from netsci_dst.analysis.clustering import latapy_clustering
from netsci_dst.analysis.report import MEASURES, report, resolve_measures
from netsci_dst.graph import to_networkx
from netsci_dst.topology import build_stack

NX_TARGET = 50.0
REPORT_TARGET = 10.0
LLM_TARGET = 30.0


def best_of(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def latapy_vs_networkx(n: int, density: float, repeat: int) -> None:
    import networkx as nx

    mask = build_stack([n, n], "er", density, seed=0).masks[0]
    ours_s, ours = best_of(lambda: latapy_clustering(mask, "dot"), repeat)
    g = to_networkx(mask)
    t0 = time.perf_counter()
    ref = nx.bipartite.clustering(g, mode="dot")
    nx_s = time.perf_counter() - t0
    values = np.array(ours["inputs"] + ours["outputs"])
    diff = float(np.abs(values - np.array([ref[v] for v in range(2 * n)])).max())
    ratio = nx_s / ours_s
    ok = "ok" if ratio >= NX_TARGET else "MISSED"
    print(
        f"{n}x{n} @{density:.0%}  ours {ours_s * 1e3:9.1f} ms   networkx {nx_s:8.2f} s   ratio {ratio:7.0f}x   "
        f"max |diff| {diff:.1e}   target >= {NX_TARGET:.0f}x: {ok}"
    )


def shortest_paths_vs_references(sizes: list[int], density: float, n_sources: int) -> None:
    """The compiled kernels of ``shortest_paths`` against scipy's Dijkstra and igraph's BFS on the MLP stack graph."""
    import igraph  # noqa: F401 (fail early if missing)
    from scipy.sparse import csgraph

    from netsci_dst.analysis.hyperbolic import ra_weights
    from netsci_dst.analysis.paths import largest_component, stack_adjacency, to_igraph_edges
    from netsci_dst.analysis.shortest_paths import bfs_distance_sums, dijkstra_rows

    adj, _ = stack_adjacency(build_stack(sizes, "er", density, seed=0))
    comp = largest_component(adj)
    sub = adj[comp][:, comp].tocsr()
    weights = ra_weights(sub, "RA1", bipartite=True)
    src = np.arange(min(n_sources, sub.shape[0]))
    ours_s, ours = best_of(lambda: dijkstra_rows(weights, src, dtype=np.float64), 2)
    t0 = time.perf_counter()
    ref = csgraph.dijkstra(weights, directed=True, indices=src)
    ref_s = time.perf_counter() - t0
    same = "identical" if np.array_equal(ours, ref) else "DIFFERENT"
    print(
        f"Dijkstra, RA1 weights, {src.size} sources of {sub.shape[0]}: ours {ours_s:6.2f} s   scipy {ref_s:6.2f} s   "
        f"ratio {ref_s / ours_s:5.1f}x   {same}"
    )
    ours_s, (sums, _) = best_of(lambda: bfs_distance_sums(sub), 2)
    g = to_igraph_edges(sub)
    t0 = time.perf_counter()
    ref_l = g.average_path_length(directed=False)
    ref_s = time.perf_counter() - t0
    ours_l = sums.sum() / (sub.shape[0] * (sub.shape[0] - 1))
    print(
        f"all-pairs BFS path length, {sub.shape[0]} nodes: ours {ours_s:6.2f} s   igraph {ref_s:6.2f} s   "
        f"ratio {ref_s / ours_s:5.1f}x   |diff| {abs(ours_l - ref_l):.1e}"
    )


def print_seconds(seconds: dict[str, float], target: float | None = None) -> None:
    for name, s in seconds.items():
        flag = "" if target is None else ("  ok" if s < target else f"  MISSED (target < {target:.0f} s)")
        print(f"    {name:<12s} {s:8.2f} s{flag}")


def mlp_report(sizes: list[int], density: float, checkpoint: str | None = None) -> None:
    if checkpoint:
        from netsci_dst.analysis.targets import load_target

        stack = load_target(checkpoint).stack
        head = f"report(all) on {checkpoint} ({stack.n_links:,} links)"
    else:
        stack = build_stack(sizes, "er", density, seed=0)
        head = f"report(all) on {'-'.join(map(str, sizes))} @{density:.0%} ({stack.n_links:,} links)"
    t0 = time.perf_counter()
    r = report(stack, "all")
    total = time.perf_counter() - t0
    ok = "ok" if total < REPORT_TARGET else "MISSED"
    print(f"{head}: {total:.2f} s  target < {REPORT_TARGET:.0f} s: {ok}")
    print("    (paths and hyperbolic run in a worker thread beside the others: the times overlap)")
    print_seconds(r["seconds"])
    skipped = [m for m in MEASURES if isinstance(r.get(m), dict) and "skipped" in r[m]]
    if skipped:
        print(f"    skipped: {', '.join(skipped)}")
    print(f"    CAP {r['cap']['count']:,}  hub share {r['cap']['hub_share']:.3f}  ANP {r['anp']['overall']:.3f}")


def layer_measures(n_in: int, n_out: int, density: float, measures: list[str]) -> None:
    t0 = time.perf_counter()
    stack = build_stack([n_in, n_out], "er", density, seed=0)
    print(f"layer {n_in}x{n_out} @{density:.0%} ({stack.n_links:,} links, built in {time.perf_counter() - t0:.1f} s)")
    for name in measures:
        t0 = time.perf_counter()
        r = report(stack, [name])
        s = time.perf_counter() - t0
        flag = "ok" if s < LLM_TARGET else f"MISSED (target < {LLM_TARGET:.0f} s)"
        note = ""
        if isinstance(r[name], dict) and "skipped" in r[name]:
            note = f"  [skipped: {r[name]['skipped']}]"
        elif name == "paths":
            kind = "all sources, exact" if r[name].get("exact") else "sampled sources"
            note = f"  [{r[name].get('n_sources')} {kind}]"
        print(f"    {name:<12s} {s:8.2f} s  {flag}{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also compare with networkx at 5%% density (~66 s)")
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--no-llm", action="store_true", help="skip the 4096x11008 layer")
    parser.add_argument(
        "--llm-measures", default="all", help="comma-separated measures for the large layer (default: all)"
    )
    parser.add_argument("--skip-mlp", action="store_true", help="skip sections 1 to 3")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--checkpoint", help="also time report(all) on this checkpoint (e.g. a trained paper MLP)")
    args = parser.parse_args()
    llm_measures = resolve_measures(args.llm_measures)

    if not args.skip_mlp:
        print("== Latapy clustering (dot) vs networkx.bipartite.clustering")
        if args.quick:
            latapy_vs_networkx(400, 0.02, args.repeat)
        else:
            latapy_vs_networkx(1568, 0.01, args.repeat)
            if args.full:
                latapy_vs_networkx(1568, 0.05, args.repeat)
        print(f"\n== compiled shortest paths vs scipy / igraph ({numba.get_num_threads()} threads)")
        if args.quick:
            shortest_paths_vs_references([196, 392, 392, 392], 0.04, 256)
        else:
            shortest_paths_vs_references([784, 1568, 1568, 1568], 0.01, 1024)
        print("\n== report(stack, 'all')")
        mlp_report([196, 392, 392, 392] if args.quick else [784, 1568, 1568, 1568], 0.01 if not args.quick else 0.04)
        if args.checkpoint:
            mlp_report([], 0.0, args.checkpoint)
    if not args.no_llm:
        print("\n== each measure on one large layer")
        if args.quick:
            layer_measures(512, 1024, 0.3, llm_measures)
        else:
            layer_measures(4096, 11008, 0.3, llm_measures)


if __name__ == "__main__":
    main()
