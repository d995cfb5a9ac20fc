"""Tests for the bipartite scale-free (BSF) generator."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from netsci_dst.errors import DstnetError
from netsci_dst.topology import bsf as bsf_module
from netsci_dst.topology._common import link_count
from netsci_dst.topology.bsf import bsf
from netsci_dst.topology.registry import generate, get

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.integers(min_value=2, max_value=80)
densities = st.one_of(
    st.floats(min_value=1e-3, max_value=1.0, allow_nan=False),
    st.sampled_from([1.0, 0.99, 0.9, 0.5, 0.01]),
)


def _count_or_skip(n_in: int, n_out: int, density: float) -> int:
    try:
        return link_count(n_in, n_out, density)
    except DstnetError:
        assume(False)
        raise AssertionError("unreachable") from None


# ------------------------------------------------------------------------------------------ properties
@SETTINGS
@given(n_in=sizes, n_out=sizes, density=densities, seed=st.integers(0, 2**32 - 1))
def test_shape_dtype_exact_count_and_determinism(n_in, n_out, density, seed):
    k = _count_or_skip(n_in, n_out, density)
    m = bsf(n_in, n_out, density, seed=seed)
    assert m.shape == (n_out, n_in)
    assert m.dtype == np.bool_
    assert int(m.sum()) == k == min(n_in * n_out, math.floor(density * (n_in * n_out) + 0.5))
    assert np.array_equal(m, bsf(n_in, n_out, density, seed=seed))


@SETTINGS
@given(n_in=sizes, n_out=sizes, density=densities, seed=st.integers(0, 2**31))
def test_different_seeds_give_different_masks(n_in, n_out, density, seed):
    k = _count_or_skip(n_in, n_out, density)
    assume(math.comb(n_in * n_out, k) > 10**6)  # enough distinct masks for a collision to be negligible
    masks = [bsf(n_in, n_out, density, seed=seed + i) for i in range(3)]
    assert not (np.array_equal(masks[0], masks[1]) and np.array_equal(masks[1], masks[2]))


def test_registered_and_generate_matches_direct_call():
    spec = get("bsf")
    assert spec.func is bsf and not spec.needs_data
    assert np.array_equal(generate("bsf", 30, 50, 0.1, seed=3), bsf(30, 50, 0.1, seed=3))


def test_generator_seed_is_accepted_and_consumed():
    rng = np.random.default_rng(5)
    a = bsf(40, 60, 0.1, seed=rng)
    b = bsf(40, 60, 0.1, seed=rng)
    assert int(a.sum()) == int(b.sum()) == 240
    assert not np.array_equal(a, b)
    assert np.array_equal(a, bsf(40, 60, 0.1, seed=np.random.default_rng(5)))


@pytest.mark.parametrize(
    "args, params",
    [
        ((0, 10, 0.1), {}),
        ((10, -1, 0.1), {}),
        ((10, 10, 0.0), {}),
        ((10, 10, 1.5), {}),
        ((2, 2, 0.01), {}),
        ((10, 10, 0.1), {"beta": 0.2}),
    ],
)
def test_user_errors_raise_dstnet_error(args, params):
    with pytest.raises(DstnetError):
        bsf(*args, seed=0, **params)


@pytest.mark.parametrize("n_in, n_out, density", [(50, 50, 1.0), (30, 70, 0.95), (1, 1, 1.0), (80, 3, 0.99)])
def test_dense_and_degenerate_layers_hold_the_exact_count(n_in, n_out, density):
    for seed in range(3):
        m = bsf(n_in, n_out, density, seed=seed)
        assert int(m.sum()) == link_count(n_in, n_out, density)
        assert m.sum(axis=0).max() <= n_out and m.sum(axis=1).max() <= n_in
    if density == 1.0:
        assert m.all()


# ------------------------------------------------------------------------------------------ heavy tails
def test_degrees_are_heavy_tailed_unlike_er():
    n_in, n_out, density = 500, 1000, 0.05
    k = link_count(n_in, n_out, density)
    rng = np.random.default_rng(0)
    for seed in range(3):
        m = bsf(n_in, n_out, density, seed=seed)
        er = np.zeros(n_in * n_out, dtype=bool)
        er[rng.choice(n_in * n_out, size=k, replace=False)] = True
        er = er.reshape(n_out, n_in)
        for axis in (0, 1):  # input degrees, output degrees
            deg, er_deg = m.sum(axis=axis), er.sum(axis=axis)
            assert deg.mean() == pytest.approx(er_deg.mean())
            assert er_deg.max() < 2.0 * er_deg.mean()  # ER: about 1.5x
            assert deg.max() > 5.0 * deg.mean()  # BSF: hubs (about 7x)
            # a power-law-like spread: most nodes below the mean, a few very large ones
            assert np.median(deg) < 0.8 * deg.mean()
            assert np.median(er_deg) > 0.9 * er_deg.mean()


# ------------------------------------------------------------------------------------------ internals
@SETTINGS
@given(n_nodes=st.integers(2, 300), frac=st.floats(0.0, 1.0), seed=st.integers(0, 2**31 - 2))
def test_ba_quotas_and_graph(n_nodes, frac, seed):
    # any link count a bipartite layer on these nodes can ask for: 1 .. floor(N/2) * ceil(N/2)
    max_links = (n_nodes // 2) * (n_nodes - n_nodes // 2)
    n_links = max(1, int(round(frac * max_links)))
    n_seed, quota = bsf_module._quotas(n_nodes, n_links, np.random.default_rng(seed))
    assert 2 <= n_seed <= n_nodes
    assert (n_seed - 1) + int(quota.sum()) == n_links
    assert np.all(quota[:n_seed] == 0)
    assert np.all(quota[n_seed:] <= np.arange(n_seed, n_nodes))  # node i attaches to at most i earlier nodes
    src, dst, deg = bsf_module._ba_graph(n_nodes, n_seed, quota, seed)
    assert src.size == n_links
    assert np.all(src != dst)
    pairs = set(zip(np.minimum(src, dst).tolist(), np.maximum(src, dst).tolist(), strict=True))
    assert len(pairs) == n_links  # distinct targets: a simple graph
    assert np.array_equal(deg, np.bincount(np.concatenate([src, dst]), minlength=n_nodes))


def test_fold_pairs_frustrations_into_cross_links_avoiding_duplicates():
    # nodes 0, 1 are inputs; 2, 3 outputs. Links: (0,1) intra-input, (2,3) intra-output, (0,2) cross.
    # Pairing (0,1) with (2,3): orientation (0,2),(1,3) would duplicate (0,2), so (0,3),(1,2) is used.
    src = np.array([0, 2, 0], dtype=np.int32)
    dst = np.array([1, 3, 2], dtype=np.int32)
    side = np.array([0, 0, 1, 1], dtype=np.int8)
    local = np.array([0, 1, 0, 1], dtype=np.int64)
    w = np.ones(2)
    for seed in range(5):
        mask, cnt = bsf_module._fold(src, dst, side, local, 2, 2, w, w, 3, seed, 8, 32)
        assert cnt == 3
        assert np.array_equal(mask, np.array([[True, True], [True, False]]))


def test_fold_leftover_frustration_keeps_one_endpoint_and_count():
    # one intra-input link (0,1) and nothing to pair it with: it becomes one cross link from input 0 or 1
    src = np.array([0], dtype=np.int32)
    dst = np.array([1], dtype=np.int32)
    side = np.array([0, 0, 1, 1, 1], dtype=np.int8)
    local = np.array([0, 1, 0, 1, 2], dtype=np.int64)
    w_in = np.ones(2)
    w_out = np.array([1.0, 1.0, 1e6])  # preferential attachment: output 2 is the hub
    for seed in range(5):
        mask, cnt = bsf_module._fold(src, dst, side, local, 2, 3, w_in, w_out, 1, seed, 8, 32)
        assert cnt == 1 and int(mask.sum()) == 1
        assert mask[2].sum() == 1  # the hub got it


def test_fold_tops_up_when_a_leftover_cannot_be_placed():
    # inputs 0, 1 are linked to both outputs (3, 4) and to each other: the frustration (0, 1) cannot become a
    # cross link from either endpoint, so the top-up adds the missing link on input 2's empty cells
    src = np.array([0, 0, 1, 1, 0], dtype=np.int32)
    dst = np.array([3, 4, 3, 4, 1], dtype=np.int32)
    side = np.array([0, 0, 0, 1, 1], dtype=np.int8)
    local = np.array([0, 1, 2, 0, 1], dtype=np.int64)
    for seed in range(5):
        mask, cnt = bsf_module._fold(src, dst, side, local, 3, 2, np.ones(3), np.ones(2), 5, seed, 8, 32)
        assert cnt == 5 and int(mask.sum()) == 5
        assert mask[:, :2].all() and mask[:, 2].sum() == 1


def test_fill_exact_reaches_the_count_on_empty_cells_only():
    mask = np.zeros((4, 5), dtype=bool)
    mask[0] = True
    before = mask.copy()
    bsf_module._fill_exact(mask, 12, np.ones(5), np.ones(4), np.random.default_rng(0))
    assert int(mask.sum()) == 17 and np.all(mask[before])
    bsf_module._fill_exact(mask, 3, np.ones(5), np.ones(4), np.random.default_rng(0))
    assert mask.all()


def test_speed_mnist_first_layer():
    bsf(20, 30, 0.1, seed=0)  # compile / load the cache outside the timing
    t = time.perf_counter()
    m = bsf(784, 1568, 0.01, seed=1)
    assert time.perf_counter() - t < 1.0
    assert int(m.sum()) == 12293
