"""Choosing links from a score matrix: the top-k (rigid regrowth, CHT) or a proportional sample (soft, CHTs).

Both functions take a 2-D score array (numpy or torch, any device) laid out like the layer mask, and return the
chosen links as ``(rows, cols)`` index arrays of the same kind (numpy int64, or torch int64 on the scores'
device).

Candidates. With ``mask`` (the layer's existing links) the candidates are all missing links, zero scores
included. Without it, existing links cannot be told apart from missing links that score 0, so the candidates are
the entries with a positive score only. Either way at most ``k`` links come back -- fewer when the candidates run
out; filling a shortfall (for example uniformly at random) is the caller's decision.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from netsci_dst import selection
from netsci_dst.errors import DstnetError

__all__ = ["top_k", "sample_proportional"]

ArrayLike = Any  # numpy.ndarray | torch.Tensor


def _check(scores: ArrayLike, k: int, mask: ArrayLike | None) -> None:
    if scores.ndim != 2:
        raise DstnetError(f"scores must be 2-D (n_out, n_in), got shape {tuple(scores.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(scores.shape):
        raise DstnetError(f"mask shape {tuple(mask.shape)} differs from scores shape {tuple(scores.shape)}")
    if int(k) != k or k < 0:
        raise DstnetError(f"k must be a non-negative integer, got {k!r}")


def _unravel(flat: ArrayLike, n_cols: int) -> tuple[ArrayLike, ArrayLike]:
    return flat // n_cols, flat % n_cols


def top_k(scores: ArrayLike, k: int, mask: ArrayLike | None = None) -> tuple[ArrayLike, ArrayLike]:
    """The ``k`` candidate links with the largest scores, best first (:func:`netsci_dst.selection.top_k`).

    Ties are broken deterministically by position: the smaller flat (row-major) index wins, so the result depends
    only on the scores, never on the sorting algorithm or the device. NaN scores rank below everything finite: on
    numpy NaN ties with ``-inf``; on torch ``+inf`` and ``-inf`` count as the largest and the smallest finite
    float64 and NaN ranks below them (the two backends have always differed there).

    Args:
        scores: ``(n_out, n_in)`` float scores (numpy or torch).
        k: how many links to return (at most the number of candidates).
        mask: the existing links (bool, same shape); they are never returned. Without it only positive scores are
            candidates (see the module docstring).

    Returns:
        ``(rows, cols)`` of the chosen links, sorted by decreasing score.
    """
    _check(scores, k, mask)
    if isinstance(scores, torch.Tensor):
        values = torch.nan_to_num(scores.detach().to(torch.float64), nan=-math.inf)
        eligible = values > 0 if mask is None else ~torch.as_tensor(mask, device=scores.device).bool()
    else:
        values = np.asarray(scores, dtype=np.float64)
        eligible = values > 0 if mask is None else ~np.asarray(mask, dtype=bool)
    return _unravel(selection.top_k(values, int(k), eligible), scores.shape[1])


def sample_proportional(
    scores: ArrayLike,
    k: int,
    mask: ArrayLike | None = None,
    *,
    generator: Any = None,
    power: float = 1.0,
) -> tuple[ArrayLike, ArrayLike]:
    """Draw ``k`` distinct candidate links with probability proportional to ``score ** power``, without replacement.

    This is successive sampling (draw one link from the multinomial over the remaining candidates, remove it,
    repeat), done in one vectorised pass by the exponential race of Efraimidis & Spirakis (2006,
    :func:`netsci_dst.selection.sample`): each candidate gets the key ``E_i / s_i ** power`` with ``E_i ~ Exp(1)``
    independent, and the ``k`` smallest keys win, in order. The first winner is candidate ``i`` with probability
    ``s_i ** power / sum(s ** power)``, and given that, the rest is a race among the others -- exactly successive
    sampling. Keys are compared as ``log E_i - power * log s_i`` so tiny scores do not underflow; ``+inf`` scores
    win first, in a uniformly random order.

    Zero-score candidates (only present when ``mask`` is given) have an infinite key: they are used only when
    the positive candidates run out, and then uniformly at random among themselves -- the limit of adding a
    vanishing constant to every score.

    Args:
        scores: ``(n_out, n_in)`` non-negative scores (numpy or torch, any device).
        k: how many links to draw (at most the number of candidates).
        mask: the existing links (bool, same shape), never drawn. Without it only positive scores are candidates.
        generator: ``None`` (fresh entropy), an int seed, a ``numpy.random.Generator`` or a ``torch.Generator``
            (for torch scores it must live on the scores' device).
        power: exponent applied to the scores (a temperature; 1 samples proportionally to the raw scores).

    Returns:
        ``(rows, cols)`` of the drawn links, in the order they were drawn.
    """
    _check(scores, k, mask)
    if isinstance(scores, torch.Tensor):
        weights = scores.detach().to(torch.float64)
        eligible = weights > 0 if mask is None else ~torch.as_tensor(mask, device=scores.device).bool()
        rng = selection.torch_generator(generator, scores.device)
    else:
        weights = np.asarray(scores, dtype=np.float64)
        eligible = weights > 0 if mask is None else ~np.asarray(mask, dtype=bool)
        rng = selection.numpy_generator(generator)
    flat = selection.sample(weights, int(k), eligible, generator=rng, power=power)
    return _unravel(flat, scores.shape[1])
