"""Choosing entries of a score array: the top ``k``, and weighted sampling without replacement.

The one implementation behind link removal (:mod:`netsci_dst.dst.removal`), regrowth
(:mod:`netsci_dst.dst.regrowth`) and link-prediction sampling (:mod:`netsci_dst.linkpred.sampling`).

Every selector takes an array of any shape -- a torch tensor on any device, or a numpy array -- and an optional bool
array ``eligible`` of the same shape (``None``: every entry may be chosen), and returns the *flat* (row-major)
int64 indices of the chosen entries, best (or first drawn) first, as the same kind of array (torch: on the
values' device). When fewer entries are eligible than asked for, all of them come back (so fewer).

- :func:`top_k`: the ``k`` largest (or smallest) values, deterministic.
- :func:`exponential_race`: ``n`` entries drawn without replacement with probability proportional to ``w ** power``
  (successive sampling), in one vectorised pass [ES06].
- :func:`sample`: the same race among the entries with a positive weight only; zero-weight entries fill a
  shortfall uniformly at random (:func:`sample_uniform`).
- :func:`torch_generator`, :func:`numpy_generator`: a seed (``None``, an int, a numpy or a torch generator) as the
  generator to draw from.

Ties are broken by flat index, lower first, so a result depends only on the values (and the generator's state),
never on the sorting algorithm or the device. Randomness comes only from ``generator``: a ``torch.Generator`` on
the weights' device (``None``: torch's default generator) for torch arrays, a ``numpy.random.Generator`` for numpy
arrays; the same generator state gives the same result.

[ES06] P. S. Efraimidis and P. G. Spirakis, "Weighted random sampling with a reservoir", Information Processing
Letters 97(5), 181-185 (2006).
"""

from __future__ import annotations

import math
import operator
from typing import Literal, TypeVar

import numpy as np
import torch

from netsci_dst.errors import DstnetError

__all__ = [
    "exponential_race",
    "numpy_generator",
    "sample",
    "sample_uniform",
    "top_k",
    "torch_generator",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)
Seed = int | np.random.Generator | torch.Generator | None
Draw = Literal["inversion", "exponential_"]


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def _count(n: int, what: str) -> int:
    """``n`` as an int (``TypeError`` when it is not one), ``ValueError`` when negative."""
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"{what} must be >= 0, got {n}")
    return n


def _candidates(values: Array, eligible: Array | None) -> Array:
    """Ascending flat indices of the eligible entries of ``values`` (all of them when ``eligible`` is None)."""
    if eligible is not None and tuple(eligible.shape) != tuple(values.shape):
        raise ValueError(f"eligible has shape {tuple(eligible.shape)}, the values {tuple(values.shape)}")
    if isinstance(values, torch.Tensor):
        if eligible is None:
            return torch.arange(values.numel(), device=values.device)
        return torch.nonzero(eligible.reshape(-1)).squeeze(1)
    if eligible is None:
        return np.arange(values.size, dtype=np.int64)
    return np.flatnonzero(eligible).astype(np.int64, copy=False)


def _smallest(key: Array, k: int) -> Array:
    """Positions of the ``k`` smallest entries of the 1-D, NaN-free ``key``, smallest first, ties by position.

    One selection (``torch.topk`` / ``numpy.partition``) finds the ``k``-th smallest value ``t``; the entries below
    ``t`` and the first ones equal to it make up the ``k``, and only those are sorted.
    """
    if isinstance(key, torch.Tensor):
        n = key.numel()
        k = min(k, n)
        if k == 0:
            return torch.empty(0, dtype=torch.int64, device=key.device)
        if k < n:
            t = torch.topk(key, k, largest=False, sorted=False).values.max()
            below = torch.nonzero(key < t).squeeze(1)
            ties = torch.nonzero(key == t).squeeze(1)[: k - below.numel()]
            sel = torch.sort(torch.cat([below, ties])).values
        else:
            sel = torch.arange(n, device=key.device)
        return sel[torch.sort(key[sel], stable=True).indices]
    n = key.size
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        t = np.partition(key, k - 1)[k - 1]
        below = np.flatnonzero(key < t)
        ties = np.flatnonzero(key == t)[: k - len(below)]
        sel = np.sort(np.concatenate([below, ties]))
    else:
        sel = np.arange(n)
    return sel[np.argsort(key[sel], kind="stable")].astype(np.int64, copy=False)


