"""One call that runs a chosen set of measures on a layer stack and returns plain, JSON-ready data.

The measures, what each computes and where each applies are registered in :mod:`netsci_dst.analysis.measures`
(ALGORITHMS.md §5); :data:`MEASURES` lists their names in report order. A measure that does not apply to the stack
(a chain-only or whole-network measure on independent layers, or a :class:`DstnetError` raised by the measure)
gives ``{"skipped": reason}`` instead of failing the whole report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from netsci_dst.analysis.measures import ASI_BASELINES, MEASURES, REGISTRY, MeasureOptions, MeasureSpec
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, as_stack

__all__ = ["MEASURES", "ASI_BASELINES", "report", "resolve_measures"]


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


def _options(options: dict[str, Any]) -> MeasureOptions:
    known = [f.name for f in fields(MeasureOptions)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise DstnetError(f"unknown report option(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return MeasureOptions(**options)


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


def _timed(spec: MeasureSpec, stack: LayerStack, options: MeasureOptions) -> tuple[Any, float]:
    """One measure's result (or ``{"skipped": reason}``) and its wall time."""
    t0 = time.perf_counter()
    if not stack.is_chain and spec.scope != "layers":
        shown = ", ".join(stack.names[:2]) + (", ..." if len(stack.names) > 2 else "")
        independent = f"the {len(stack.names)} layers ({shown}) are independent"
        if spec.scope == "chain":
            return {"skipped": f"{spec.name} needs a chain of layers; {independent}"}, 0.0
        return {"skipped": f"{spec.name} measures the whole layered network; {independent}"}, 0.0
    try:
        value = spec.run(stack, options)
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("netsci_dst.analysis"):
            raise
        value = {"skipped": f"the {spec.name} analysis is not available ({e.name})"}
    except DstnetError as e:
        value = {"skipped": str(e)}
    return value, time.perf_counter() - t0


def report(stack: LayerStack | Any, measures: str | Iterable[str] = "all", **options: Any) -> dict[str, Any]:
    """Run the chosen measures on a stack (or a mask, or a list of masks).

    Args:
        stack: the layer stack.
        measures: ``"all"``, a name, a comma-separated string or a list of names from :data:`MEASURES`.
        options: the :class:`~netsci_dst.analysis.measures.MeasureOptions`, by keyword: ``seed`` (of the randomised
            measures, default 0), ``top`` (hub fraction of the CAP hub share, 0.01), ``modes`` (Latapy clustering
            modes, ``("dot",)``), ``path_sources`` (``None``: all sources on small graphs, a sample on big ones),
            ``per_node`` (keep per-neuron values, ``False``). Unknown names raise :class:`DstnetError`.

    Returns:
        ``{"layers": names, "shapes": [[n_out, n_in], ...], "chain": bool, "links": int, "measures": [...],
        <measure>: result, ..., "seconds": {measure: wall time}}``: only plain Python data (``json.dumps`` works;
        non-finite floats may appear as NaN). With other measures asked for, the ``background`` ones (``paths`` and
        ``hyperbolic``: compiled, multi-threaded, without the GIL) run in one worker thread while the rest (power-law
        fits, Leiden, sparse products: mostly single-threaded or holding the GIL) run in the calling thread, so the
        seconds can add up to more than the report's wall time. Parallel kernels take netsci_dst.parallel's lock, so
        this is safe with every numba threading layer; on the paper MLP it takes the full report from ~10 s to ~7 s.
    """
    opts = _options(options)
    stack = as_stack(stack)
    names = resolve_measures(measures)
    out: dict[str, Any] = {
        "layers": list(stack.names),
        "shapes": [[int(m.shape[0]), int(m.shape[1])] for m in stack.masks],
        "chain": stack.is_chain,
        "links": stack.n_links,
        "measures": names,
    }
    specs = {name: REGISTRY[name] for name in names}
    background = [n for n in names if specs[n].background]
    if len(background) == len(names):
        background = []
    results: dict[str, tuple[Any, float]] = {}
    worker = _Background(lambda: {n: _timed(specs[n], stack, opts) for n in background}) if background else None
    for name in names:
        if name not in background:
            results[name] = _timed(specs[name], stack, opts)
    if worker is not None:
        results.update(worker.result())
    for name in names:
        out[name] = results[name][0]
    out["seconds"] = {name: results[name][1] for name in names}
    return out
