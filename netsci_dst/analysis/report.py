"""One call that runs a chosen set of analyses on a layer stack and returns plain, JSON-ready data.

Measures (ALGORITHMS.md §5):

==============  ====================================================================================================
``summary``     per layer: shape, links, density, degree min/mean/max, active neurons (:mod:`.degree`)
``anp``         active-neuron post-percolation rate per neuron layer and overall (:mod:`.anp`; chains only)
``powerlaw``    per layer: Clauset-Shalizi-Newman gamma of the input out-degrees and output in-degrees
                (:mod:`.powerlaw`)
``cap``         credit assignment paths (exact count) and the hub share (:mod:`.cap`; chains only)
``clustering``  per layer: square clustering, Latapy clustering (``dot``) and the L3 closure rate (:mod:`.clustering`)
``community``   Leiden modularity of the whole stack graph against degree-preserving rewirings (:mod:`.community`)
``paths``       characteristic path length of the largest component (:mod:`.paths`; sampled sources on big graphs)
``hyperbolic``  2-D coalescent embedding: gamma, beta and the layers' angular separation index, against the ASI of
                ``ASI_BASELINES`` degree-preserving rewiring(s) embedded the same way (:mod:`.hyperbolic`)
==============  ====================================================================================================

``community``, ``paths`` and ``hyperbolic`` are imported only when asked for. A measure that does not apply to the
stack (a chain-only or whole-network measure on independent layers, or a :class:`DstnetError` raised by the
measure) gives ``{"skipped": reason}`` instead of failing the whole report.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Iterable
from typing import Any

from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, as_stack

__all__ = ["MEASURES", "CHAIN_ONLY", "WHOLE_NETWORK", "report", "resolve_measures"]

MEASURES: tuple[str, ...] = (
    "summary",
    "anp",
    "powerlaw",
    "cap",
    "clustering",
    "community",
    "paths",
    "hyperbolic",
)
CHAIN_ONLY = frozenset({"anp", "cap"})
# Measures of the whole layered network: on independent layers (a Transformer's projections) the stack graph is a
# disjoint union of bipartite layers, where they would only restate that (modularity near 1 - 1/layers, the path
# length and embedding of whichever layer is largest), so the report skips them. The functions themselves still
# accept such stacks.
WHOLE_NETWORK = frozenset({"community", "paths", "hyperbolic"})
# Rewirings behind the ASI baseline: each costs a whole embedding (~2.5 s on the paper MLP), so one, where the
# modularity baseline (a Leiden run each) uses five. Across rewirings the ASI varies by about 0.02-0.04.
ASI_BASELINES = 1
# Measures whose work is compiled, multi-threaded and runs without the GIL (the shortest-path kernels): with other
# measures asked for, they run in one worker thread while the rest (power-law fits, Leiden, sparse products: mostly
# single-threaded or holding the GIL) run in the calling thread. Parallel kernels take netsci_dst.parallel's lock,
# so this is safe with every numba threading layer. On the paper MLP it takes the full report from ~10 s to ~7 s.
BACKGROUND = frozenset({"paths", "hyperbolic"})


def resolve_measures(measures: str | Iterable[str]) -> list[str]:
    """Normalise a measure selection: ``"all"``, one name, a comma-separated string or an iterable of names.

    Returns the names in the canonical order of :data:`MEASURES`; unknown names raise :class:`DstnetError`.
    """
    if isinstance(measures, str):
        names = [m.strip() for m in measures.split(",") if m.strip()]
    else:
        names = [str(m).strip() for m in measures]
    if "all" in names:
        return list(MEASURES)
    unknown = [m for m in names if m not in MEASURES]
    if unknown:
        raise DstnetError(f"unknown measure(s) {', '.join(unknown)} (known: all, {', '.join(MEASURES)})")
    if not names:
        raise DstnetError(f"no measure chosen (known: all, {', '.join(MEASURES)})")
    return [m for m in MEASURES if m in names]


def _module(name: str):
    return importlib.import_module(f"netsci_dst.analysis.{name}")


def _run(
    name: str,
    stack: LayerStack,
    *,
    seed: int,
    top: float,
    modes: tuple[str, ...],
    path_sources: int | None,
    per_node: bool,
) -> Any:
    if name == "summary":
        from netsci_dst.analysis.degree import stack_summary

        return [r.as_dict() for r in stack_summary(stack)]
    if name == "anp":
        from netsci_dst.analysis.anp import anp

        return anp(stack)
    if name == "powerlaw":
        from netsci_dst.analysis.powerlaw import degree_gammas

        return degree_gammas(stack)
    if name == "cap":
        from netsci_dst.analysis.cap import cap

        return cap(stack, top=top)
    if name == "clustering":
        from netsci_dst.analysis.clustering import layer_clustering

        return [
            {"layer": n, **layer_clustering(m, modes=modes, per_node=per_node)}
            for m, n in zip(stack.masks, stack.names, strict=True)
        ]
    if name == "community":
        return _module("community").modularity(stack, seed=seed)
    if name == "paths":
        return _module("paths").characteristic_path_length(stack, sources=path_sources, seed=seed)
    if name == "hyperbolic":
        hyp = _module("hyperbolic")
        emb = hyp.coalescent_embedding(stack, seed=seed)
        out = {k: v for k, v in emb.items() if per_node or k not in ("theta", "r", "layer")}
        base = hyp.asi_baseline(stack, seed=seed, n_random=ASI_BASELINES, landmarks=emb["landmarks"] or None)
        out.update(baseline_asi=base["mean"], baseline_n_random=base["n_random"])
        return out
    raise DstnetError(f"unknown measure {name!r}")  # pragma: no cover - resolve_measures filters names


class _Background:
    """Runs ``fn`` in a daemon thread: unlike a ``ThreadPoolExecutor`` worker it does not hold the process open
    after Ctrl-C until a long compiled kernel returns."""

    def __init__(self, fn: Any) -> None:
        self._box: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(fn,), name="dstnet-report", daemon=True)
        self._thread.start()

    def _run(self, fn: Any) -> None:
        try:
            self._box["value"] = fn()
        except BaseException as e:  # handed to the caller by result()
            self._box["error"] = e

    def result(self) -> Any:
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]


def _timed(name: str, stack: LayerStack, **options: Any) -> tuple[Any, float]:
    """One measure's result (or ``{"skipped": reason}``) and its wall time."""
    t0 = time.perf_counter()
    if not stack.is_chain and name in CHAIN_ONLY | WHOLE_NETWORK:
        shown = ", ".join(stack.names[:2]) + (", ..." if len(stack.names) > 2 else "")
        independent = f"the {len(stack.names)} layers ({shown}) are independent"
        if name in CHAIN_ONLY:
            return {"skipped": f"{name} needs a chain of layers; {independent}"}, 0.0
        return {"skipped": f"{name} measures the whole layered network; {independent}"}, 0.0
    try:
        value = _run(name, stack, **options)
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("netsci_dst.analysis"):
            raise
        value = {"skipped": f"the {name} analysis is not available ({e.name})"}
    except DstnetError as e:
        value = {"skipped": str(e)}
    return value, time.perf_counter() - t0


