"""Zeroing outside the links: exact, NaN-safe and bit-preserving on both paths (netsci_dst.dst.masking)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from netsci_dst.dst import masking
from netsci_dst.dst.masking import GATHER_MAX_DENSITY, keep_links_only, zero_outside_by_bits, zero_outside_by_gather

BITS = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


def index_of(mask: torch.Tensor) -> torch.Tensor:
    return mask.reshape(-1).nonzero().squeeze(1)


def hand_made(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.tensor([[math.nan, 1.5, math.inf], [-0.0, -math.inf, -2.25]], dtype=dtype)
    mask = torch.tensor([[False, True, False], [True, False, True]])
    return t, mask


@pytest.mark.parametrize("dtype", list(BITS))
@pytest.mark.parametrize("path", ["bits", "gather"])
def test_hand_made_case_is_zeroed_outside_and_bit_exact_on_links(dtype, path):
    t, mask = hand_made(dtype)
    if path == "bits":
        zero_outside_by_bits(t, mask)
    else:
        zero_outside_by_gather(t, index_of(mask))
    expected = torch.tensor([[0.0, 1.5, 0.0], [-0.0, 0.0, -2.25]], dtype=dtype)
    assert torch.equal(t.view(BITS[dtype]), expected.view(BITS[dtype]))  # -0.0 on a link keeps its sign bit
    assert not torch.signbit(t[~mask]).any()  # the zeros written are +0.0


def test_bits_path_works_on_a_transposed_view():
    base, mask = hand_made(torch.float32)
    t = base.t()  # not contiguous
    zero_outside_by_bits(t, mask.t())
    assert torch.equal(base, torch.tensor([[0.0, 1.5, 0.0], [-0.0, 0.0, -2.25]]))


def test_dispatch_follows_the_density(monkeypatch):
    calls = []
    monkeypatch.setattr(masking, "zero_outside_by_gather", lambda t, i: calls.append("gather"))
    monkeypatch.setattr(masking, "zero_outside_by_bits", lambda t, m: calls.append("bits"))
    t = torch.ones(10, 10)
    sparse, dense = torch.zeros(10, 10, dtype=torch.bool), torch.zeros(10, 10, dtype=torch.bool)
    sparse.view(-1)[: int(GATHER_MAX_DENSITY * 100)] = True  # exactly at the crossover: gather
    dense.view(-1)[: int(GATHER_MAX_DENSITY * 100) + 1] = True
    keep_links_only(t, sparse, index_of(sparse))
    keep_links_only(t, dense, index_of(dense))
    keep_links_only(t.t(), sparse.t(), index_of(sparse.t()))  # not contiguous: bits whatever the density
    assert calls == ["gather", "bits", "bits"]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    density=st.floats(0.0, 1.0),
    dtype=st.sampled_from(list(BITS)),
    transpose=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_keep_links_only_equals_where_bit_for_bit(rows, cols, density, dtype, transpose, seed):
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(rows, cols, generator=g).to(dtype)
    specials = torch.tensor([math.nan, math.inf, -math.inf, -0.0], dtype=dtype)
    pick = torch.randint(0, 8, (rows, cols), generator=g)
    values = torch.where(pick < 4, specials[pick.clamp(max=3)], values)  # half the entries NaN, +-inf or -0.0
    mask = torch.rand(rows, cols, generator=g) < density
    t = values.clone()
    if transpose:
        t, mask = t.t(), mask.t()
        values = values.t()
    keep_links_only(t, mask, index_of(mask))
    expected = torch.where(mask, values, torch.zeros((), dtype=dtype))
    assert torch.equal(t.view(BITS[dtype]), expected.view(BITS[dtype]))


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool, torch.complex64])
def test_bits_path_handles_other_dtypes(dtype):
    t = torch.tensor([[1, 2, 3], [4, 5, 6]]).to(dtype)
    mask = torch.tensor([[False, True, False], [True, False, True]])
    zero_outside_by_bits(t, mask)
    assert torch.equal(t, torch.tensor([[0, 2, 0], [4, 0, 6]]).to(dtype))