def _check_weights(weights: Array) -> None:
    if isinstance(weights, torch.Tensor):
        bad = bool(torch.isnan(weights).any()) or bool((weights < 0).any())
    else:
        bad = bool(np.isnan(weights).any()) or bool((weights < 0).any())
    if bad:
        raise DstnetError("weights must be non-negative and not NaN to sample proportionally")


def _race(
    weights: Array,
    n: int,
    eligible: Array | None,
    generator: torch.Generator | np.random.Generator | None,
    power: float,
    draw: Draw,
) -> Array:
    """:func:`exponential_race` without the argument checks."""
    cand = _candidates(weights, eligible)
    m = cand.shape[0]
    if min(n, m) == 0:
        return cand[:0]
    if isinstance(weights, torch.Tensor):
        w = weights.detach().reshape(-1)[cand]
        if draw == "exponential_":
            e = torch.empty(m, dtype=w.dtype, device=w.device).exponential_(generator=generator)
        else:
            e = -torch.log1p(-torch.rand(m, generator=generator, device=w.device, dtype=w.dtype))
        log_e, log_w = torch.log(e), power * torch.log(w)
        key = torch.where(torch.isfinite(log_w), log_e - log_w, log_e)
        first, last = torch.isposinf(log_w), torch.isneginf(log_w)
        tiers = (first, ~(first | last), last)
    else:
        w = np.asarray(weights).reshape(-1)[cand]
        e = -np.log1p(-generator.random(m))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_e, log_w = np.log(e), power * np.log(w)
        key = np.where(np.isfinite(log_w), log_e - log_w, log_e)
        first, last = np.isposinf(log_w), np.isneginf(log_w)
        tiers = (first, ~(first | last), last)
    won = []
    for tier in tiers:  # w ** power = +inf first, then the race, then w ** power = 0
        won.append(top_k(key, n, tier, largest=False))
        n -= won[-1].shape[0]
    return cand[torch.cat(won) if isinstance(key, torch.Tensor) else np.concatenate(won)]


# ---------------------------------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------------------------------


def top_k(values: Array, k: int, eligible: Array | None = None, *, largest: bool = True) -> Array:
    """The ``k`` eligible entries with the largest (``largest=False``: the smallest) values, best first.

    Ranking is total and deterministic: NaN counts as ``-inf`` (last when ``largest``, first otherwise), ``-0.0``
    equals ``0.0``, and ties are broken by flat index, lower first. The result is the first ``k`` entries of a stable
    sort of the eligible values, computed as one selection (``torch.topk`` / ``numpy.partition``) for the ``k``-th
    value and a sort of the ``k`` winners only.

    Args:
        values: float array of any shape (torch on any device, or numpy).
        k: how many entries (all eligible ones when fewer).
        eligible: bool array of the same shape; ``None``: every entry.
        largest: ``True`` for the largest values, ``False`` for the smallest.

    Returns:
        flat indices (int64, the values' kind and device), best first.
    """
    k = _count(k, "k")
    cand = _candidates(values, eligible)
    if isinstance(values, torch.Tensor):
        v = torch.nan_to_num(values.detach().reshape(-1)[cand], nan=-math.inf, posinf=math.inf, neginf=-math.inf)
    else:
        v = np.asarray(values).reshape(-1)[cand]
        v = np.where(np.isnan(v), -np.inf, v)
    v = v + 0.0  # -0.0 -> 0.0
    return cand[_smallest(-v if largest else v, k)]


