"""Link removal: the scores that rank a layer's existing links and the selectors that pick the ones to drop.

A layer's ``weight`` is ``(n_out, n_in)`` as in ``torch.nn.Linear`` and ``mask`` a bool tensor of the same shape:
link ``(j, i)`` joins input neuron ``i`` to output neuron ``j``. Everything is vectorised torch (no Python loop
per link) and runs on the tensors' device; functions never modify their inputs and return new bool masks.

Scores (larger = more important):

- weight magnitude ``|W|`` [SET] (Mocanu et al. 2018; the "wm" removal of [CHT] Zhang et al., ICLR 2024), with
  SET's own sign-aware variant (:func:`remove_set`);
- relative importance [CHT]: ``RI_ji = |W_ji| / sum_k |W_ki| + |W_ji| / sum_k |W_jk|``, the link's share of its
  input neuron's and of its output neuron's total strength;
- the soft score of [CHTs] (Zhang et al. 2024) / [CHTss] (Zhang et al., arXiv 2501.19107, eq. 2), which
  interpolates between the two and sharpens them with a temperature (:func:`soft_scores`);
- MEST's ``|W| + lambda |grad|`` [MEST] (Yuan et al. 2021).

Selectors: :func:`smallest` (deterministic: the lowest scores go), :func:`remove_set`, and :func:`sample_keep`
(CHTs' soft removal: the links to *keep* are drawn without replacement with probabilities proportional to the
scores); the top-k and the sampling themselves are :mod:`netsci_dst.selection`'s. :func:`select_removal`
dispatches by method name.

Ties are broken by flat (row-major) index, lower index first. Counts asking for more links than exist raise
``ValueError``; a count of 0 selects nothing.

Non-finite values (NaN/inf weights after a diverged step) never crash a selection and never poison other links:

- the score functions give NaN for a link whose weight (or gradient, for MEST) is not finite, and leave it out
  of the row and column sums, so its neighbours keep their ordinary scores;
- every selector treats a NaN score as the *least* important: :func:`smallest` removes NaN links first, and
  :func:`sample_keep` keeps one only when there are not enough finite-scored links to keep (then uniformly at
  random among them); so a removal of at least as many links as there are NaN weights always clears them all;
- ``-inf`` and ``+inf`` scores are ordered as numbers (``-inf`` first to go, ``+inf`` last); in
  :func:`sample_keep` ``+inf`` scores (for example a soft score that overflowed) are kept before any finite one.
"""

from __future__ import annotations

import math
import operator

import torch
from torch import Tensor

from netsci_dst.dst.rules import REMOVAL_RULES, removal_rule
from netsci_dst.errors import DstnetError
from netsci_dst.selection import exponential_race, top_k

__all__ = [
    "REMOVAL_METHODS",
    "SCORE_FLOOR",
    "magnitude",
    "mest_scores",
    "relative_importance",
    "remove_set",
    "sample_keep",
    "select_removal",
    "smallest",
    "soft_scores",
]


#: Scores are clamped to at least this before sampling (the released CHTs code's floor).
SCORE_FLOOR = 1e-12


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def _check_pair(a: Tensor, mask: Tensor, name: str = "weight") -> None:
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor, got {mask.dtype}")
    if a.shape != mask.shape:
        raise ValueError(f"{name} shape {tuple(a.shape)} does not match mask shape {tuple(mask.shape)}")
    if a.device != mask.device:
        raise ValueError(f"{name} is on {a.device} but mask is on {mask.device}")


def _check_count(n: int, available: int, what: str) -> int:
    try:
        n = operator.index(n)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {n!r}") from None
    if n < 0:
        raise ValueError(f"{what} must be >= 0, got {n}")
    if n > available:
        raise ValueError(f"{what} = {n} exceeds the {available} existing links")
    return n


def _work_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _from_flat(flat_idx: Tensor, mask: Tensor) -> Tensor:
    out = torch.zeros(mask.numel(), dtype=torch.bool, device=mask.device)
    out[flat_idx] = True
    return out.view(mask.shape)


