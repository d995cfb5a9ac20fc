import json
import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from netsci_dst.analysis.hyperbolic import (
    _mistakes,
    angular_separation,
    angular_separation_index,
    asi_baseline,
    coalescent_embedding,
    equidistant_adjustment,
    fit_degree_exponent,
    ra_weights,
    radial_coordinates,
)
from netsci_dst.analysis.paths import stack_adjacency
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack


def _ring_layer(n=60, width=4):
    """A wrapped diagonal band: a bipartite ring, whose embedding must recover the circular order."""
    m = np.zeros((n, n), dtype=bool)
    for j in range(n):
        for k in range(width):
            m[j, (j + k) % n] = True
    return m


def _agreement(a, b):
    """|mean exp(i (±a - b))|: 1 when two angle sets agree up to a rotation and a reflection."""
    a, b = np.asarray(a), np.asarray(b)
    return max(abs(np.mean(np.exp(1j * (s * a - b)))) for s in (1, -1))


# --------------------------------------------------------------------------------------------------- pieces
def test_ra_weights_match_the_definition():
    g = nx.gnp_random_graph(25, 0.3, seed=1)
    adj = nx.to_scipy_sparse_array(g, nodelist=range(25), format="csr").astype(float)
    for rule in ("RA1", "RA2"):
        w = ra_weights(adj, rule)
        assert (w != w.T).nnz == 0 and w.nnz == adj.nnz
        for i, j in g.edges():
            di, dj = g.degree(i), g.degree(j)
            cn = len(list(nx.common_neighbors(g, i, j)))
            if rule == "RA1":
                ref = (di + dj + di * dj) / (1 + cn)
            else:
                ei, ej = di - cn - 1, dj - cn - 1
                ref = (1 + ei + ej + ei * ej) / (1 + cn)
            assert w[i, j] == pytest.approx(ref)
    # bipartite shortcut (CN = 0 on every link) agrees with the general computation
    rng = np.random.default_rng(0)
    adj_b, _ = stack_adjacency(LayerStack([rng.random((9, 7)) < 0.4, rng.random((8, 9)) < 0.4]))
    for rule in ("RA1", "RA2"):
        assert abs(ra_weights(adj_b, rule, bipartite=True) - ra_weights(adj_b, rule)).max() < 1e-12
    with pytest.raises(DstnetError):
        ra_weights(adj_b, "EBC")


def test_equidistant_adjustment_and_radii():
    theta = equidistant_adjustment([0.3, 5.0, 0.1, 2.0])
    assert theta.tolist() == pytest.approx([math.pi / 2, 3 * math.pi / 2, 0.0, math.pi])
    deg = np.array([3, 7, 1, 7])
    gamma = 2.5
    beta = 1 / (gamma - 1)
    ranks = np.array([3, 1, 4, 2])  # descending degree, ties in node order
    ref = np.maximum(0, 2 * beta * np.log(ranks) + 2 * (1 - beta) * np.log(4))
    assert radial_coordinates(deg, gamma) == pytest.approx(ref)
    assert (radial_coordinates(deg, 1.2) >= 0).all()  # beta > 1: clipped at 0 as the reference code does


def test_fit_degree_exponent():
    rng = np.random.default_rng(0)
    fit = fit_degree_exponent(rng.zipf(2.5, 3000))
    assert fit["method"] == "discrete" and abs(fit["gamma"] - 2.5) < 0.15
    assert fit_degree_exponent([4] * 50)["gamma"] == 10.0
    assert fit_degree_exponent(rng.poisson(50, 400) + 1)["gamma"] > 5  # no heavy tail: steep or capped
    cont = fit_degree_exponent(np.floor(1500 * (1 - rng.random(2000)) ** (-1 / 1.5)))
    assert cont["method"] == "continuous" and abs(cont["gamma"] - 2.5) < 0.2


# --------------------------------------------------------------------------------------------------- ASI
def test_mistakes_by_hand():
    # around the circle: 0 0 1 0 1 1 -> group 0 members at 0,1,3: gaps 0,1 and wrap 2 -> mistakes 3 - 2 = 1
    m = _mistakes(np.array([[0, 0, 1, 0, 1, 1]]), np.array([3, 3]))
    assert m.tolist() == [[1.0, 1.0]]
    # a singleton group is skipped (NaN)
    assert np.isnan(_mistakes(np.array([[0, 0, 1, 0, 0]]), np.array([4, 1]))[0, 1])


