"""Regrowth: exact selections on hand-made cases, sampling frequencies, shortfalls, determinism, invariants."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from netsci_dst.dst.regrowth import (
    regrow_ch_rigid,
    regrow_ch_soft,
    regrow_gradient,
    regrow_random,
    select_regrowth,
)
from netsci_dst.errors import DstnetError


def t(rows):
    return torch.tensor(rows, dtype=torch.bool)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def cells(mask):
    return {tuple(x) for x in mask.nonzero().tolist()}


MASK = t([[1, 0, 0], [0, 1, 0], [0, 0, 0]])  # 7 missing links


# ---------------------------------------------------------------------------------------------------------------
# gradient (RigL)
# ---------------------------------------------------------------------------------------------------------------


def test_gradient_exact():
    grad = torch.tensor([[99.0, 0.1, -0.5], [0.2, -99.0, 0.3], [-0.4, 0.05, 0.0]])  # existing links: +-99, ignored
    grown = regrow_gradient(MASK, grad, 3)
    assert cells(grown) == {(0, 2), (2, 0), (1, 2)}  # |-0.5|, |-0.4|, |0.3|
    assert torch.equal(regrow_gradient(MASK, grad, 1), t([[0, 0, 1], [0, 0, 0], [0, 0, 0]]))


def test_gradient_ties_lower_flat_index_first():
    grad = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0], [2.0, 1.0, 1.0]])
    assert cells(regrow_gradient(MASK, grad, 2)) == {(0, 2), (1, 0)}  # three at 2.0: the first two in row order
    assert cells(regrow_gradient(MASK, grad, 4)) == {(0, 2), (1, 0), (2, 0), (0, 1)}  # then the first 1.0
    nan = torch.tensor([[0.0, math.nan, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert cells(regrow_gradient(MASK, nan, 2)) == {(0, 2), (1, 0)}  # NaN ranks last


# ---------------------------------------------------------------------------------------------------------------
# ch_rigid (CHT)
# ---------------------------------------------------------------------------------------------------------------


def test_ch_rigid_exact_top_k_and_ties():
    scores = torch.tensor([[50.0, 0.0, 3.0], [1.0, 50.0, 2.0], [0.0, 3.0, 0.5]])  # existing links: 50, ignored
    assert cells(regrow_ch_rigid(MASK, scores, 2, gen())) == {(0, 2), (2, 1)}
    assert cells(regrow_ch_rigid(MASK, scores, 1, gen())) == {(0, 2)}  # tie at 3.0: lower flat index
    assert cells(regrow_ch_rigid(MASK, scores, 4, gen())) == {(0, 2), (2, 1), (1, 2), (1, 0)}


def test_ch_rigid_shortfall_takes_every_positive_then_random():
    scores = torch.tensor([[9.0, 0.0, 2.0], [0.0, 9.0, 0.0], [1.0, 0.0, -1.0]])  # 2 positive missing links
    others = {(0, 1), (1, 0), (1, 2), (2, 1), (2, 2)}
    seen = set()
    for seed in range(60):
        grown = cells(regrow_ch_rigid(MASK, scores, 4, gen(seed)))
        assert len(grown) == 4
        assert {(0, 2), (2, 0)} <= grown
        assert grown - {(0, 2), (2, 0)} <= others
        seen |= grown
    assert seen == others | {(0, 2), (2, 0)}  # the fill reaches every other missing link (score 0 or negative)
    # every missing link requested: all of them, whatever the scores
    assert torch.equal(regrow_ch_rigid(MASK, scores, 7, gen()), ~MASK)


# ---------------------------------------------------------------------------------------------------------------
# ch_soft (CHTs)
# ---------------------------------------------------------------------------------------------------------------


def test_ch_soft_frequencies_proportional_to_scores():
    mask = t([[1, 0], [0, 0]])
    scores = torch.tensor([[100.0, 1.0], [2.0, 3.0]])  # the existing link's score is ignored
    g = gen(1)
    n = 4000
    counts = torch.zeros(2, 2)
    for _ in range(n):
        grown = regrow_ch_soft(mask, scores, 1, g)
        assert int(grown.sum()) == 1 and not (grown & mask).any()
        counts += grown
    for cell, p in (((0, 1), 1 / 6), ((1, 0), 2 / 6), ((1, 1), 3 / 6)):
        assert abs(counts[cell] / n - p) < 5 * math.sqrt(p * (1 - p) / n), (cell, counts)


def test_ch_soft_temperature():
    mask = t([[1, 0, 0]])
    scores = torch.tensor([[5.0, 1.0, 2.0]])
    g = gen(2)
    n = 3000
    hits = sum(int(regrow_ch_soft(mask, scores, 1, g, temperature=2.0)[0, 2]) for _ in range(n))
    p = 4 / 5  # 2**2 / (1**2 + 2**2)
    assert abs(hits / n - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_ch_soft_never_draws_zero_scores_without_shortfall():
    scores = torch.tensor([[0.0, 0.0, 1.0], [5.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    for seed in range(50):
        assert cells(regrow_ch_soft(MASK, scores, 3, gen(seed))) == {(0, 2), (1, 0), (2, 1)}


def test_ch_soft_shortfall_adds_epsilon_to_every_candidate():
    scores = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # one positive candidate
    seen = set()
    for seed in range(80):
        grown = cells(regrow_ch_soft(MASK, scores, 3, gen(seed)))
        assert len(grown) == 3 and (0, 2) in grown  # weight 1 + 1e-5 against 1e-5: always first
        assert not grown & cells(MASK)
        seen |= grown
    assert seen == cells(~MASK)  # the other six are reachable through the 1e-5
    # the 1e-5 is added to the positive candidates too: a score of 1e-9 competes on equal terms with the zeros
    # (a "positives first, then the rest" rule would always take it)
    tiny = torch.tensor([[0.0, 0.0, 1e-9], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    taken = sum((0, 2) in cells(regrow_ch_soft(MASK, tiny, 3, gen(seed))) for seed in range(80))
    assert 15 < taken < 55  # about 3/7 of 80
    # all-zero scores: uniform among the candidates
    zeros = torch.zeros(3, 3)
    counts = torch.zeros(3, 3)
    g = gen(3)
    for _ in range(2100):
        counts += regrow_ch_soft(MASK, zeros, 1, g)
    assert counts[MASK].sum() == 0
    p = 1 / 7
    assert (counts[~MASK] / 2100 - p).abs().max() < 5 * math.sqrt(p * (1 - p) / 2100)


# ---------------------------------------------------------------------------------------------------------------
# random (SET)
# ---------------------------------------------------------------------------------------------------------------


def test_random_uniform():
    mask = t([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]])  # 10 missing
    g = gen(4)
    n = 3000
    counts = torch.zeros(4, 4)
    for _ in range(n):
        grown = regrow_random(mask, 3, g)
        assert int(grown.sum()) == 3
        counts += grown
    assert counts[mask].sum() == 0
    p = 3 / 10
    assert (counts[~mask] / n - p).abs().max() < 5 * math.sqrt(p * (1 - p) / n)


# ---------------------------------------------------------------------------------------------------------------
# Determinism, counts, errors
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["random", "rigid_shortfall", "soft"])
def test_same_generator_state_same_result(method):
    mask = torch.from_numpy(np.random.default_rng(0).random((20, 30)) < 0.2)
    keep = torch.from_numpy(np.random.default_rng(2).random((20, 30)) < 0.05)  # seeded: the test must not be flaky
    scores = torch.from_numpy(np.random.default_rng(1).random((20, 30))) * keep

    def run(g):
        if method == "random":
            return regrow_random(mask, 25, g)
        if method == "rigid_shortfall":
            return regrow_ch_rigid(mask, scores, 60, g)
        return regrow_ch_soft(mask, scores, 25, g)

    a, b = run(gen(7)), run(gen(7))
    assert torch.equal(a, b)
    assert any(not torch.equal(a, run(gen(s))) for s in range(8, 12))


def test_counts_and_errors():
    grad = torch.ones(3, 3)
    for fn in (
        lambda k: regrow_random(MASK, k, gen()),
        lambda k: regrow_gradient(MASK, grad, k),
        lambda k: regrow_ch_rigid(MASK, grad, k, gen()),
        lambda k: regrow_ch_soft(MASK, grad, k, gen()),
    ):
        zero = fn(0)
        assert zero.dtype == torch.bool and zero.shape == MASK.shape and not zero.any()
        assert torch.equal(fn(7), ~MASK)
        with pytest.raises(ValueError):
            fn(8)
        with pytest.raises(ValueError):
            fn(-1)
    with pytest.raises(ValueError):
        regrow_gradient(MASK, torch.ones(2, 3), 1)
    with pytest.raises(ValueError):
        regrow_random(MASK.int(), 1, gen())
    with pytest.raises(ValueError):
        regrow_ch_soft(MASK, grad, 1, gen(), temperature=-1.0)
    with pytest.raises(DstnetError):
        select_regrowth(MASK, 1, "magic", generator=gen())
    with pytest.raises(ValueError):
        select_regrowth(MASK, 1, "gradient")
    with pytest.raises(ValueError):
        select_regrowth(MASK, 8, "ch_rigid", generator=gen())


def test_inputs_not_modified():
    mask, grad = MASK.clone(), torch.randn(3, 3)
    g0 = grad.clone()
    regrow_gradient(mask, grad, 3)
    regrow_ch_soft(mask, grad.abs(), 3, gen())
    regrow_ch_rigid(mask, grad, 3, gen())
    assert torch.equal(mask, MASK) and torch.equal(grad, g0)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["random", "gradient", "ch_rigid", "ch_soft"]),
    st.floats(0.0, 1.0),
)
def test_grown_links_are_new_and_exact_in_number(n_out, n_in, density, seed, method, frac):
    rng = np.random.default_rng(seed)
    mask = torch.from_numpy(rng.random((n_out, n_in)) < density)
    n_missing = int((~mask).sum())
    n_grow = int(frac * n_missing)
    g = torch.Generator().manual_seed(seed)
    grad = torch.from_numpy(rng.standard_normal((n_out, n_in)))
    grown = select_regrowth(mask, n_grow, method, grad=grad, generator=g)
    assert grown.dtype == torch.bool and grown.shape == mask.shape
    assert not (grown & mask).any()
    assert int(grown.sum()) == n_grow


# ---------------------------------------------------------------------------------------------------------------
# CH scores from netsci_dst.linkpred on a tiny graph computed by hand
# ---------------------------------------------------------------------------------------------------------------

# inputs i0..i3, outputs o0..o2; links i0-o0, i1-o0, i1-o1, i2-o1, i3-o1, i2-o2
PATHS = t([[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 1, 0]])
# CH3-L3 by hand: (o1, i0) has the single L3 path i0-o0-i1-o1 with de = 0 at both ends -> 1; the four links
# (o0, i2), (o0, i3), (o2, i1), (o2, i3) each have one path through o1 (degree 3, de = 1) and a degree-2 input
# (de = 0) -> 1 / sqrt(2); (o2, i0) has no L3 path -> 0.
R = 1 / math.sqrt(2)
PATHS_CH3 = [[0, 0, R, R], [1, 0, 0, 0], [0, R, 0, R]]


def test_ch_rigid_through_linkpred():
    from netsci_dst.linkpred import score

    assert torch.allclose(score(PATHS, "CH3-L3").double(), torch.tensor(PATHS_CH3, dtype=torch.float64))
    grown = select_regrowth(PATHS, 2, "ch_rigid", generator=gen())  # the top one, then the tie of lowest index
    assert cells(grown) == {(1, 0), (0, 2)}
    assert cells(select_regrowth(PATHS, 5, "ch_rigid", generator=gen())) == {(1, 0), (0, 2), (0, 3), (2, 1), (2, 3)}
    assert torch.equal(select_regrowth(PATHS, 6, "ch_rigid", generator=gen()), ~PATHS)  # + the shortfall (o2, i0)
    # node-based CH3-L3n: (o1, i0) scores 1 + 1, the others 1/2 + 1: same ranking
    grown = select_regrowth(PATHS, 2, "ch_rigid", linkpred_method="CH3-L3n", generator=gen())
    assert cells(grown) == {(1, 0), (0, 2)}


def test_ch_soft_through_linkpred():
    for seed in range(20):
        grown = select_regrowth(PATHS, 5, "ch_soft", generator=gen(seed))  # never the zero-score link
        assert cells(grown) == {(1, 0), (0, 2), (0, 3), (2, 1), (2, 3)}
    from netsci_dst.linkpred import score

    scores = score(PATHS, "CH3-L3")  # once: the frequency check needs thousands of draws
    counts = torch.zeros(3, 4)
    g = gen(5)
    n = 3000
    for _ in range(n):
        counts += regrow_ch_soft(PATHS, scores, 1, g)
    p = 1 / (1 + 4 * R)  # the score-1 link against four of 1 / sqrt(2)
    assert abs(counts[1, 0] / n - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert counts[2, 0] == 0 and counts[PATHS].sum() == 0
