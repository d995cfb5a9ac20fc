"""The compiled Louvain: exact modularity of its partitions, planted communities recovered, quality near igraph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from netsci_dst.analysis.louvain import louvain, partition_modularity


def _nx_q(adj: sp.csr_matrix, labels: np.ndarray, resolution: float = 1.0) -> float:
    g = nx.from_scipy_sparse_array(adj)
    parts = [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)]
    return nx.community.modularity(g, parts, resolution=resolution)


def _planted(n_blocks: int, size: int, p_in: float, p_out: float, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(n_blocks), size)
    p = np.where(truth[:, None] == truth[None, :], p_in, p_out)
    upper = np.triu(rng.random(p.shape) < p, k=1)
    return sp.csr_matrix((upper | upper.T).astype(float)), truth


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 40),
    density=st.floats(0.0, 0.6),
    resolution=st.sampled_from([0.5, 1.0, 2.0]),
    seed=st.integers(0, 1000),
)
def test_partition_modularity_equals_networkx(n, density, resolution, seed):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < density, k=1)
    adj = sp.csr_matrix((upper | upper.T).astype(float))
    labels = rng.integers(0, 4, size=n)
    if adj.nnz == 0:
        assert np.isnan(partition_modularity(adj, labels))
        return
    assert partition_modularity(adj, labels, resolution) == pytest.approx(_nx_q(adj, labels, resolution), abs=1e-12)
    found = louvain(adj, seed=seed, resolution=resolution)
    assert found.shape == (n,) and set(np.unique(found)) == set(range(found.max() + 1))
    # local moving never ends below the singleton partition it starts from
    assert partition_modularity(adj, found, resolution) >= partition_modularity(adj, np.arange(n), resolution) - 1e-12


def test_recovers_planted_communities_exactly():
    adj, truth = _planted(n_blocks=5, size=40, p_in=0.3, p_out=0.005, seed=3)
    found = louvain(adj, seed=0)
    # the same partition up to relabelling: each found community is exactly one planted block
    pairs = {(int(t), int(f)) for t, f in zip(truth, found, strict=True)}
    assert len(pairs) == 5 and len({f for _, f in pairs}) == 5
    assert partition_modularity(adj, found) == pytest.approx(partition_modularity(adj, truth))


def test_two_cliques_joined_by_one_edge():
    clique = np.ones((4, 4)) - np.eye(4)
    a = sp.block_diag([clique, clique]).tolil()
    a[3, 4] = a[4, 3] = 1
    found = louvain(a.tocsr(), seed=1)
    assert len(set(found[:4])) == 1 and len(set(found[4:])) == 1 and found[0] != found[4]
    # Q = sum_c [l_c/m - (d_c/2m)^2] with m = 13, l_c = 6, d_c = 13
    assert partition_modularity(a, found) == pytest.approx(2 * (6 / 13 - 0.25))


def test_quality_close_to_igraph_leiden_on_a_sparse_random_graph():
    import igraph as ig

    rng = np.random.default_rng(0)
    upper = sp.triu(sp.random(2000, 2000, density=0.004, random_state=rng, format="csr") > 0, k=1)
    adj = ((upper + upper.T) > 0).astype(float).tocsr()
    ours = partition_modularity(adj, louvain(adj, seed=0))
    upper = sp.triu(adj, k=1).tocoo()
    g = ig.Graph(n=2000, edges=np.column_stack([upper.row, upper.col]).tolist())
    leiden = g.modularity(g.community_leiden(objective_function="modularity", n_iterations=2).membership)
    multilevel = g.modularity(g.community_multilevel().membership)
    assert ours >= 0.97 * multilevel and ours >= 0.9 * leiden


def test_deterministic_for_a_seed_and_isolated_nodes_alone():
    adj, _ = _planted(3, 30, 0.2, 0.02, seed=5)
    adj = sp.block_diag([adj, sp.csr_matrix((2, 2))]).tocsr()
    a, b = louvain(adj, seed=7), louvain(adj, seed=7)
    assert np.array_equal(a, b)
    assert a[-1] != a[-2] and np.sum(a == a[-1]) == 1 and np.sum(a == a[-2]) == 1
