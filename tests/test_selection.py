"""netsci_dst.selection: top-k and weighted sampling without replacement, torch and numpy."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from netsci_dst.errors import DstnetError
from netsci_dst.selection import (
    exponential_race,
    numpy_generator,
    sample,
    sample_uniform,
    top_k,
    torch_generator,
)

NAN, INF = math.nan, math.inf


def _list(idx) -> list[int]:
    return [int(i) for i in (idx.tolist() if isinstance(idx, torch.Tensor) else idx)]


def _both(values, eligible=None):
    """The same input as numpy and as torch."""
    v = np.asarray(values, dtype=np.float64)
    e = None if eligible is None else np.asarray(eligible, dtype=bool)
    return [(v, e), (torch.from_numpy(v), None if e is None else torch.from_numpy(e))]


# ------------------------------------------------------------------------------------------------------- top-k
@pytest.mark.parametrize("backend", [0, 1])
def test_top_k_exact_values_on_a_tiny_case(backend):
    v, e = _both([[3.0, 1.0, 3.0], [NAN, 2.0, -0.0]], [[False, True, True], [True, True, True]])[backend]
    full, _ = _both([[3.0, 1.0, 3.0], [NAN, 2.0, -0.0]])[backend]
    assert _list(top_k(full, 3)) == [0, 2, 4]  # the tie 3 = 3 by flat index
    assert _list(top_k(full, 2, largest=False)) == [3, 5]  # NaN counts as -inf, then -0.0
    assert _list(top_k(v, 2, e)) == [2, 4]  # entry 0 is not eligible
    assert _list(top_k(v, 99, e)) == [2, 4, 1, 5, 3]  # all eligible ones, NaN last
    assert _list(top_k(v, 0, e)) == []
    out = top_k(v, 2, e)
    assert (out.dtype == torch.int64) if isinstance(out, torch.Tensor) else (out.dtype == np.int64)


@pytest.mark.parametrize("backend", [0, 1])
def test_top_k_signed_zeros_and_infinities_tie_by_index(backend):
    v, _ = _both([0.0, -0.0, 0.0, -0.0])[backend]
    assert _list(top_k(v, 3)) == [0, 1, 2]
    assert _list(top_k(v, 3, largest=False)) == [0, 1, 2]
    v, _ = _both([-INF, NAN, INF, 1.0, INF])[backend]
    assert _list(top_k(v, 5)) == [2, 4, 3, 0, 1]
    assert _list(top_k(v, 5, largest=False)) == [0, 1, 3, 2, 4]


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 7)),
        elements=st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, NAN, INF, -INF, 1e-300]),
    ),
    eligible_seed=st.integers(0, 2**16),
    k=st.integers(0, 50),
    largest=st.booleans(),
)
def test_top_k_is_a_prefix_of_the_stable_sort(values, eligible_seed, k, largest):
    eligible = np.random.default_rng(eligible_seed).random(values.shape) < 0.7
    cand = np.flatnonzero(eligible)
    key = np.where(np.isnan(values.ravel()[cand]), -INF, values.ravel()[cand])
    expected = cand[np.argsort(-key if largest else key, kind="stable")][:k].tolist()
    assert _list(top_k(values, k, eligible, largest=largest)) == expected
    got = top_k(torch.from_numpy(values), k, torch.from_numpy(eligible), largest=largest)
    assert _list(got) == expected


# ---------------------------------------------------------------------------------------------- exponential race
def test_race_keys_are_log_e_minus_power_log_w_and_the_smallest_win():
    w = torch.tensor([[0.5, 2.0, 1.0], [4.0, 0.25, 3.0]], dtype=torch.float64)
    for power in (1.0, 0.5, 2.0):
        got = exponential_race(w, 4, generator=torch.Generator().manual_seed(3), power=power)
        u = torch.rand(6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        keys = torch.log(-torch.log1p(-u)) - power * torch.log(w.reshape(-1))
        assert _list(got) == _list(torch.argsort(keys)[:4])
    w32 = w.float()
    got = exponential_race(w32, 6, generator=torch.Generator().manual_seed(5), draw="exponential_")
    e = torch.empty(6, dtype=torch.float32).exponential_(generator=torch.Generator().manual_seed(5))
    assert _list(got) == _list(torch.argsort(torch.log(e) - torch.log(w32.reshape(-1))))
    rng_w = w.numpy()
    got = exponential_race(rng_w, 3, generator=np.random.default_rng(7))
    e = -np.log1p(-np.random.default_rng(7).random(6))
    assert _list(got) == np.argsort(np.log(e) - np.log(rng_w.ravel()))[:3].tolist()


@pytest.mark.parametrize("backend", [0, 1])
def test_race_infinite_weights_first_zero_weights_last(backend):
    w, _ = _both([0.0, 5.0, INF, 0.0, 1.0, INF])[backend]
    for seed in range(20):
        g = np.random.default_rng(seed) if backend == 0 else torch.Generator().manual_seed(seed)
        got = _list(exponential_race(w, 6, generator=g))
        assert set(got[:2]) == {2, 5} and set(got[2:4]) == {1, 4} and set(got[4:]) == {0, 3}


def test_race_draws_nothing_for_n_zero_and_one_value_per_eligible_entry_otherwise():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert _list(exponential_race(torch.ones(4, 5), 0, generator=g)) == []
    assert torch.equal(g.get_state(), state)
    eligible = torch.zeros(4, 5, dtype=torch.bool)
    eligible[1, 2] = eligible[3, 4] = True
    exponential_race(torch.ones(4, 5, dtype=torch.float64), 1, eligible, generator=g)
    ref = torch.Generator().manual_seed(0)
    torch.rand(2, generator=ref, dtype=torch.float64)  # two eligible entries: two uniforms
    assert torch.equal(g.get_state(), ref.get_state())


def test_race_and_sample_reject_bad_weights_and_arguments():
    for bad in ([1.0, NAN], [1.0, -0.5]):
        with pytest.raises(DstnetError, match="non-negative"):
            exponential_race(torch.tensor(bad), 1)
        with pytest.raises(DstnetError, match="non-negative"):
            sample(np.array(bad), 1, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="draw"):
        exponential_race(np.ones(3), 1, generator=np.random.default_rng(0), draw="exponential_")
    with pytest.raises(ValueError, match="draw"):
        exponential_race(torch.ones(3), 1, draw="gumbel")
    with pytest.raises(ValueError, match="eligible has shape"):
        top_k(torch.ones(2, 3), 1, torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="must be >= 0"):
        top_k(np.ones(3), -1)


def test_race_first_draw_is_proportional_to_w_to_the_power():
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    for power in (1.0, 2.0):
        first = [int(exponential_race(w, 1, generator=g, power=power, draw="exponential_")) for _ in range(6000)]
        freq = np.bincount(first, minlength=4) / len(first)
        p = (w**power / (w**power).sum()).numpy()
        assert np.abs(freq - p).max() < 0.025


# -------------------------------------------------------------------------------------------------------- sample
@pytest.mark.parametrize("backend", [0, 1])
def test_sample_fills_a_shortfall_from_the_eligible_zero_weights_only(backend):
    w, e = _both([[0.0, 3.0, 0.0], [1.0, 0.0, 0.0]], [[True, True, True], [True, True, False]])[backend]
    g = np.random.default_rng(1) if backend == 0 else torch.Generator().manual_seed(1)
    got = _list(sample(w, 10, e, generator=g))
    assert set(got[:2]) == {1, 3} and set(got[2:]) == {0, 2, 4} and len(got) == 5
    got = _list(sample(w, 10, w > 0, generator=g))  # zero weights not eligible: no shortfall
    assert sorted(got) == [1, 3]


@settings(max_examples=60, deadline=None)
@given(
    weights=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 6)),
        elements=st.sampled_from([0.0, 0.0, 1e-300, 0.5, 1.0, 7.0, 1e300, INF]),
    ),
    eligible_seed=st.integers(0, 2**16),
    n=st.integers(0, 40),
    seed=st.integers(0, 2**16),
    power=st.sampled_from([0.5, 1.0, 3.0]),
)
def test_sample_draws_distinct_eligible_entries_positive_ones_first(weights, eligible_seed, n, seed, power):
    eligible = np.random.default_rng(eligible_seed).random(weights.shape) < 0.7
    n_eligible, positive = int(eligible.sum()), eligible & (weights > 0)
    for w, e, g in (
        (weights, eligible, np.random.default_rng(seed)),
        (torch.from_numpy(weights), torch.from_numpy(eligible), torch.Generator().manual_seed(seed)),
    ):
        got = _list(sample(w, n, e, generator=g, power=power))
        assert len(got) == min(n, n_eligible) == len(set(got))
        assert all(eligible.ravel()[got])
        n_pos = min(n, int(positive.sum()))
        assert all(positive.ravel()[got[:n_pos]]) and not any(positive.ravel()[got[n_pos:]])


def test_sample_uniform_is_a_cut_random_permutation():
    eligible = torch.tensor([[True, False, True], [True, True, False]])
    got = sample_uniform(eligible, 10, generator=torch.Generator().manual_seed(2))
    pool = torch.tensor([0, 2, 3, 4])
    assert torch.equal(got, pool[torch.randperm(4, generator=torch.Generator().manual_seed(2))])
    got = sample_uniform(eligible.numpy(), 2, generator=np.random.default_rng(2))
    assert _list(got) == np.random.default_rng(2).choice(pool.numpy(), size=2, replace=False).tolist()
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert _list(sample_uniform(eligible, 0, generator=g)) == []
    assert _list(sample_uniform(torch.zeros(2, 2, dtype=torch.bool), 3, generator=g)) == []
    assert torch.equal(g.get_state(), state)


# ---------------------------------------------------------------------------------------------------- generators
def test_generators_from_seeds():
    g = torch.Generator().manual_seed(1)
    assert torch_generator(g, "cpu") is g
    a, b = torch_generator(5, "cpu"), torch_generator(5, "cpu")
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    rng = np.random.default_rng(0)
    assert numpy_generator(rng) is rng
    assert numpy_generator(4).random() == numpy_generator(4).random()
    assert (
        numpy_generator(torch.Generator().manual_seed(3)).random()
        == numpy_generator(torch.Generator().manual_seed(3)).random()
    )
    assert torch.equal(
        torch.rand(2, generator=torch_generator(np.random.default_rng(9), "cpu")),
        torch.rand(2, generator=torch_generator(np.random.default_rng(9), "cpu")),
    )
