"""The measure registry: one spec per measure, seen alike by the report, the tables and the documentation."""

import json
import re

import numpy as np
import pytest

from netsci_dst.analysis import measures, report
from netsci_dst.analysis.evolution import evolution_table
from netsci_dst.analysis.measures import MEASURES, REGISTRY, compact_measure, format_result, register
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack


def small_chain():
    rng = np.random.default_rng(0)
    return LayerStack([rng.random((12, 10)) < 0.3, rng.random((6, 12)) < 0.3], ["fc1", "fc2"])


@pytest.fixture
def toy():
    """A measure registered for one test: the links of the stack, and its layer count with ``per_node``."""

    @register(
        "toy_links",
        help="Links of the whole stack (a test measure).",
        scope="chain",
        compact=lambda value: {"toy": value["links"]},
        format_text=lambda value: f"{value['links']} links",
    )
    def _toy(stack, options):
        out = {"links": stack.n_links}
        if options.per_node:
            out["layers"] = len(stack)
        return out

    try:
        yield REGISTRY["toy_links"]
    finally:
        REGISTRY.pop("toy_links")


def test_registry_order_is_the_documented_order():
    documented = re.findall(r"^``(\w+)``\s", measures.__doc__, flags=re.M)
    assert documented == list(MEASURES) == list(report.MEASURES)
    assert list(MEASURES) == ["summary", "anp", "powerlaw", "cap", "clustering", "community", "paths", "hyperbolic"]
    for spec in REGISTRY.values():
        assert spec.help and spec.run.__doc__, spec.name  # a help line and what it computes
    assert [s.name for s in REGISTRY.values() if s.scope == "chain"] == ["anp", "cap"]
    assert [s.name for s in REGISTRY.values() if s.scope == "network"] == ["community", "paths", "hyperbolic"]
    assert [s.name for s in REGISTRY.values() if s.background] == ["paths", "hyperbolic"]
    assert [s.name for s in REGISTRY.values() if s.default] == ["summary", "anp"]


def test_a_registered_measure_is_in_the_report_and_tables(toy):
    stack = small_chain()
    assert list(MEASURES)[-1] == "toy_links" and report.resolve_measures("all")[-1] == "toy_links"
    r = report.report(stack, "all")
    assert r["measures"][-1] == "toy_links" and r["toy_links"] == {"links": stack.n_links}
    assert "toy_links" in r["seconds"]
    json.dumps(r)
    assert report.report(stack, "toy_links", per_node=True)["toy_links"]["layers"] == 2  # options reach it
    assert compact_measure("toy_links", r["toy_links"]) == {"toy": stack.n_links}
    assert format_result("toy_links", r["toy_links"]) == f"{stack.n_links} links"
    assert evolution_table([{"update": 0, "step": 0, "toy_links": r["toy_links"]}]) == [
        {"update": 0, "step": 0, "toy": stack.n_links}
    ]
    independent = LayerStack([stack[0], stack[0]], ["q", "k"], chain=False)
    assert report.report(independent, "toy_links")["toy_links"]["skipped"].startswith("toy_links needs a chain")


def test_unregistered_measure_is_gone():
    assert "toy_links" not in MEASURES
    with pytest.raises(DstnetError, match="unknown measure"):
        report.resolve_measures("toy_links")


def test_register_refuses_bad_names_and_duplicates():
    def run(stack, options):
        return 0

    for name in ("all", "links", "seconds", "metrics", "Bad-Name", ""):
        with pytest.raises(ValueError, match="measure name"):
            register(name, help="x")(run)
    with pytest.raises(ValueError, match="scope"):
        register("toy_scope", help="x", scope="graph")(run)
    with pytest.raises(RuntimeError, match="registered twice"):
        register("cap", help="x")(run)
    assert "toy_scope" not in REGISTRY and REGISTRY["cap"].run is not run


def test_report_refuses_unknown_options():
    with pytest.raises(DstnetError, match=r"unknown report option\(s\) tops .*known: seed, top"):
        report.report(small_chain(), "cap", tops=0.1)


def test_measures_without_their_own_text_or_columns():
    # skipped results and measures without format_text/compact fall back to the flattened scalars
    assert format_result("anp", {"skipped": "why"}) == "skipped  why"
    assert compact_measure("cap", {"skipped": "why"}) == {}
    assert compact_measure("unknown", {"a": {"b": 1.5}, "c": "x"}) == {"unknown.a.b": 1.5, "unknown.c": "x"}
    assert compact_measure("unknown", 3) == {"unknown": 3}
    assert format_result("cap", {"count": 12, "hub_share": 0.5}).splitlines() == ["count      12", "hub_share  0.5"]