def exponential_race(
    weights: Array,
    n: int,
    eligible: Array | None = None,
    *,
    generator: torch.Generator | np.random.Generator | None = None,
    power: float = 1.0,
    draw: Draw = "inversion",
) -> Array:
    """``n`` eligible entries drawn without replacement with probability proportional to ``w ** power``.

    Successive sampling -- draw one entry with probability ``w_i ** power / sum_j w_j ** power`` over the entries not
    yet drawn, repeat -- done in one pass by the exponential race of Efraimidis & Spirakis [ES06]: every eligible
    entry gets the key ``E_i / w_i ** power`` with ``E_i ~ Exp(1)`` i.i.d., and the ``n`` smallest keys win, in
    increasing order. The first winner is ``i`` with probability ``w_i ** power / sum_j w_j ** power`` and, given
    that, the rest is a race among the others: the order of the keys has exactly the distribution of the successive
    draws. Keys are compared as ``log E_i - power log w_i``, which cannot overflow or underflow. Ties by flat index.

    Limits: entries with ``w ** power = +inf`` win before all others and entries with ``w ** power = 0`` after all
    others, each group in a uniformly random order (by its own ``E_i``); ``w ** power`` undefined (``0 ** 0``,
    ``inf ** 0``) counts as 1.

    Every eligible entry gets one draw, in flat order, when ``n > 0`` and none when ``n = 0``; the draws are made in
    the weights' dtype. ``draw`` says how the ``Exp(1)`` variates come from the generator: ``"inversion"``,
    ``-log(1 - U)`` from its uniforms (``torch.rand``, ``numpy.random.Generator.random``), or ``"exponential_"``,
    torch's ``Tensor.exponential_`` (torch only). Both are exact; from the same seed they give different streams,
    and each caller keeps the one its seeded runs were made with (link removal draws ``"exponential_"``).

    Args:
        weights: float array of any shape, ``>= 0`` (``+inf`` allowed), no NaN anywhere.
        n: how many entries to draw (all eligible ones when fewer).
        eligible: bool array of the same shape; ``None``: every entry.
        generator: see the module docstring.
        power: the exponent applied to the weights (a temperature).
        draw: ``"inversion"`` or ``"exponential_"``.

    Returns:
        flat indices (int64, the weights' kind and device), in the order drawn.
    """
    if draw not in ("inversion", "exponential_") or (draw == "exponential_" and not isinstance(weights, torch.Tensor)):
        raise ValueError(f"draw must be 'inversion' or, for torch weights, 'exponential_'; got {draw!r}")
    _check_weights(weights)
    return _race(weights, _count(n, "n"), eligible, generator, power, draw)


def sample(
    weights: Array,
    n: int,
    eligible: Array | None = None,
    *,
    generator: torch.Generator | np.random.Generator | None = None,
    power: float = 1.0,
) -> Array:
    """``n`` eligible entries drawn without replacement with probability proportional to ``w ** power``.

    The eligible entries with a positive weight run the exponential race of :func:`exponential_race` (``E_i / w_i **
    power``, the smallest keys win [ES06]); the eligible zero-weight entries get no draw and are used only when the
    positive ones run out, then uniformly at random among themselves (:func:`sample_uniform`) -- the limit of adding
    a vanishing constant to every weight. Drawing only for the positive entries is what makes sampling from sparse
    scores (most entries 0) cheap.

    Arguments and result as for :func:`exponential_race`; the race draws by ``"inversion"``.
    """
    _check_weights(weights)
    n = _count(n, "n")
    positive = weights > 0 if eligible is None else eligible & (weights > 0)
    won = _race(weights, n, positive, generator, power, "inversion")
    rest = sample_uniform(
        ~positive if eligible is None else eligible & ~positive, n - won.shape[0], generator=generator
    )
    return torch.cat([won, rest]) if isinstance(won, torch.Tensor) else np.concatenate([won, rest])


def sample_uniform(eligible: Array, n: int, *, generator: torch.Generator | np.random.Generator | None = None) -> Array:
    """``n`` of the ``True`` entries of ``eligible`` drawn uniformly without replacement, in the order drawn.

    One random permutation of the eligible entries (``torch.randperm``, ``numpy.random.Generator.choice`` without
    replacement), cut after ``n``; nothing is drawn when ``n = 0`` or no entry is eligible.

    Returns:
        flat indices (int64, the array's kind and device).
    """
    n = _count(n, "n")
    pool = _candidates(eligible, eligible)
    m = min(n, pool.shape[0])
    if m == 0:
        return pool[:0]
    if isinstance(pool, torch.Tensor):
        return pool[torch.randperm(pool.numel(), generator=generator, device=pool.device)[:m]]
    return generator.choice(pool, size=m, replace=False)


# ---------------------------------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------------------------------


def numpy_generator(seed: Seed) -> np.random.Generator:
    """A numpy generator from ``seed``: a ``numpy.random.Generator`` as is, a ``torch.Generator`` through one draw
    of a 62-bit seed from it, an int as the seed, ``None`` from fresh entropy."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, torch.Generator):
        drawn = torch.randint(2**62, (1,), generator=seed, device=seed.device)
        return np.random.default_rng(int(drawn.item()))
    return np.random.default_rng(seed)


def torch_generator(seed: Seed, device: torch.device | str) -> torch.Generator:
    """A torch generator on ``device`` from ``seed``: a ``torch.Generator`` as is, a ``numpy.random.Generator``
    through one draw of a 62-bit seed from it, an int as the seed, ``None`` from fresh entropy."""
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator(device=device)
    if isinstance(seed, np.random.Generator):
        g.manual_seed(int(seed.integers(2**62)))
    elif seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g
