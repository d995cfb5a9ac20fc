"""Regrowth: which missing links a layer gains back after removal and percolation.

Four rules, each returning the bool mask of the new links (missing links of ``mask`` only, exactly ``n_grow`` of
them):

- ``random`` [SET] Mocanu et al. 2018: uniform among missing links.
- ``gradient`` [RigL] Evci et al. 2020: the largest ``|dL/dW|`` among missing links.
- ``ch_rigid`` [CHT] Zhang et al., ICLR 2024 (eq. 2, Alg. 1): the top ``n_grow`` Cannistraci-Hebb scores (CH3-L3
  by default); when fewer than ``n_grow`` missing links have a positive score, all of those are taken and the
  shortfall is drawn uniformly at random among the other missing links.
- ``ch_soft`` [CHTs] Zhang et al. 2024, [CHTss] arXiv 2501.19107: ``n_grow`` missing links drawn without
  replacement with probability proportional to ``score ** temperature`` (the released code: temperature 1);
  when fewer than ``n_grow`` candidates have a positive weight, ``1e-5`` is added to every candidate's weight.

The candidates are *all* missing links of the mask passed in, including links removed in the same update: a rule
may grow back what was just removed, which is what the overlap rate of the topological early stop measures.

Conventions (see ``docs/dst-engine.md``): asking for more links than are missing raises ``ValueError``, asking for
0 returns an all-False mask; randomness comes only from the ``generator`` argument (same state, same result);
ties are broken by flat (row-major) index, lower first; inputs are never modified.

Selection is :mod:`netsci_dst.selection`'s: :func:`~netsci_dst.selection.top_k` (deterministic ties),
:func:`~netsci_dst.selection.sample` (sampling without replacement by the exponential race of Efraimidis &
Spirakis 2006: keys ``E_c / w_c`` with ``E_c ~ Exp(1)``, the smallest win; exactly successive sampling proportional
to the weights, the first pick has probability ``w_c / sum w``; O(number of links) on any device, with no category
limit, unlike ``torch.multinomial``) and :func:`~netsci_dst.selection.sample_uniform` (a random permutation).
"""

from __future__ import annotations

import math
import numbers

import torch

from netsci_dst.dst.rules import REGROWTH_RULES, regrowth_rule
from netsci_dst.errors import DstnetError
from netsci_dst.linkpred import score
from netsci_dst.selection import sample, sample_uniform, top_k, torch_generator

__all__ = [
    "REGROWTH_METHODS",
    "SOFT_SHORTFALL_EPS",
    "regrow_ch_rigid",
    "regrow_ch_soft",
    "regrow_gradient",
    "regrow_random",
    "select_regrowth",
]


#: Added to every candidate's weight by ``ch_soft`` when fewer than ``n_grow`` candidates are positive [CHTs].
SOFT_SHORTFALL_EPS = 1e-5


def _check(mask: torch.Tensor, n_grow: int) -> int:
    """Validate ``mask`` and ``n_grow``; the number of missing links."""
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError("mask must be a 2-D bool tensor")
    if isinstance(n_grow, bool) or not isinstance(n_grow, numbers.Integral):
        raise ValueError(f"n_grow must be an int, got {n_grow!r}")
    if n_grow < 0:
        raise ValueError(f"n_grow must be >= 0, got {n_grow}")
    n_missing = mask.numel() - int(mask.sum())
    if n_grow > n_missing:
        raise ValueError(f"cannot grow {n_grow} links: only {n_missing} are missing")
    return n_missing


def _float(values: torch.Tensor, mask: torch.Tensor, what: str) -> torch.Tensor:
    """``values`` as a detached float64 tensor on the mask's device, shape-checked."""
    values = torch.as_tensor(values, device=mask.device).detach()
    if values.shape != mask.shape:
        raise ValueError(f"{what} has shape {tuple(values.shape)}, the mask {tuple(mask.shape)}")
    return values.to(torch.float64)