def _finite_abs(weight: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``|W|`` on existing links with finite weights, 0 elsewhere, and the bool map of the non-finite links."""
    w = weight.to(_work_dtype(weight))
    bad = mask & ~torch.isfinite(w)
    a = torch.where(mask & ~bad, w.abs(), torch.zeros((), dtype=w.dtype, device=w.device))
    return a, bad


# ---------------------------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------------------------


def magnitude(weight: Tensor) -> Tensor:
    """Weight magnitude ``|W|`` [SET, CHT "wm"], NaN where the weight is not finite (NaN or +-inf)."""
    a = weight.abs()
    if a.is_floating_point():
        a = torch.where(torch.isfinite(a), a, torch.full((), float("nan"), dtype=a.dtype, device=a.device))
    return a


def relative_importance(weight: Tensor, mask: Tensor, epsilon: float = 0.0) -> Tensor:
    """Relative importance [CHT]: a link's share of the strength of both neurons it joins.

    In the ``(n_out, n_in)`` layout, for the link ``(j, i)`` from input ``i`` to output ``j``::

        RI_ji = |W_ji| / (sum_k |W_ki| + n_out eps)  +  |W_ji| / (sum_k |W_jk| + n_in eps)
                (input i's column sum)                   (output j's row sum)

    with both sums over existing links only. ``eps`` is 0 in the paper; the authors' code adds ``1e-5`` to every
    cell of the dense ``|W|`` before summing (``torch.sum(torch.abs(w) + eplison, dim=0)``,
    mlp_and_cnn/dst_scheduler.py line 452 of biomedical-cybernetics/Cannistraci-Hebb-training at d1677b5), so a
    column sum gains ``n_out eps`` and a row sum ``n_in eps``. The result is 0 where the mask is False; a term
    whose sum is 0 is 0 (never NaN); a link with a non-finite weight scores NaN and is left out of the sums.
    """
    _check_pair(weight, mask)
    epsilon = float(epsilon)
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise DstnetError(f"epsilon must be a finite number >= 0, got {epsilon}")
    a, bad = _finite_abs(weight, mask)
    n_out, n_in = a.shape
    col = a.sum(dim=0, keepdim=True) + n_out * epsilon  # strength of each input neuron i
    row = a.sum(dim=1, keepdim=True) + n_in * epsilon  # strength of each output neuron j
    zero = torch.zeros((), dtype=a.dtype, device=a.device)
    ri = torch.where(col > 0, a / col.clamp_min(torch.finfo(a.dtype).tiny), zero)
    ri = ri + torch.where(row > 0, a / row.clamp_min(torch.finfo(a.dtype).tiny), zero)
    return torch.where(bad, torch.full((), float("nan"), dtype=a.dtype, device=a.device), ri)


def soft_scores(weight: Tensor, mask: Tensor, alpha: float, temperature: float) -> Tensor:
    """The soft-removal score of [CHTs] / [CHTss] (eq. 2).

    For the link ``(j, i)`` from input ``i`` to output ``j``, with ``R_j = sum_k |W_jk|`` the strength (row sum
    over existing links) of output neuron ``j`` and ``C_i = sum_k |W_ki|`` that (column sum) of input neuron ``i``::

        S_ji = ( (|W_ji| / 2) / (alpha + (1 - alpha) R_j)  +  (|W_ji| / 2) / (alpha + (1 - alpha) C_i) ) ^ T

    ``alpha = 1`` gives ``|W|^T`` (weight magnitude, a monotone transform of it for any ``T > 0``); ``alpha = 0``
    gives ``(RI / 2)^T`` (relative importance; a term with a zero sum is 0). ``T = delta / (1 - delta)`` is the
    temperature (:func:`~netsci_dst.dst.schedules.soft_temperature`): ``T = 0`` makes every existing link score 1
    (uniform removal), large ``T`` concentrates the sampling on the largest scores (top-k).

    Returns 0 where the mask is False and NaN for links with a non-finite weight (left out of the sums). For
    enormous ``T`` a score may overflow to ``+inf``; :func:`sample_keep` then keeps it first, which is the limit.
    """
    _check_pair(weight, mask)
    alpha, temperature = float(alpha), float(temperature)
    if not 0.0 <= alpha <= 1.0:
        raise DstnetError(f"alpha must be in [0, 1], got {alpha}")
    if not (math.isfinite(temperature) and temperature >= 0.0):
        raise DstnetError(f"temperature must be a finite number >= 0, got {temperature}")
    a, bad = _finite_abs(weight, mask)
    half = a / 2
    row = alpha + (1.0 - alpha) * a.sum(dim=1, keepdim=True)
    col = alpha + (1.0 - alpha) * a.sum(dim=0, keepdim=True)
    zero = torch.zeros((), dtype=a.dtype, device=a.device)
    base = torch.where(row > 0, half / row.clamp_min(torch.finfo(a.dtype).tiny), zero)
    base = base + torch.where(col > 0, half / col.clamp_min(torch.finfo(a.dtype).tiny), zero)
    s = torch.ones_like(base) if temperature == 0.0 else base.pow(temperature)
    s = torch.where(mask, s, zero)
    return torch.where(bad, torch.full((), float("nan"), dtype=a.dtype, device=a.device), s)


def mest_scores(weight: Tensor, grad: Tensor, lam: float = 0.01) -> Tensor:
    """MEST's importance [MEST]: ``|W| + lam * |grad|`` (the gradient of the existing links, no dense gradient).

    NaN where the weight or the gradient is not finite.
    """
    if grad.shape != weight.shape:
        raise ValueError(f"grad shape {tuple(grad.shape)} does not match weight shape {tuple(weight.shape)}")
    dtype = _work_dtype(weight)
    s = weight.to(dtype).abs() + float(lam) * grad.to(dtype).abs()
    ok = torch.isfinite(weight) & torch.isfinite(grad)
    return torch.where(ok, s, torch.full((), float("nan"), dtype=dtype, device=s.device))


# ---------------------------------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------------------------------


def smallest(scores: Tensor, mask: Tensor, n_remove: int) -> Tensor:
    """The ``n_remove`` existing links with the smallest scores (NaN counts as smallest).

    Ties, including ``-0.0`` against ``0.0`` and NaN against NaN, are broken by flat index, lower first; links
    outside the mask are never selected (:func:`netsci_dst.selection.top_k` with ``largest=False``, on the scores
    in float32, or float64 when they are). Raises ``ValueError`` when ``n_remove`` exceeds ``mask.sum()``.
    """
    _check_pair(scores, mask, "scores")
    n_remove = _check_count(n_remove, int(mask.sum()), "n_remove")
    if n_remove == 0:
        return torch.zeros_like(mask)
    return _from_flat(top_k(scores.to(_work_dtype(scores)), n_remove, mask, largest=False), mask)


def remove_set(weight: Tensor, mask: Tensor, n_remove: int) -> Tensor:
    """SET's sign-aware removal [SET]: the smallest positive and the largest negative weights, half each.

    Links with a non-finite weight are removed first (counted against ``n_remove``). The remaining ``r`` are split
    into ``ceil(r / 2)`` from the non-negative side (``W >= 0``, zeros included, smallest first) and
    ``floor(r / 2)`` from the negative side (closest to zero first); when one side has too few links the other
    side supplies the shortfall. Ties by flat index.
    """
    _check_pair(weight, mask)
    n_remove = _check_count(n_remove, int(mask.sum()), "n_remove")
    if n_remove == 0:
        return torch.zeros_like(mask)
    w = weight.to(_work_dtype(weight))
    finite = torch.isfinite(w)
    bad = mask & ~finite
    n_bad = int(bad.sum())
    if n_bad >= n_remove:
        return smallest(torch.zeros_like(w), bad, n_remove)
    r = n_remove - n_bad
    pos = mask & finite & (w >= 0)
    neg = mask & finite & (w < 0)
    n_pos_avail, n_neg_avail = int(pos.sum()), int(neg.sum())
    n_pos = min((r + 1) // 2, n_pos_avail)
    n_neg = min(r - n_pos, n_neg_avail)
    n_pos = r - n_neg  # the negative side's shortfall goes to the positive side (fits: r <= P + N)
    safe = torch.where(finite, w, torch.zeros((), dtype=w.dtype, device=w.device))
    return bad | smallest(safe, pos, n_pos) | smallest(-safe, neg, n_neg)


def sample_keep(scores: Tensor, mask: Tensor, n_keep: int, generator: torch.Generator | None = None) -> Tensor:
    """The links to keep, drawn without replacement with probability proportional to ``max(score, 1e-12)``.

    Successive sampling without replacement (draw a link with probability proportional to its weight among those
    not yet drawn, repeat ``n_keep`` times) is done in one shot with the exponential race of Efraimidis & Spirakis
    (2006, :func:`netsci_dst.selection.exponential_race`): each existing link ``l`` gets the key ``E_l / p_l`` with
    ``E_l ~ Exp(1)`` i.i.d. (torch's ``Tensor.exponential_``, in float32, or float64 for float64 scores), and the
    ``n_keep`` smallest keys are kept (the order of the keys has exactly the distribution of the successive draws;
    computed as ``log E_l - log p_l``, which cannot overflow). All scores equal, or all 0, gives uniform sampling.

    Non-finite scores: ``+inf`` links are kept before all others, NaN links after all others (each group in a
    uniformly random order), so an all-NaN layer is sampled uniformly. ``-inf`` counts as the floor ``1e-12``.

    Randomness comes only from ``generator`` (on the tensors' device; ``None`` uses torch's default generator):
    the same generator state gives the same result. Raises ``ValueError`` when ``n_keep`` exceeds ``mask.sum()``.
    """
    _check_pair(scores, mask, "scores")
    n = int(mask.sum())
    n_keep = _check_count(n_keep, n, "n_keep")
    if n_keep == 0:
        return torch.zeros_like(mask)
    if n_keep == n:
        return mask.clone()
    s = scores.to(_work_dtype(scores))
    weights = torch.where(torch.isnan(s), 0.0, s.clamp_min(SCORE_FLOOR))  # NaN: weight 0, drawn after all others
    return _from_flat(exponential_race(weights, n_keep, mask, generator=generator, draw="exponential_"), mask)


# ---------------------------------------------------------------------------------------------------------------
# The registered rules (netsci_dst.dst.rules): one function each
# ---------------------------------------------------------------------------------------------------------------


@removal_rule("wm", summary="the smallest |W| [CHT]")
def _remove_wm(weight: Tensor, mask: Tensor, n_remove: int, *, grad, generator) -> Tensor:
    return smallest(magnitude(weight), mask, n_remove)


@removal_rule("set", summary="SET's sign-aware rule: the smallest positive and largest negative weights [SET]")
def _remove_set(weight: Tensor, mask: Tensor, n_remove: int, *, grad, generator) -> Tensor:
    return remove_set(weight, mask, n_remove)


@removal_rule("ri", params=("ri_epsilon",), summary="the smallest relative importance [CHT]")
def _remove_ri(weight: Tensor, mask: Tensor, n_remove: int, *, grad, generator, ri_epsilon: float) -> Tensor:
    return smallest(relative_importance(weight, mask, ri_epsilon), mask, n_remove)


@removal_rule("mest", params=("lam",), needs_grad=True, summary="the smallest |W| + lam |grad| [MEST]")
def _remove_mest(weight: Tensor, mask: Tensor, n_remove: int, *, grad, generator, lam: float) -> Tensor:
    return smallest(mest_scores(weight, grad, lam), mask, n_remove)


@removal_rule(
    "soft", params=("alpha", "temperature"), summary="CHTs' soft removal: keep links sampled by soft scores [CHTs]"
)
def _remove_soft(weight: Tensor, mask: Tensor, n_remove: int, *, grad, generator, alpha, temperature) -> Tensor:
    scores = soft_scores(weight, mask, alpha, temperature)  # validates alpha and temperature even for n_remove = 0
    if n_remove == 0:
        return torch.zeros_like(mask)
    return mask & ~sample_keep(scores, mask, int(mask.sum()) - n_remove, generator)


REMOVAL_METHODS = tuple(REMOVAL_RULES)  # the built-in rules (the registry may gain more)


def select_removal(
    weight: Tensor,
    mask: Tensor,
    n_remove: int,
    method: str,
    *,
    grad: Tensor | None = None,
    alpha: float = 1.0,
    temperature: float = 1.0,
    lam: float = 0.01,
    ri_epsilon: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The ``n_remove`` existing links to remove from a layer, by the registered rule ``method``.

    - ``"wm"``: the smallest ``|W|`` (:func:`magnitude` + :func:`smallest`) [CHT];
    - ``"set"``: SET's sign-aware rule (:func:`remove_set`) [SET];
    - ``"ri"``: the smallest relative importance (:func:`relative_importance` with ``ri_epsilon``) [CHT];
    - ``"mest"``: the smallest ``|W| + lam |grad|`` (:func:`mest_scores`, needs ``grad``) [MEST];
    - ``"soft"``: CHTs' soft removal: the complement of :func:`sample_keep` on :func:`soft_scores` ``(alpha,
      temperature)`` with ``n_keep = mask.sum() - n_remove`` [CHTs, CHTss]. Only this method uses ``generator``;
    - any rule registered with :func:`netsci_dst.dst.rules.removal_rule`, given the keyword values it declares.

    Returns a bool mask (a subset of ``mask``) with exactly ``n_remove`` True entries.
    """
    _check_pair(weight, mask)
    nnz = int(mask.sum())
    n_remove = _check_count(n_remove, nnz, "n_remove")
    rule = REMOVAL_RULES.get(method)
    if rule is None:
        raise DstnetError(f"unknown removal method {method!r}; expected one of {', '.join(REMOVAL_RULES)}")
    if rule.needs_grad and grad is None:
        raise ValueError(f"removal method {method!r} needs the gradient (grad=...)")
    context = {"alpha": alpha, "temperature": temperature, "lam": lam, "ri_epsilon": ri_epsilon}
    if n_remove == 0 and method != "soft":
        return torch.zeros_like(mask)
    return rule.function(weight, mask, n_remove, grad=grad, generator=generator, **{p: context[p] for p in rule.params})