def test_asi_is_one_for_separated_sectors_and_lower_when_shuffled():
    labels = np.repeat([0, 1, 2, 3], [30, 60, 60, 50])
    theta = np.linspace(0, 2 * np.pi, labels.size, endpoint=False)
    r = angular_separation(theta, labels, n_perm=200, seed=0)
    assert r["index"] == 1.0 and all(v == 1.0 for v in r["group_index"].values())
    assert r["pvalue"] == pytest.approx(1 / 201)
    # invariant to rotation and reflection
    assert angular_separation_index(np.mod(2 * np.pi - theta + 1.0, 2 * np.pi), labels, n_perm=50) == 1.0
    shuffled = np.random.default_rng(1).permutation(theta)
    low = angular_separation_index(shuffled, labels, n_perm=200)
    assert low < 0.2
    # half mixed: between the two
    half = theta.copy()
    idx = np.random.default_rng(2).choice(labels.size, labels.size // 4, replace=False)
    half[idx] = np.random.default_rng(3).permutation(half[idx])
    assert low < angular_separation_index(half, labels, n_perm=200) < 1.0
    # NaN angles (nodes not embedded) are dropped with their labels
    with_nan = np.concatenate([theta, [np.nan, np.nan]])
    assert angular_separation_index(with_nan, np.concatenate([labels, [0, 1]]), n_perm=20) == 1.0
    json.dumps(r)


def test_asi_errors():
    with pytest.raises(DstnetError):
        angular_separation_index([0.1, 0.2, 0.3], [0, 1, 1])
    with pytest.raises(DstnetError):
        angular_separation_index([0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0])
    with pytest.raises(DstnetError):
        angular_separation_index([0.1, 0.2], [0, 1, 1])


# --------------------------------------------------------------------------------------------------- embedding
def test_embedding_recovers_a_ring_exact_landmark_and_le():
    m = _ring_layer()
    n = m.shape[0]
    pos = np.concatenate([np.arange(n), np.arange(n) + 1.5]) * 2 * np.pi / n  # circular position of each node
    exact = coalescent_embedding(m)
    assert exact["landmarks"] == 0 and _agreement(exact["theta"], pos) > 0.99
    lm = coalescent_embedding(m, landmarks=12, seed=3)
    assert lm["landmarks"] == 12 and _agreement(lm["theta"], exact["theta"]) > 0.99
    le = coalescent_embedding(m, method="LE")
    assert _agreement(le["theta"], pos) > 0.99
    # inputs and outputs interleave around the ring: no angular separation of the two layers
    assert exact["asi"] < 0.2


def test_embedding_output_contract():
    rng = np.random.default_rng(0)
    masks = [rng.random((40, 30)) < 0.08, rng.random((40, 40)) < 0.08]
    masks[0][:, 0] = False  # input neuron 0 isolated
    stack = LayerStack(masks)
    r = coalescent_embedding(stack, seed=1)
    n_nodes = 110
    assert len(r["theta"]) == len(r["r"]) == len(r["layer"]) == n_nodes == r["n_nodes"]
    assert r["layer"] == [0] * 30 + [1] * 40 + [2] * 40
    theta, rad = np.array(r["theta"]), np.array(r["r"])
    assert np.isnan(theta[0]) and np.isnan(rad[0])
    inside = np.isfinite(theta)
    assert inside.sum() == r["n_embedded"] and r["component_fraction"] == pytest.approx(r["n_embedded"] / n_nodes)
    ne = r["n_embedded"]
    assert np.sort(theta[inside]) == pytest.approx(2 * np.pi * np.arange(ne) / ne)  # equidistant adjustment
    assert 1.01 <= r["gamma"] <= 10 and r["beta"] == pytest.approx(1 / (r["gamma"] - 1))
    # radii follow the degree ranks of the embedded nodes
    adj, _ = stack_adjacency(stack)
    deg = np.diff(adj.indptr)[inside]
    assert rad[inside] == pytest.approx(radial_coordinates(deg, r["gamma"]))
    assert 0 <= r["asi"] <= 1
    text = json.dumps(r)
    assert json.loads(text)["method"] == "ncISO"
    assert np.array_equal(theta, coalescent_embedding(stack, seed=1)["theta"], equal_nan=True)  # deterministic
    le = coalescent_embedding(stack, method="LE", asi=False)
    assert "asi" not in le and np.isfinite(le["theta"]).sum() == ne


def test_layered_structure_is_separated():
    # a chain of complete bipartite layers: the neurons of a layer are interchangeable, so each layer lands on its
    # own arc of the circle and the layers are perfectly separated
    stack = LayerStack([np.ones((5, 5), bool) for _ in range(5)])
    for method in ("ncISO", "LE"):
        r = coalescent_embedding(stack, method=method)
        assert r["n_embedded"] == 30 and r["asi"] == 1.0
    # random layered graphs separate their layers only partly
    rng = np.random.default_rng(0)
    random_stack = LayerStack([rng.random((15, 15)) < 0.2 for _ in range(4)])
    assert 0.3 < coalescent_embedding(random_stack)["asi"] < 0.9


def test_embedding_errors():
    with pytest.raises(DstnetError):
        coalescent_embedding(np.ones((3, 3), bool), method="MCE")
    with pytest.raises(DstnetError):
        coalescent_embedding(np.eye(5, dtype=bool))  # largest component: 2 nodes
    with pytest.raises(DstnetError):
        coalescent_embedding(_ring_layer(), landmarks=2)


def test_asi_baseline():
    rng = np.random.default_rng(1)
    stack = LayerStack([rng.random((30, 25)) < 0.15, rng.random((30, 30)) < 0.15])
    r = asi_baseline(stack, seed=0, n_random=2, n_perm=100)
    assert set(r) == {"mean", "std", "values", "n_random", "method"} and len(r["values"]) == 2
    assert all(0 <= v <= 1 for v in r["values"]) and r["mean"] == pytest.approx(np.mean(r["values"]))
    json.dumps(r)


def test_sparse_input_accepted():
    m = sp.csr_matrix(_ring_layer(20, 3))
    assert coalescent_embedding(m, asi=False)["n_embedded"] == 40


def test_landmarks_when_the_exact_kernel_would_be_too_much_work(monkeypatch):
    from netsci_dst.analysis import hyperbolic

    rng = np.random.default_rng(2)
    stack = LayerStack([rng.random((60, 50)) < 0.2, rng.random((60, 60)) < 0.2])
    assert coalescent_embedding(stack, asi=False)["landmarks"] == 0  # small: the exact kernel
    adj, _ = stack_adjacency(stack)
    monkeypatch.setattr(hyperbolic, "EXACT_WORK", 170 * adj.nnz - 1)  # just below N x nnz of this stack
    r = coalescent_embedding(stack, asi=False)
    assert r["n_embedded"] == 170 and r["landmarks"] == hyperbolic.DEFAULT_LANDMARKS
    assert coalescent_embedding(stack, asi=False, landmarks=170)["landmarks"] == 0  # an explicit choice wins
