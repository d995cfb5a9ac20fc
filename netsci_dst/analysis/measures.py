"""The measure registry: each analysis measure is one spec, so the report, the tables and ``dstnet analyze`` agree.

Measures (ALGORITHMS.md §5), in the order reports list them:

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

A measure is a function ``f(stack, options) -> result`` returning plain, JSON-ready data, registered with
:func:`register`, which also gives its one-line help, where it applies, its compact table columns and its terminal
text::

    @register("density", help="Links over possible links of the whole stack.", compact=lambda v: {"density": v})
    def _density(stack: LayerStack, options: MeasureOptions) -> float:
        return stack.n_links / sum(m.size for m in stack.masks)

:func:`netsci_dst.analysis.report.report` then runs it, ``dstnet analyze --density`` asks for it and the evolution
table gets its column. Each measure imports its module only when it runs, so reading the registry (as the CLI does
for its flags) stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from netsci_dst.analysis.tables import flatten, format_cell, format_table

if TYPE_CHECKING:
    from netsci_dst.graph import LayerStack

__all__ = [
    "MeasureOptions",
    "MeasureSpec",
    "REGISTRY",
    "MEASURES",
    "ASI_BASELINES",
    "register",
    "format_result",
    "compact_measure",
]

Scope = Literal["layers", "chain", "network"]


@dataclass(frozen=True)
class MeasureOptions:
    """The options of the measures; each measure reads the ones it needs.

    Attributes:
        seed: seed of the randomised measures (community baselines, sampled path sources, embeddings).
        top: hub fraction of the CAP hub share.
        modes: Latapy clustering modes to report (``dot``, ``min``, ``max``).
        path_sources: sources of the path-length measure: ``None`` lets :mod:`.paths` decide (all sources on small
            graphs, a sample on big ones), an int samples that many.
        per_node: keep per-neuron values (clustering lists, embedding coordinates); off by default to keep reports
            small.
        last_is_output: whether the last neuron layer of a chain is the network's output (the ANP table's names;
            false for a run whose MLP ends with a dense layer, :func:`netsci_dst.analysis.anp.ends_at_output`).
    """

    seed: int = 0
    top: float = 0.01
    modes: tuple[str, ...] = ("dot",)
    path_sources: int | None = None
    per_node: bool = False
    last_is_output: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "modes", tuple(self.modes))


Run = Callable[["LayerStack", MeasureOptions], Any]  # what a measure is: run(stack, options) -> result


@dataclass(frozen=True)
class MeasureSpec:
    """A registered measure.

    Attributes:
        name: the measure's name: its key in reports and its ``dstnet analyze --<name>`` flag.
        run: ``run(stack, options) -> result``, plain JSON-ready data.
        help: one line for ``dstnet analyze --help``.
        scope: the stacks it applies to: ``"layers"`` (any), ``"chain"`` (needs a chain of layers) or ``"network"``
            (measures the whole layered network). On independent layers the report skips the last two with the
            reason: a disjoint union of layers would only restate the split.
        background: the work is compiled, multi-threaded and runs without the GIL, so with other measures asked
            for it runs in the report's worker thread (see :func:`~netsci_dst.analysis.report.report`).
        default: ``dstnet analyze`` runs it when no measure flag is given.
        compact: ``compact(result) -> {column: scalar}``, the few columns that summarise it in tables over mask
            snapshots; ``None``: its flattened scalars, prefixed by the name.
        format_text: ``format_text(result) -> str`` for the terminal; ``None``: a table of per-layer rows or
            ``key  value`` lines of the flattened scalars.
    """

    name: str
    run: Run
    help: str
    scope: Scope = "layers"
    background: bool = False
    default: bool = False
    compact: Callable[[Any], dict[str, Any]] | None = None
    format_text: Callable[[Any], str] | None = None


REGISTRY: dict[str, MeasureSpec] = {}
# The registered names in the order reports list them (registration order); a live view, so a measure registered
# later is in it too.
MEASURES = REGISTRY.keys()
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Keys that reports and evolution rows hold next to the measures' results, and the selection of every measure.
_RESERVED = frozenset(
    {"all", "layers", "shapes", "chain", "links", "measures", "seconds", "update", "step", "epoch", "file", "metrics"}
)


def register(
    name: str,
    *,
    help: str,
    scope: Scope = "layers",
    background: bool = False,
    default: bool = False,
    compact: Callable[[Any], dict[str, Any]] | None = None,
    format_text: Callable[[Any], str] | None = None,
) -> Callable[[Run], Run]:
    """Decorator adding a measure to :data:`REGISTRY` under ``name`` (the fields are those of :class:`MeasureSpec`).

    ``name`` must be lower case letters, digits and underscores (it becomes a CLI flag and is listed in
    comma-separated selections), and neither ``all`` nor a key that reports and evolution rows already hold
    (``layers``, ``links``, ``seconds``, ``step``, ``metrics``, ...).
    """
    if not _NAME.fullmatch(name) or name in _RESERVED:
        raise ValueError(
            f"measure name {name!r}: use lower case letters, digits and underscores, and none of "
            f"{', '.join(sorted(_RESERVED))}"
        )
    if scope not in get_args(Scope):
        raise ValueError(f"measure {name!r}: scope must be one of {', '.join(get_args(Scope))}, got {scope!r}")

    def deco(run: Run) -> Run:
        if name in REGISTRY:
            raise RuntimeError(f"measure {name!r} registered twice")
        REGISTRY[name] = MeasureSpec(
            name=name,
            run=run,
            help=help,
            scope=scope,
            background=background,
            default=default,
            compact=compact,
            format_text=format_text,
        )
        return run

    return deco


def _skipped(value: Any) -> bool:
    return isinstance(value, dict) and "skipped" in value


def _plain_text(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return format_table([flatten(v, max_list=4) for v in value])
    if isinstance(value, dict):
        flat = flatten(value, max_list=2)
        if not flat:
            return "(no scalar values)"
        width = max(len(k) for k in flat)
        return "\n".join(f"{k.ljust(width)}  {format_cell(v)}" for k, v in flat.items())
    return format_cell(value)


def format_result(name: str, value: Any) -> str:
    """Human-readable text of one measure's result for the terminal: the measure's own ``format_text``; for a
    measure without one (or a skipped result), a list of per-layer dicts becomes a table (one row per layer, nested
    values flattened, per-node lists left out) and anything else ``key  value`` lines of its flattened scalars."""
    spec = REGISTRY.get(name)
    if spec is None or spec.format_text is None or _skipped(value):
        return _plain_text(value)
    return spec.format_text(value)


def compact_measure(name: str, value: Any) -> dict[str, Any]:
    """A few scalar columns that summarise one measure's result (for tables over snapshots): the measure's
    ``compact`` columns (see each measure below); for a measure without them, its flattened scalars named
    ``<name>.<key>``. A skipped measure gives no columns."""
    if _skipped(value):
        return {}
    spec = REGISTRY.get(name)
    if spec is not None and spec.compact is not None:
        return spec.compact(value)
    flat = flatten({"": value} if not isinstance(value, dict) else value)
    return {f"{name}.{k}" if k else name: v for k, v in flat.items()}


# --------------------------------------------------------------------------------------------------- summary
def _summary_text(value: list[Any]) -> str:
    from netsci_dst.analysis.degree import LayerSummary, format_summary

    try:
        rows = [v if isinstance(v, LayerSummary) else LayerSummary(**v) for v in value]
    except TypeError:  # rows with other keys than a LayerSummary's
        return _plain_text(value)
    return format_summary(rows)


def _summary_columns(value: list[dict[str, Any]]) -> dict[str, Any]:
    """``links`` (total) and ``density.<layer>``."""
    return {"links": sum(int(r["links"]) for r in value), **{f"density.{r['name']}": r["density"] for r in value}}


@register(
    "summary",
    help="Per-layer links, density, degrees and active neurons.",
    default=True,
    compact=_summary_columns,
    format_text=_summary_text,
)
def _summary(stack: LayerStack, options: MeasureOptions) -> list[dict[str, Any]]:
    """Per layer: name, shape, links, density, the min/mean/max degree of its inputs and outputs and its active
    neurons (:func:`netsci_dst.analysis.degree.stack_summary`)."""
    from netsci_dst.analysis.degree import stack_summary

    return [r.as_dict() for r in stack_summary(stack)]


# --------------------------------------------------------------------------------------------------- anp
def _anp_text(value: dict[str, Any]) -> str:
    from netsci_dst.analysis.anp import layer_labels

    labels = value.get("labels") or layer_labels(len(value["per_layer"]))
    rows = [
        {"neuron layer": lab, "active": a, "neurons": n, "ANP": rate}
        for lab, a, n, rate in zip(labels, value["active"], value["sizes"], value["per_layer"], strict=True)
    ]
    rows.append(
        {"neuron layer": "all", "active": sum(value["active"]), "neurons": sum(value["sizes"]), "ANP": value["overall"]}
    )
    return format_table(rows)


@register(
    "anp",
    help="Active-neuron post-percolation rate per neuron layer and overall.",
    scope="chain",
    default=True,
    compact=lambda value: {"anp": value.get("overall")},
    format_text=_anp_text,
)
def _anp(stack: LayerStack, options: MeasureOptions) -> dict[str, Any]:
    """Active neurons over neurons of each neuron layer of the chain, input included, and pooled over all of them
    (:func:`netsci_dst.analysis.anp.anp`), with the neuron layers' names (``labels``); column ``anp`` (the pooled
    rate)."""
    from netsci_dst.analysis.anp import anp, layer_labels

    result = anp(stack)
    result["labels"] = layer_labels(len(result["per_layer"]), last_is_output=options.last_is_output)
    return result


# --------------------------------------------------------------------------------------------------- powerlaw
def _powerlaw_text(value: list[dict[str, Any]]) -> str:
    rows = []
    for r in value:
        for side in ("inputs", "outputs"):
            fit = r.get(side) or {}
            exp, logn = fit.get("vs_exponential") or {}, fit.get("vs_lognormal") or {}
            rows.append(
                {
                    "layer": r.get("layer"),
                    "neurons": side,
                    "gamma": fit.get("gamma"),
                    "xmin": fit.get("xmin"),
                    "KS": fit.get("ks"),
                    "n_tail": fit.get("n_tail"),
                    "capped": fit.get("capped"),
                    "R_exp": exp.get("R"),
                    "p_exp": exp.get("p"),
                    "R_lognormal": logn.get("R"),
                    "p_lognormal": logn.get("p"),
                    "note": fit.get("reason") or ("not a power law" if fit.get("capped") else ""),
                }
            )
    return format_table(rows)


def _powerlaw_columns(value: list[dict[str, Any]]) -> dict[str, Any]:
    """``gamma_in.<layer>`` (the inputs' out-degrees) and ``gamma_out.<layer>`` (the outputs' in-degrees)."""
    out: dict[str, Any] = {}
    for r in value:
        out[f"gamma_in.{r['layer']}"] = (r.get("inputs") or {}).get("gamma")
        out[f"gamma_out.{r['layer']}"] = (r.get("outputs") or {}).get("gamma")
    return out


@register(
    "powerlaw",
    help="Power-law exponent gamma of the degree distributions (Clauset-Shalizi-Newman).",
    compact=_powerlaw_columns,
    format_text=_powerlaw_text,
)
def _powerlaw(stack: LayerStack, options: MeasureOptions) -> list[dict[str, Any]]:
    """Per layer: the Clauset-Shalizi-Newman power-law fit (gamma, xmin, KS distance, likelihood ratios against an
    exponential and a lognormal) of the input neurons' out-degrees and the output neurons' in-degrees
    (:func:`netsci_dst.analysis.powerlaw.degree_gammas`)."""
    from netsci_dst.analysis.powerlaw import degree_gammas

    return degree_gammas(stack)


# --------------------------------------------------------------------------------------------------- cap
@register(
    "cap",
    help="Credit assignment paths through the stack and the share through the hubs.",
    scope="chain",
    compact=lambda value: {"cap": value.get("count"), "cap_hub_share": value.get("hub_share")},
)
def _cap(stack: LayerStack, options: MeasureOptions) -> dict[str, Any]:
    """The exact number of credit assignment paths (input-to-output paths through the chain) and the share of them
    through the top ``options.top`` hub neurons of each hidden layer (:func:`netsci_dst.analysis.cap.cap`); columns
    ``cap`` and ``cap_hub_share``."""
    from netsci_dst.analysis.cap import cap

    return cap(stack, top=options.top)


# --------------------------------------------------------------------------------------------------- clustering
def _clustering_columns(value: list[dict[str, Any]]) -> dict[str, Any]:
    """``square.<layer>`` (mean square clustering) and ``l3_closure.<layer>``."""
    out: dict[str, Any] = {}
    for r in value:
        square = r.get("square")
        out[f"square.{r['layer']}"] = square.get("mean") if isinstance(square, dict) else square
        out[f"l3_closure.{r['layer']}"] = r.get("l3_closure")
    return out


@register("clustering", help="Square and Latapy bipartite clustering, L3 closure rate.", compact=_clustering_columns)
def _clustering(stack: LayerStack, options: MeasureOptions) -> list[dict[str, Any]]:
    """Per layer: square clustering, Latapy bipartite clustering in ``options.modes`` and the rate at which paths
    of length three close into squares (:func:`netsci_dst.analysis.clustering.layer_clustering`); per-neuron values
    with ``options.per_node``."""
    from netsci_dst.analysis.clustering import layer_clustering

    return [
        {"layer": n, **layer_clustering(m, modes=options.modes, per_node=options.per_node)}
        for m, n in zip(stack.masks, stack.names, strict=True)
    ]


# --------------------------------------------------------------------------------------------------- community
@register(
    "community",
    help="Modularity (Leiden) against degree-preserving random rewirings.",
    scope="network",
    compact=lambda value: {
        "modularity": value.get("q"),
        "modularity_random": value.get("baseline_q"),
        "communities": value.get("n_communities"),
    },
)
def _community(stack: LayerStack, options: MeasureOptions) -> dict[str, Any]:
    """Leiden modularity ``q`` of the whole stack graph and ``baseline_q``, that of degree-preserving rewirings
    (:func:`netsci_dst.analysis.community.modularity`); columns ``modularity``, ``modularity_random`` and
    ``communities``."""
    from netsci_dst.analysis.community import modularity

    return modularity(stack, seed=options.seed)


# --------------------------------------------------------------------------------------------------- paths
@register(
    "paths",
    help="Characteristic path length of the largest component.",
    scope="network",
    background=True,
    compact=lambda value: {"L": value.get("L")},
)
def _paths(stack: LayerStack, options: MeasureOptions) -> dict[str, Any]:
    """The mean shortest-path length ``L`` between the neurons of the largest component of the stack graph, from
    ``options.path_sources`` sampled sources or all of them
    (:func:`netsci_dst.analysis.paths.characteristic_path_length`); column ``L``."""
    from netsci_dst.analysis.paths import characteristic_path_length

    return characteristic_path_length(stack, sources=options.path_sources, seed=options.seed)


# --------------------------------------------------------------------------------------------------- hyperbolic
# Rewirings behind the ASI baseline: each costs a whole embedding (~2.5 s on the paper MLP), so one, where the
# modularity baseline (a Leiden run each) uses five. Across rewirings the ASI varies by about 0.02-0.04.
ASI_BASELINES = 1


@register(
    "hyperbolic",
    help="Coalescent embedding in the hyperbolic disk and the layers' angular separation index.",
    scope="network",
    background=True,
    compact=lambda value: {
        "asi": value.get("asi"),
        "asi_random": value.get("baseline_asi"),
        "embedding_gamma": value.get("gamma"),
    },
)
def _hyperbolic(stack: LayerStack, options: MeasureOptions) -> dict[str, Any]:
    """The 2-D coalescent embedding of the stack graph (:func:`netsci_dst.analysis.hyperbolic.coalescent_embedding`:
    ``gamma``, ``beta``, the layers' angular separation index ``asi``; coordinates with ``options.per_node``) and
    ``baseline_asi``, the mean ASI of :data:`ASI_BASELINES` degree-preserving rewiring(s) embedded the same way;
    columns ``asi``, ``asi_random`` and ``embedding_gamma``."""
    from netsci_dst.analysis.hyperbolic import asi_baseline, coalescent_embedding

    emb = coalescent_embedding(stack, seed=options.seed)
    out = {k: v for k, v in emb.items() if options.per_node or k not in ("theta", "r", "layer")}
    base = asi_baseline(stack, seed=options.seed, n_random=ASI_BASELINES, landmarks=emb["landmarks"] or None)
    out.update(baseline_asi=base["mean"], baseline_n_random=base["n_random"])
    return out
