import json

import numpy as np
import pytest
import torch

from netsci_dst.analysis.evolution import evolution, snapshots
from netsci_dst.analysis.report import MEASURES, report, resolve_measures
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack
from netsci_dst.train.rundir import RunDir

OWN = ["summary", "anp", "powerlaw", "cap", "clustering"]


def small_chain(seed=0, sizes=(30, 40, 40, 20), p=0.15):
    rng = np.random.default_rng(seed)
    return LayerStack([rng.random((b, a)) < p for a, b in zip(sizes, sizes[1:], strict=False)], ["fc1", "fc2", "fc3"])


def test_report_on_own_measures_is_plain_json():
    stack = small_chain()
    r = report(stack, OWN)
    assert r["measures"] == OWN and r["layers"] == ["fc1", "fc2", "fc3"] and r["chain"] is True
    assert r["shapes"] == [[40, 30], [40, 40], [20, 40]] and r["links"] == stack.n_links
    assert [row["name"] for row in r["summary"]] == stack.names
    assert r["cap"]["count"] > 0 and 0 <= r["cap"]["hub_share"] <= 1
    assert [row["layer"] for row in r["clustering"]] == stack.names
    assert {"square", "latapy_dot", "l3_closure", "squares"} <= set(r["clustering"][0])
    assert "inputs" not in r["clustering"][0]["square"]  # per-node lists only on request
    assert set(r["seconds"]) == set(OWN)
    json.loads(json.dumps(r))


def test_measure_selection():
    assert resolve_measures("all") == list(MEASURES)
    assert resolve_measures("cap, anp") == ["anp", "cap"]
    assert resolve_measures(["clustering"]) == ["clustering"]
    with pytest.raises(DstnetError, match="unknown"):
        resolve_measures("cap,betweenness")
    with pytest.raises(DstnetError):
        resolve_measures([])


def test_chain_only_measures_skip_on_independent_layers():
    rng = np.random.default_rng(1)
    stack = LayerStack([rng.random((8, 8)) < 0.4, rng.random((8, 8)) < 0.4], ["q", "k"], chain=False)
    r = report(stack, "anp,cap,clustering,community,paths,hyperbolic", per_node=True)
    assert r["anp"]["skipped"] == "anp needs a chain of layers; the 2 layers (q, k) are independent"
    assert "skipped" in r["cap"]
    for name in ("community", "paths", "hyperbolic"):  # a disjoint union of layers has no whole network
        assert r[name]["skipped"] == f"{name} measures the whole layered network; the 2 layers (q, k) are independent"
    assert len(r["clustering"][1]["square"]["inputs"]) == 8
    json.dumps(r)


def test_report_all_on_a_tiny_stack():
    # community / paths / hyperbolic come from their own modules; a missing one is reported as skipped
    stack = small_chain(sizes=(12, 16, 16, 8), p=0.3)
    r = report(stack, "all")
    assert r["measures"] == list(MEASURES) and list(r["seconds"]) == list(MEASURES)
    for name in MEASURES:
        assert name in r and "skipped" not in r[name]
    json.dumps(r)
    # paths and hyperbolic ran in the worker thread next to the rest: the same results as each measure alone
    assert r["paths"] == report(stack, "paths")["paths"]
    assert r["hyperbolic"] == report(stack, "hyperbolic")["hyperbolic"]
    assert r["community"] == report(stack, "community")["community"]


def test_hyperbolic_reports_the_asi_of_a_degree_preserving_rewiring():
    from netsci_dst.analysis.hyperbolic import asi_baseline
    from netsci_dst.analysis.report import ASI_BASELINES

    stack = small_chain(seed=3, sizes=(20, 30, 30, 20), p=0.2)
    h = report(stack, "hyperbolic", seed=4)["hyperbolic"]
    base = asi_baseline(stack, seed=4, n_random=ASI_BASELINES)
    assert h["baseline_asi"] == base["mean"] and h["baseline_n_random"] == ASI_BASELINES
    assert 0 <= h["asi"] <= 1 and 0 <= h["baseline_asi"] <= 1


def make_run(tmp_path, n_updates=3):
    run = RunDir(tmp_path / "run").create()
    rng = np.random.default_rng(2)
    masks = {"fc1": rng.random((16, 12)) < 0.3, "fc2": rng.random((8, 16)) < 0.3}
    for u in range(n_updates):
        tensors = {k: torch.from_numpy(v) for k, v in masks.items()}
        # as the trainer does: update u fires on the last step of epoch u, before that epoch's evaluation
        run.save_masks(u, tensors, {"step": 100 * u, "epoch": max(u - 1, 0)})
        if u:
            run.append_metrics({"epoch": u, "step": 100 * u, "test_acc": 0.5 + 0.1 * u})
        masks = {k: v ^ (rng.random(v.shape) < 0.05) for k, v in masks.items()}  # some links move
    return run


def test_evolution_reads_every_snapshot(tmp_path):
    run = make_run(tmp_path)
    assert [u for u, _ in snapshots(run.root)] == [0, 1, 2]
    rows = evolution(run.root, ["anp", "cap", "clustering"])
    assert [r["update"] for r in rows] == [0, 1, 2]
    assert [r["step"] for r in rows] == [0, 100, 200]
    assert rows[0]["metrics"] is None  # nothing was evaluated with the initial masks
    assert [r["metrics"]["test_acc"] for r in rows[1:]] == [pytest.approx(0.6), pytest.approx(0.7)]
    assert rows[0]["cap"] == report(_load(run, 0), ["cap"])["cap"]
    assert rows[0]["file"] == "update_00000.npz"
    json.dumps(rows)
    sub = evolution(run.root, "anp", every=2)
    assert [r["update"] for r in sub] == [0, 2] and set(sub[0]) >= {"anp", "metrics"}
    assert [r["update"] for r in evolution(run.root, "anp", updates=[1])] == [1]


def _load(run, u):
    from netsci_dst.graph import load_npz

    return load_npz(run.masks / f"update_{u:05d}.npz")


def test_evolution_errors(tmp_path):
    with pytest.raises(DstnetError, match="no mask snapshots"):
        evolution(tmp_path, "anp")
    run = make_run(tmp_path, n_updates=1)
    with pytest.raises(DstnetError, match="update"):
        evolution(run.root, "anp", updates=[7])
    with pytest.raises(DstnetError):
        evolution(run.root, "anp", every=0)
    with pytest.raises(DstnetError):
        evolution(tmp_path / "missing", "anp")
