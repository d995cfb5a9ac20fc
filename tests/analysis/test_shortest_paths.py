"""The compiled shortest-path kernels against scipy.sparse.csgraph on hand-made and random graphs."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csgraph

from netsci_dst.analysis import shortest_paths
from netsci_dst.analysis.shortest_paths import bfs_distance_sums, dijkstra_rows
from netsci_dst.errors import DstnetError


def _symmetric(n, links, lengths):
    rows, cols = zip(*links, strict=True) if links else ((), ())
    a = sp.coo_matrix((lengths, (rows, cols)), shape=(n, n)).tocsr()
    return (a + a.T).tocsr()


def test_dijkstra_on_a_hand_made_graph():
    # 0 -1- 1 -1- 2 and a direct 0 -5- 2 link; 3 -2- 4 apart; 5 isolated
    a = _symmetric(6, [(0, 1), (1, 2), (0, 2), (3, 4)], [1.0, 1.0, 5.0, 2.0])
    d = dijkstra_rows(a, dtype=np.float64)
    inf = np.inf
    expected = np.array(
        [
            [0, 1, 2, inf, inf, inf],
            [1, 0, 1, inf, inf, inf],
            [2, 1, 0, inf, inf, inf],
            [inf, inf, inf, 0, 2, inf],
            [inf, inf, inf, 2, 0, inf],
            [inf, inf, inf, inf, inf, 0],
        ]
    )
    assert np.array_equal(d, expected)
    assert dijkstra_rows(a, sources=[2, 4]).dtype == np.float32
    assert np.array_equal(dijkstra_rows(a, sources=[2, 4]), expected[[2, 4]].astype(np.float32))


def test_bfs_sums_on_a_hand_made_graph():
    # path 0-1-2-3 and an edge 4-5: sums 6, 4, 4, 6 (3 reached) and 1, 1 (1 reached)
    a = _symmetric(6, [(0, 1), (1, 2), (2, 3), (4, 5)], [7.0, 7.0, 7.0, 7.0])
    sums, reached = bfs_distance_sums(a)
    assert sums.tolist() == [6, 4, 4, 6, 1, 1]
    assert reached.tolist() == [3, 3, 3, 3, 1, 1]


@st.composite
def weighted_graphs(draw):
    n = draw(st.integers(1, 40))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n, unique=True))
    pairs = [(i, j) for i, j in pairs if i < j]
    integer = draw(st.booleans())
    lengths = draw(
        st.lists(
            st.integers(0, 9).map(float) if integer else st.floats(1e-3, 1e4), min_size=len(pairs), max_size=len(pairs)
        )
    )
    return _symmetric(n, pairs, lengths)


@settings(max_examples=150, deadline=None)
@given(weighted_graphs())
def test_dijkstra_matches_scipy(a):
    ref = csgraph.dijkstra(a, directed=True)  # explicit zeros are links of length 0 for both
    got = dijkstra_rows(a, dtype=np.float64)
    assert np.array_equal(np.isinf(ref), np.isinf(got))
    assert np.allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(weighted_graphs(), st.integers(0, 2**32 - 1))
def test_bfs_sums_match_scipy_hop_distances(a, seed):
    n = a.shape[0]
    sources = np.random.default_rng(seed).integers(0, n, size=np.random.default_rng(seed).integers(1, 150))
    hops = csgraph.shortest_path(a, unweighted=True, directed=True)[sources]
    sums, reached = bfs_distance_sums(a, sources)  # more than 64 sources: several batches, repeats allowed
    finite = np.isfinite(hops)
    assert sums.tolist() == np.where(finite, hops, 0).sum(axis=1).astype(int).tolist()
    assert reached.tolist() == (finite.sum(axis=1) - 1).tolist()


def test_heap_and_buckets_agree(monkeypatch):
    rng = np.random.default_rng(0)
    n = 300
    pairs = [(i, j) for i, j in rng.integers(0, n, size=(1500, 2)) if i < j]
    a = _symmetric(n, pairs, rng.integers(1, 50, len(pairs)).astype(float))
    buckets = dijkstra_rows(a, dtype=np.float64)
    monkeypatch.setattr(shortest_paths, "BUCKET_RATIO", 0)  # forces the 4-ary heap
    heap = dijkstra_rows(a, dtype=np.float64)
    assert np.array_equal(buckets, heap)
    assert np.allclose(heap, csgraph.dijkstra(a))


def test_bad_input():
    a = _symmetric(3, [(0, 1)], [1.0])
    with pytest.raises(DstnetError, match="source ids"):
        dijkstra_rows(a, sources=[3])
    with pytest.raises(DstnetError, match="nonnegative"):
        dijkstra_rows(_symmetric(3, [(0, 1)], [-1.0]))
    with pytest.raises(DstnetError, match="square"):
        bfs_distance_sums(np.ones((2, 2)))
    with pytest.raises(DstnetError, match="float array of shape"):
        dijkstra_rows(a, out=np.empty((2, 3), np.float32))


def test_bucket_index_rounding_stays_in_bounds():
    # 31.9 / 1.1 rounds below 29 while 49.5 / 1.1 rounds to 45: once wrote past the circular bucket array
    a = _symmetric(5, [(0, 1), (0, 2), (2, 3), (3, 4)], [1.1, 17.599999999999998, 31.9, 31.9])
    assert np.allclose(dijkstra_rows(a, dtype=np.float64), csgraph.dijkstra(a), rtol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(200):  # lengths on and next to multiples of the smallest one
        n = 12
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.3]
        k = rng.integers(1, 30, len(pairs)) * 1.1
        lengths = np.where(rng.random(len(pairs)) < 0.5, np.nextafter(k, k + rng.choice([-1, 1], len(pairs))), k)
        a = _symmetric(n, pairs + [(0, 1)], list(lengths) + [1.1])
        assert np.allclose(dijkstra_rows(a, dtype=np.float64), csgraph.dijkstra(a), rtol=1e-12)


def test_long_paths_of_huge_weights_use_the_heap():
    # a path of 3000 nodes, one link of length 1 and the others 47999: d_max / min(w) ~ 1.4e8 buckets to scan
    n = 3000
    a = _symmetric(n, [(i, i + 1) for i in range(n - 1)], [1.0] + [16.0 * n - 1] * (n - 2))
    _, indptr, indices = shortest_paths._csr_arrays(a)
    assert not shortest_paths._buckets_pay(indptr, indices, a.data.astype(np.float64), 0)
    assert np.allclose(dijkstra_rows(a, sources=[0, 1500], dtype=np.float64), csgraph.dijkstra(a, indices=[0, 1500]))
    ring = _symmetric(6, [(i, (i + 1) % 6) for i in range(6)], [2.0, 3.0, 2.5, 2.0, 4.0, 2.0])
    _, indptr, indices = shortest_paths._csr_arrays(ring)
    assert shortest_paths._buckets_pay(indptr, indices, ring.data.astype(np.float64), 0)


def test_out_must_be_float():
    a = _symmetric(3, [(0, 1)], [1.0])
    with pytest.raises(DstnetError, match="float"):
        dijkstra_rows(a, out=np.empty((3, 3), np.int32))
