import json

import networkx as nx
import numpy as np
import pytest

from netsci_dst.analysis.paths import characteristic_path_length, largest_component, stack_adjacency
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, to_networkx


def _random_stack(seed, sizes=(12, 15, 10), density=0.25, chain=True):
    rng = np.random.default_rng(seed)
    masks = [rng.random((b, a)) < density for a, b in zip(sizes, sizes[1:], strict=False)]
    return LayerStack(masks, chain=chain if chain else False)


def _nx_adjacency(stack):
    g = to_networkx(stack)
    return nx.to_scipy_sparse_array(g, nodelist=sorted(g.nodes()), format="csr")


@pytest.mark.parametrize("chain", [True, False])
def test_adjacency_matches_graph_module_node_order(chain):
    stack = _random_stack(0, sizes=(7, 9, 9), chain=chain)
    adj, layer = stack_adjacency(stack)
    ref = _nx_adjacency(stack)
    assert adj.shape == ref.shape
    assert (adj != ref).nnz == 0
    assert adj.has_sorted_indices and (adj != adj.T).nnz == 0
    g = to_networkx(stack)
    assert layer.tolist() == [g.nodes[v]["layer"] for v in sorted(g.nodes())]


def test_adjacency_of_single_mask_and_empty_rows():
    m = np.zeros((3, 4), dtype=bool)
    m[0, 1] = m[2, 1] = m[2, 3] = True
    adj, layer = stack_adjacency(m)
    assert layer.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert sorted(map(tuple, np.argwhere(adj.toarray()).tolist())) == sorted(
        [(1, 4), (4, 1), (1, 6), (6, 1), (3, 6), (6, 3)]
    )


@pytest.mark.parametrize("backend", ["compiled", "igraph", "scipy"])
def test_exact_value_on_hand_made_path_and_square(backend):
    # path in0 - out0 - in1 - out1: distances 1, 2, 3, 1, 2, 1 -> L = 10 / 6
    path = np.array([[1, 1], [0, 1]], dtype=bool)
    r = characteristic_path_length(path, backend=backend)
    assert r["L"] == pytest.approx(5 / 3, abs=1e-12)
    assert r["exact"] and r["n_sources"] == 4 and r["component_fraction"] == 1.0 and r["stderr"] == 0.0
    # the same 4-node path as a chain of three 1x1 layers
    chain = LayerStack([np.ones((1, 1), bool)] * 3, names=["a", "b", "c"])
    assert characteristic_path_length(chain, backend=backend)["L"] == pytest.approx(5 / 3, abs=1e-12)
    # ladder with two rungs = square K_{2,2}: every node has 2 neighbours at 1 and one node at 2 -> 4/3
    assert characteristic_path_length(np.ones((2, 2), bool), backend=backend)["L"] == pytest.approx(4 / 3)
    # 6-cycle: from every node distances 1, 1, 2, 2, 3 -> 9 / 5
    cycle = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool)
    assert characteristic_path_length(cycle, backend=backend)["L"] == pytest.approx(9 / 5)
    # ladder with three rungs (the 2 x 3 grid, Manhattan distances): 15 pairs, distance sum 16 + 9 = 25
    # inputs a=(0,0) b=(0,2) c=(1,1); outputs x=(0,1) y=(1,0) z=(1,2)
    ladder = np.zeros((3, 3), dtype=bool)
    for out, inp in [(0, 0), (0, 1), (1, 2), (2, 2), (1, 0), (0, 2), (2, 1)]:
        ladder[out, inp] = True
    assert characteristic_path_length(ladder, backend=backend)["L"] == pytest.approx(25 / 15)
    assert nx.average_shortest_path_length(to_networkx(ladder)) == pytest.approx(25 / 15)


@pytest.mark.parametrize("seed", range(4))
def test_matches_networkx_on_small_random_graphs(seed):
    stack = _random_stack(seed, density=0.12 + 0.04 * seed, chain=seed % 2 == 0)
    g = to_networkx(stack)
    lcc = max(nx.connected_components(g), key=len)
    ref = nx.average_shortest_path_length(g.subgraph(lcc))
    for backend in ("compiled", "igraph", "scipy"):
        r = characteristic_path_length(stack, backend=backend)
        assert r["L"] == pytest.approx(ref, rel=1e-12)
        assert r["n_component"] == len(lcc)
        assert r["component_fraction"] == pytest.approx(len(lcc) / g.number_of_nodes())
    json.dumps(r)


def test_largest_component_picks_the_biggest():
    m = np.zeros((5, 5), dtype=bool)
    m[0, 0] = True  # component {in0, out0}
    m[1:4, 1:4] = True  # component of 6 nodes
    adj, _ = stack_adjacency(m)
    assert largest_component(adj).tolist() == [1, 2, 3, 6, 7, 8]
    r = characteristic_path_length(m)
    assert r["n_component"] == 6 and r["component_fraction"] == pytest.approx(0.6)
    assert r["L"] == pytest.approx((3 * 1 + 2 * 2) / 5)  # K_{3,3}: 3 neighbours at 1, 2 same-side nodes at 2


def test_sampled_sources():
    stack = _random_stack(5, sizes=(40, 50, 40), density=0.1)
    exact = characteristic_path_length(stack)
    assert exact["exact"]
    full = characteristic_path_length(stack, sources=10_000)
    assert full["exact"] and full["L"] == pytest.approx(exact["L"])
    for backend in ("compiled", "igraph", "scipy"):
        s = characteristic_path_length(stack, sources=40, seed=3, backend=backend)
        assert not s["exact"] and s["n_sources"] == 40 and s["stderr"] > 0
        assert abs(s["L"] - exact["L"]) < 5 * s["stderr"] + 1e-9
        assert s == characteristic_path_length(stack, sources=40, seed=3, backend=backend)
    sampled = [
        characteristic_path_length(stack, sources=40, seed=3, backend=b) for b in ("compiled", "igraph", "scipy")
    ]
    assert sampled[0]["L"] == pytest.approx(sampled[1]["L"]) == pytest.approx(sampled[2]["L"])


def test_degenerate_inputs():
    r = characteristic_path_length(np.zeros((3, 3), bool))
    assert np.isnan(r["L"]) and r["n_component"] == 1
    with pytest.raises(DstnetError):
        characteristic_path_length(np.ones((2, 2), bool), backend="nope")
    with pytest.raises(DstnetError):
        characteristic_path_length(np.ones((2, 2), bool), sources=0)