def report(
    stack: LayerStack | Any,
    measures: str | Iterable[str] = "all",
    *,
    seed: int = 0,
    top: float = 0.01,
    modes: tuple[str, ...] = ("dot",),
    path_sources: int | None = None,
    per_node: bool = False,
) -> dict[str, Any]:
    """Run the chosen measures on a stack (or a mask, or a list of masks).

    Args:
        stack: the layer stack.
        measures: ``"all"``, a name, a comma-separated string or a list of names from :data:`MEASURES`.
        seed: seed of the randomised measures (community baselines, sampled path sources, embeddings).
        top: hub fraction of the CAP hub share.
        modes: Latapy clustering modes to report (``dot``, ``min``, ``max``).
        path_sources: sources of the path-length measure: ``None`` lets :mod:`.paths` decide (all sources on
            small graphs, a sample on big ones), an int samples that many.
        per_node: keep per-neuron values (clustering lists, embedding coordinates); off by default to keep
            reports small.

    Returns:
        ``{"layers": names, "shapes": [[n_out, n_in], ...], "chain": bool, "links": int, "measures": [...],
        <measure>: result, ..., "seconds": {measure: wall time}}``: only plain Python data (``json.dumps`` works;
        non-finite floats may appear as NaN). ``paths`` and ``hyperbolic`` run next to the other measures (see
        :data:`BACKGROUND`), so the seconds can add up to more than the report's wall time.
    """
    stack = as_stack(stack)
    names = resolve_measures(measures)
    out: dict[str, Any] = {
        "layers": list(stack.names),
        "shapes": [[int(m.shape[0]), int(m.shape[1])] for m in stack.masks],
        "chain": stack.is_chain,
        "links": stack.n_links,
        "measures": names,
    }

    def timed(name: str) -> tuple[Any, float]:
        return _timed(name, stack, seed=seed, top=top, modes=tuple(modes), path_sources=path_sources, per_node=per_node)

    background = [n for n in names if n in BACKGROUND]
    if len(background) == len(names):
        background = []
    results: dict[str, tuple[Any, float]] = {}
    worker = _Background(lambda: {n: timed(n) for n in background}) if background else None
    for name in names:
        if name not in background:
            results[name] = timed(name)
    if worker is not None:
        results.update(worker.result())
    for name in names:
        out[name] = results[name][0]
    seconds = {name: results[name][1] for name in names}
    out["seconds"] = seconds
    return out
