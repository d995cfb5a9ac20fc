import json

import networkx as nx
import numpy as np
import pytest

from netsci_dst.analysis.community import modularity, rewire_layer, rewire_stack
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, to_networkx


def _random_stack(seed, sizes=(30, 40, 30), density=0.08):
    rng = np.random.default_rng(seed)
    return LayerStack([rng.random((b, a)) < density for a, b in zip(sizes, sizes[1:], strict=False)])


def _nx_q(stack, membership):
    g = to_networkx(stack)
    mem = np.asarray(membership)
    parts = [set(np.flatnonzero(mem == c).tolist()) for c in np.unique(mem)]  # -1 = isolated neurons, Q unaffected
    return nx.community.modularity(g, parts)


@pytest.mark.parametrize("algorithm", ["leiden", "louvain"])
@pytest.mark.parametrize("seed", [0, 1])
def test_q_equals_networkx_modularity_of_the_same_partition(algorithm, seed):
    stack = _random_stack(seed)
    r = modularity(stack, seed=seed, algorithm=algorithm, n_random=0, return_membership=True)
    assert r["q"] == pytest.approx(_nx_q(stack, r["membership"]), abs=1e-12)
    # modularity objective, not CPM: a sparse graph gets a few real communities, not singletons
    assert 1 < r["n_communities"] < r["n_active"] / 3 and r["q"] > 0.2
    assert len(r["membership"]) == sum(stack.sizes)
    json.dumps(r)


def test_two_disconnected_halves():
    m = np.zeros((12, 10), dtype=bool)
    m[:6, :5] = True  # complete bipartite halves with the same number of links
    m[6:, 5:] = True
    r = modularity(m, n_random=0)
    assert r["n_communities"] == 2
    assert r["q"] == pytest.approx(0.5, abs=1e-9)  # 1 - 2 * (1/2)^2
    # the same as a two-layer chain: each half is its own block in both layers
    a = np.zeros((8, 8), dtype=bool)
    a[:4, :4] = a[4:, 4:] = True
    r2 = modularity(LayerStack([a, a.copy()]), algorithm="louvain", n_random=0)
    assert r2["n_communities"] == 2 and r2["q"] == pytest.approx(0.5, abs=1e-9)


def test_isolated_neurons_are_left_out():
    m = np.zeros((12, 12), dtype=bool)
    m[:5, :5] = True
    m[6:11, 6:11] = True  # neurons 5 and 11 of each side have no links
    r = modularity(m, n_random=0, return_membership=True)
    assert r["n_active"] == 20 and r["n_communities"] == 2
    assert [r["membership"][i] for i in (5, 11, 17, 23)] == [-1] * 4
    assert r["q"] == pytest.approx(0.5) == pytest.approx(_nx_q(LayerStack.single(m), r["membership"]))


def test_baseline_and_determinism():
    stack = _random_stack(3)
    r = modularity(stack, seed=4, n_random=2)
    assert len(r["baseline_qs"]) == 2 and np.isfinite(r["baseline_q"]) and r["baseline_q_std"] >= 0
    assert r == modularity(stack, seed=4, n_random=2)
    assert set(r) >= {"q", "n_communities", "baseline_q"}
    json.dumps(r)


def test_no_links_and_bad_arguments():
    r = modularity(np.zeros((3, 4), bool), n_random=0)
    assert np.isnan(r["q"]) and r["n_communities"] == 0
    with pytest.raises(DstnetError):
        modularity(np.ones((2, 2), bool), algorithm="cpm")
    with pytest.raises(DstnetError):
        modularity(np.ones((2, 2), bool), n_random=-1)


def test_rewire_layer_keeps_degrees_and_mixes():
    rng = np.random.default_rng(0)
    m = rng.random((60, 80)) < 0.1
    r = rewire_layer(m, seed=1)
    assert r.dtype == bool and r.shape == m.shape
    assert (r.sum(axis=0) == m.sum(axis=0)).all() and (r.sum(axis=1) == m.sum(axis=1)).all()
    overlap = (r & m).sum() / m.sum()
    assert overlap < 0.25  # about the density (0.1) for a well mixed sample
    assert np.array_equal(r, rewire_layer(m, seed=1)) and not np.array_equal(r, rewire_layer(m, seed=2))
    full = np.ones((4, 5), bool)
    assert np.array_equal(rewire_layer(full, seed=0), full)  # nothing to trade


def test_rewire_stack_keeps_layering():
    stack = _random_stack(2)
    r = rewire_stack(stack, seed=0)
    assert r.is_chain and r.names == stack.names
    for a, b in zip(stack.masks, r.masks, strict=True):
        assert (a.sum(0) == b.sum(0)).all() and (a.sum(1) == b.sum(1)).all() and not np.array_equal(a, b)
    non_chain = LayerStack([np.ones((3, 3), bool), np.eye(3, dtype=bool)], chain=False)
    assert not rewire_stack(non_chain, seed=0).is_chain


def test_rewire_layer_samples_every_matrix_with_the_margins_uniformly():
    """The 3x3 matrices with all row and column sums 1 are the 6 permutation matrices: Curveball must hit each
    about equally often (a biased trade rule would not)."""
    eye = np.eye(3, dtype=bool)
    counts: dict[bytes, int] = {}
    n = 1200
    for seed in range(n):
        r = rewire_layer(eye, seed=seed, rounds=30)
        assert (r.sum(0) == 1).all() and (r.sum(1) == 1).all()
        counts[r.tobytes()] = counts.get(r.tobytes(), 0) + 1
    assert len(counts) == 6
    expected = n / 6
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 20.5  # chi-square with 5 degrees of freedom: p < 0.001


def test_serial_and_parallel_curveball_agree_for_any_thread_count():
    import numba

    from netsci_dst.analysis.community import _curveball, _curveball_parallel

    mask = np.random.default_rng(0).random((300, 200)) < 0.3
    serial = mask.copy()
    _curveball(serial, 10, 5)
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            par = mask.copy()
            _curveball_parallel(par, 10, 5)
            assert np.array_equal(serial, par)
    finally:
        numba.set_num_threads(before)
    assert (serial.sum(0) == mask.sum(0)).all() and (serial.sum(1) == mask.sum(1)).all()
    assert not np.array_equal(serial, mask)