def _from_flat(flat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The bool mask, laid out like ``mask``, of the flat (row-major) indices ``flat``."""
    out = torch.zeros_like(mask)
    out[flat // mask.shape[1], flat % mask.shape[1]] = True
    return out


def _uniform(exclude: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` links drawn uniformly without replacement among the cells where ``exclude`` is False."""
    return _from_flat(sample_uniform(~exclude, n, generator=torch_generator(generator, exclude.device)), exclude)


def regrow_random(mask: torch.Tensor, n_grow: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n_grow`` missing links drawn uniformly without replacement [SET].

    Args:
        mask: current bool mask ``(n_out, n_in)``.
        n_grow: how many links to grow (at most the number of missing links).
        generator: the source of randomness (on ``mask.device``).

    Returns:
        bool mask of the new links.
    """
    _check(mask, n_grow)
    if n_grow == 0:
        return torch.zeros_like(mask)
    return _uniform(mask, n_grow, generator)


def regrow_gradient(mask: torch.Tensor, grad: torch.Tensor, n_grow: int) -> torch.Tensor:
    """The ``n_grow`` missing links with the largest ``|grad|`` [RigL]; ties by flat index, lower first.

    Args:
        mask: current bool mask ``(n_out, n_in)``.
        grad: the dense gradient ``dL/dW``, same shape (NaN ranks below everything).
        n_grow: how many links to grow.

    Returns:
        bool mask of the new links.
    """
    _check(mask, n_grow)
    g = _float(grad, mask, "grad").abs()
    if n_grow == 0:
        return torch.zeros_like(mask)
    return _from_flat(top_k(g, n_grow, ~mask), mask)


def regrow_ch_rigid(
    mask: torch.Tensor, scores: torch.Tensor, n_grow: int, generator: torch.Generator | None
) -> torch.Tensor:
    """The ``n_grow`` missing links with the largest positive scores [CHT]; shortfall filled uniformly at random.

    When ``m < n_grow`` missing links have a score > 0, all ``m`` are taken and the other ``n_grow - m`` are drawn
    uniformly without replacement among the remaining missing links. Ties among the top scores are broken by flat
    index, lower first.

    Args:
        mask: current bool mask ``(n_out, n_in)``.
        scores: link-prediction scores, same shape (only the missing links' scores are read; NaN counts as 0).
        n_grow: how many links to grow.
        generator: used only for the shortfall.

    Returns:
        bool mask of the new links.
    """
    _check(mask, n_grow)
    s = _float(scores, mask, "scores")
    if n_grow == 0:
        return torch.zeros_like(mask)
    positive = (s > 0) & ~mask
    n_positive = int(positive.sum())
    if n_positive >= n_grow:
        return _from_flat(top_k(s, n_grow, ~mask), mask)
    return positive | _uniform(mask | positive, n_grow - n_positive, generator)


def regrow_ch_soft(
    mask: torch.Tensor,
    scores: torch.Tensor,
    n_grow: int,
    generator: torch.Generator | None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """``n_grow`` missing links drawn without replacement with probability proportional to ``score ** T`` [CHTs].

    Weights are ``score ** temperature`` on missing links with a positive score and 0 on the others (NaN and
    negative scores count as 0); when fewer than ``n_grow`` candidates have a positive weight, ``1e-5`` is added to
    every candidate's weight (the released code's rule), so the shortfall is drawn nearly uniformly among the
    others.

    Args:
        mask: current bool mask ``(n_out, n_in)``.
        scores: link-prediction scores, same shape (only the missing links' scores are read).
        n_grow: how many links to grow.
        generator: the source of randomness (on ``mask.device``).
        temperature: the exponent ``T >= 0`` (1 in the papers).

    Returns:
        bool mask of the new links.
    """
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be finite and >= 0, got {temperature!r}")
    _check(mask, n_grow)
    s = _float(scores, mask, "scores")
    if n_grow == 0:
        return torch.zeros_like(mask)
    positive = (s > 0) & ~mask  # NaN and negative scores, and existing links, weigh 0
    w = torch.where(positive, s, 0.0)
    if temperature != 1.0:
        w = torch.where(positive, w**temperature, 0.0)
    w = w.clamp_(max=torch.finfo(torch.float64).max)  # +inf scores: the largest finite weight
    if int((positive & (w > 0)).sum()) < n_grow:  # (w > 0: a tiny score ** T may underflow to 0)
        w = w + SOFT_SHORTFALL_EPS
    return _from_flat(sample(w, n_grow, ~mask, generator=torch_generator(generator, mask.device)), mask)


# ---------------------------------------------------------------------------------------------------------------
# The registered rules (netsci_dst.dst.rules): one function each
# ---------------------------------------------------------------------------------------------------------------


@regrowth_rule("random", summary="uniform among the missing links [SET]")
def _grow_random(mask: torch.Tensor, n_grow: int, *, grad, generator) -> torch.Tensor:
    return regrow_random(mask, n_grow, generator)


@regrowth_rule("gradient", needs_grad=True, summary="the largest |dL/dW| among the missing links [RigL]")
def _grow_gradient(mask: torch.Tensor, n_grow: int, *, grad, generator) -> torch.Tensor:
    return regrow_gradient(mask, grad, n_grow)


def _ch_scores(mask: torch.Tensor, n_grow: int, linkpred_method: str) -> torch.Tensor | None:
    _check(mask, n_grow)  # validate before paying for the scores
    if n_grow == 0:
        return None
    return torch.as_tensor(score(mask, linkpred_method), device=mask.device)


@regrowth_rule(
    "ch_rigid", params=("linkpred_method",), summary="the top Cannistraci-Hebb scores, shortfall at random [CHT]"
)
def _grow_ch_rigid(mask: torch.Tensor, n_grow: int, *, grad, generator, linkpred_method: str) -> torch.Tensor:
    scores = _ch_scores(mask, n_grow, linkpred_method)
    return torch.zeros_like(mask) if scores is None else regrow_ch_rigid(mask, scores, n_grow, generator)


@regrowth_rule(
    "ch_soft",
    params=("linkpred_method", "regrow_temperature"),
    summary="sampled in proportion to Cannistraci-Hebb scores [CHTs, CHTss]",
)
def _grow_ch_soft(
    mask: torch.Tensor, n_grow: int, *, grad, generator, linkpred_method: str, regrow_temperature: float
) -> torch.Tensor:
    scores = _ch_scores(mask, n_grow, linkpred_method)
    if scores is None:
        return torch.zeros_like(mask)
    return regrow_ch_soft(mask, scores, n_grow, generator, temperature=regrow_temperature)


REGROWTH_METHODS = tuple(REGROWTH_RULES)  # the built-in rules (the registry may gain more)


def select_regrowth(
    mask: torch.Tensor,
    n_grow: int,
    method: str,
    *,
    grad: torch.Tensor | None = None,
    linkpred_method: str = "CH3-L3",
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The links to grow with the registered rule ``method`` (``"random"``, ``"gradient"``, ``"ch_rigid"``,
    ``"ch_soft"``, or any rule registered with :func:`netsci_dst.dst.rules.regrowth_rule`).

    CH scores are computed here on ``mask`` (the mask after removal and percolation) with
    ``netsci_dst.linkpred.score(mask, linkpred_method)``; ``grad`` is required for ``"gradient"``; ``temperature`` is
    the soft regrowth exponent. ``generator=None`` draws from fresh entropy (not reproducible; the engine always
    passes its own).

    Returns:
        bool mask of the new links (missing links of ``mask`` only, exactly ``n_grow``).
    """
    rule = REGROWTH_RULES.get(method)
    if rule is None:
        raise DstnetError(f"unknown regrowth method {method!r} (known: {', '.join(REGROWTH_RULES)})")
    if rule.needs_grad and grad is None:
        raise ValueError(f"{method} regrowth needs the dense gradient (grad=...)")
    context = {"linkpred_method": linkpred_method, "regrow_temperature": temperature}
    return rule.function(mask, n_grow, grad=grad, generator=generator, **{p: context[p] for p in rule.params})
