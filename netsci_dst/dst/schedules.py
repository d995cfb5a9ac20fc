"""Schedules for dynamic sparse training: removal fraction, soft-removal temperature and layer density.

Every function here works on plain Python floats. The papers state density schedules in terms of *sparsity*
``s = 1 - D``; :class:`DensitySchedule` hands the engine *densities*. All the sparsity curves below are affine in
their two endpoints, so interpolating densities directly traces exactly the same curve (``1 - s_t`` with
``s_i = 1 - D_i`` and ``s_f = 1 - D_f``) and keeps the endpoints bit-exact.

References: Evci et al. 2020 [RigL] (cosine-annealed removal fraction); Zhu & Gupta's gradual magnitude pruning as
used by Liu et al. 2021 [GraNet] (cubic sparsity); Yuan et al. 2021 [MEST] (EM&S, the soft memory bound);
Zhang et al., arXiv 2501.19107 [CHTss] (sigmoid density decay, eq. 4); Zhang et al. 2024 [CHTs] (the soft-removal
temperature: delta rising from 0.5 to 0.75 in the paper's text, T rising linearly from 1 to 3 in the released code;
EM&S as the released MLP code runs it).

User-facing configuration errors (a non-positive ``k``, a density outside ``(0, 1]``, a ``delta`` outside
``[0, 1)``) raise :class:`~netsci_dst.errors.DstnetError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netsci_dst.errors import DstnetError

__all__ = [
    "DENSITY_KINDS",
    "DensitySchedule",
    "EMSSchedule",
    "cosine_zeta",
    "cubic_sparsity",
    "ems_extra_density",
    "linear",
    "linear_temperature",
    "sigmoid_sparsity",
    "soft_temperature",
]

DENSITY_KINDS = ("constant", "cubic", "sigmoid")

#: Fraction of the EM&S horizon after which the overshoot halves (5 % until 0.6 T_end, then 2.5 %).
EMS_HALVING_POINT = 0.6


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise DstnetError(f"{name} must be a finite number, got {value}")
    return value


def cosine_zeta(zeta: float, t: float, t_end: float) -> float:
    """The cosine-annealed removal fraction of [RigL].

    ``zeta_t = zeta / 2 * (1 + cos(pi * t / t_end))`` for ``0 <= t <= t_end`` and ``0`` afterwards: the full
    ``zeta`` at ``t = 0``, ``zeta / 2`` half way, exactly ``0`` at ``t_end`` (RigL stops the topology updates at
    ``t_end = 0.75`` of the training steps).

    Args:
        zeta: the initial removal fraction, in ``[0, 1]``.
        t: the current step (or update index), ``>= 0``.
        t_end: when the annealing reaches 0, ``> 0``, in the same unit as ``t``.
    """
    zeta, t, t_end = _finite("zeta", zeta), _finite("t", t), _finite("t_end", t_end)
    if not 0.0 <= zeta <= 1.0:
        raise DstnetError(f"zeta must be in [0, 1], got {zeta}")
    if t_end <= 0:
        raise DstnetError(f"t_end must be > 0, got {t_end}")
    if t < 0:
        raise DstnetError(f"t must be >= 0, got {t}")
    if t >= t_end:
        return 0.0
    return zeta / 2.0 * (1.0 + math.cos(math.pi * t / t_end))


def linear(t: float, t_total: float, start: float, end: float) -> float:
    """A linear ramp from ``start`` at ``t = 0`` to ``end`` at ``t = t_total``, constant outside.

    ``start + (end - start) * t / t_total`` for ``0 <= t <= t_total``; ``start`` for ``t <= 0`` and exactly
    ``end`` for ``t >= t_total``. A zero-length ramp (``t_total == 0``) is already finished and returns ``end``.
    Used for the soft-removal ``delta`` of [CHTs] (0.5 -> 0.75 over training; 0.5 -> 0.9 in the LLM code).
    """
    t, t_total = _finite("t", t), _finite("t_total", t_total)
    start, end = _finite("start", start), _finite("end", end)
    if t_total < 0:
        raise DstnetError(f"t_total must be >= 0, got {t_total}")
    if t >= t_total:
        return end
    if t <= 0:
        return start
    return start + (end - start) * (t / t_total)


def soft_temperature(delta: float) -> float:
    """The soft-removal temperature of [CHTs]/[CHTss]: ``T = delta / (1 - delta)``.

    ``delta = 0`` gives ``T = 0`` (every score becomes 1: uniform removal), ``0.5`` gives 1 (sampling proportional
    to the raw score), ``0.75`` gives 3 and ``0.9`` gives 9 (close to deterministic top-k). ``delta`` must be in
    ``[0, 1)``.
    """
    delta = _finite("delta", delta)
    if not 0.0 <= delta < 1.0:
        raise DstnetError(f"delta must be in [0, 1), got {delta}")
    return delta / (1.0 - delta)


def linear_temperature(t: float, t_end: float, start: float = 1.0, end: float = 3.0) -> float:
    """The soft-removal temperature of the authors' released code: linear in the step, ``start`` -> ``end``.

    ``T_t = start + t * (end - start) / t_end``, clamped to ``end`` for ``t >= t_end``. The MLP and Transformer
    code use ``start = 1, end = 3`` with ``t_end`` the end of topology evolution (``T = 1 + step * 2 / T_end``,
    mlp_and_cnn/dst_scheduler.py line 440 and Transformer/dst_scheduler.py line 383 of
    biomedical-cybernetics/Cannistraci-Hebb-training at d1677b5); the LLM code uses ``1 -> 9`` (``--start_T 1
    --end_T 9``, llm/dst_scheduler.py line 843 of biomedical-cybernetics/Cannistraci-Hebb-Training-Soft-Rule- at
    1f91f31). The paper text's ``delta / (1 - delta)`` rule is :func:`soft_temperature`.
    """
    t, t_end = _finite("t", t), _finite("t_end", t_end)
    start, end = _finite("start", start), _finite("end", end)
    if t_end <= 0:
        raise DstnetError(f"t_end must be > 0, got {t_end}")
    if t < 0:
        raise DstnetError(f"t must be >= 0, got {t}")
    if start < 0 or end < 0:
        raise DstnetError(f"temperatures must be >= 0, got start={start}, end={end}")
    if t >= t_end:
        return end
    return start + t * (end - start) / t_end


def cubic_sparsity(t: float, s_i: float, s_f: float, t0: float, n: float, dt: float) -> float:
    """Gradual magnitude pruning's cubic schedule [GraNet, after Zhu & Gupta 2017].

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3`` with ``t`` clamped to ``[t0, t0 + n * dt]``: exactly
    ``s_i`` for ``t <= t0`` and exactly ``s_f`` for ``t >= t0 + n * dt``. Fast pruning first, slower near the end.
    The formula is affine in ``(s_i, s_f)``, so passing densities gives the density curve.

    Args:
        t: the current step (or update index).
        s_i, s_f: initial and final sparsity (or density).
        t0: when pruning starts.
        n: the number of pruning steps; ``dt``: the interval between them (``n * dt > 0``).
    """
    t, s_i, s_f = _finite("t", t), _finite("s_i", s_i), _finite("s_f", s_f)
    t0, n, dt = _finite("t0", t0), _finite("n", n), _finite("dt", dt)
    span = n * dt
    if span <= 0:
        raise DstnetError(f"n * dt must be > 0, got n={n}, dt={dt}")
    if t <= t0:
        return s_i
    if t >= t0 + span:
        return s_f
    return s_f + (s_i - s_f) * (1.0 - (t - t0) / span) ** 3


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def sigmoid_sparsity(tau: float, n_updates: float, s_i: float, s_f: float, k: float = 6.0) -> float:
    """The sigmoid sparsity decay of [CHTss] (eq. 4), shaped to hit both endpoints exactly.

    With ``T = n_updates`` the number of updates the decay lasts, ``mid = T / 2`` and ``k' = k / mid``::

        x      = sigmoid(k' * (tau - mid))
        shaped = (x - 1/2) / (sigmoid(k) - sigmoid(-k)) + 1/2      # 0 at tau = 0, 1/2 at mid, 1 at tau = T
        s_tau  = s_i + (s_f - s_i) * shaped

    computed as ``(1 - shaped) * s_i + shaped * s_f``: exactly ``s_i`` for ``tau <= 0``, exactly ``s_f`` for
    ``tau >= T`` (clamped), and exactly ``(s_i + s_f) / 2`` at ``tau = mid``. Larger ``k`` makes the transition
    steeper around the middle; CHTss uses ``k = 6``, ``s_i = 0.5`` and ends the decay at 0.8 of training. Affine in
    ``(s_i, s_f)``: passing densities gives the density curve.
    """
    tau, n_updates = _finite("tau", tau), _finite("n_updates", n_updates)
    s_i, s_f, k = _finite("s_i", s_i), _finite("s_f", s_f), _finite("k", k)
    if k <= 0:
        raise DstnetError(f"k must be > 0, got {k}")
    if n_updates <= 0:
        raise DstnetError(f"n_updates must be > 0, got {n_updates}")
    if tau <= 0:
        return s_i
    if tau >= n_updates:
        return s_f
    mid = n_updates / 2.0
    x = _sigmoid(k / mid * (tau - mid))
    shaped = (x - 0.5) / (_sigmoid(k) - _sigmoid(-k)) + 0.5
    shaped = min(1.0, max(0.0, shaped))
    return (1.0 - shaped) * s_i + shaped * s_f


def ems_extra_density(t: float, t_end: float, interval: float, start_extra: float = 0.05) -> float:
    """How much denser than its target a layer is kept by EM&S after the update at step ``t``.

    The rule of the authors' released MLP code [CHTs] (``mlp_and_cnn/dst_scheduler.py`` lines 494-503 and
    731-740 of biomedical-cybernetics/Cannistraci-Hebb-training at d1677b5, the ``--EM_S`` flag), which is also the
    one its ``--remove_method MEST`` baseline runs with; absolute density points::

        extra(t) = start_extra        for t <= 0.6 * t_end
                 = start_extra / 2    for 0.6 * t_end < t < t_end - interval
                 = 0                  for t >= t_end - interval   (the last update before t_end)

    ``t`` and ``t_end`` are optimizer steps, ``interval`` the steps between updates. Updates happen only at steps
    ``< t_end``, so exactly one update (the last) gets ``extra = 0``: it prunes the layer to its target and
    regrows nothing. With ``t_end = 0.75`` of training the overshoot halves at 0.45 of training.

    Args:
        t: the step of the update, ``>= 0``.
        t_end: the end of topology evolution in steps (``> 0``).
        interval: steps between updates (``> 0``).
        start_extra: the initial overshoot in density points, in ``[0, 1)`` (the authors: 0.05).
    """
    t, t_end = _finite("t", t), _finite("t_end", t_end)
    interval, start_extra = _finite("interval", interval), _finite("start_extra", start_extra)
    if t_end <= 0:
        raise DstnetError(f"t_end must be > 0, got {t_end}")
    if interval <= 0:
        raise DstnetError(f"interval must be > 0, got {interval}")
    if t < 0:
        raise DstnetError(f"t must be >= 0, got {t}")
    if not 0.0 <= start_extra < 1.0:
        raise DstnetError(f"start_extra must be in [0, 1), got {start_extra}")
    if t <= EMS_HALVING_POINT * t_end:
        return start_extra
    if t < t_end - interval:
        return start_extra / 2.0
    return 0.0


@dataclass(frozen=True)
class EMSSchedule:
    """EM&S (explore with memory, then shrink) exactly as the authors' MLP code runs it [CHTs, MEST].

    A dense-to-sparse recipe in three phases. The layer starts at sparsity ``S_0 = 1 - D - extra`` (``D`` the
    target density), and every update at step ``t`` (a multiple of ``interval``, ``t < t_end``):

    1. prunes ``int(nnz * (1 - S - D) / (1 - S))`` links, ``S`` the layer's nominal sparsity before the update
       (the fraction that brings a layer at nominal density ``1 - S`` down to ``D``), by the prune rule;
    2. (percolation, when on, removes more);
    3. regrows ``int(extra(t) * n_in * n_out)`` links (:func:`ems_extra_density`: 5 % of the cells, 2.5 % after
       0.6 ``t_end``, none at the last update), and sets ``S = 1 - D - extra(t)``.

    The counts use the authors' float expressions and ``int()`` truncations (their ``S[l]``, ``drop_fraction``
    and ``n_prune``), so a layer's link counts equal theirs update by update. Only step 1's share is relative;
    the regrowth is absolute (not "back to the target"), so links lost to percolation are not replaced.

    Attributes:
        final: the target density ``D``, in ``(0, 1]``.
        extra: the initial overshoot in density points (the authors: 0.05), in ``[0, 1)``.
        t_end: the end of topology evolution in steps (the authors: 0.75 of training).
        interval: steps between topology updates (the authors: one epoch).
    """

    final: float
    extra: float
    t_end: float
    interval: int

    def __post_init__(self) -> None:
        if not 0.0 < _finite("final", self.final) <= 1.0:
            raise DstnetError(f"final density must be in (0, 1], got {self.final}")
        if not 0.0 <= _finite("extra", self.extra) < 1.0:
            raise DstnetError(f"extra must be in [0, 1), got {self.extra}")
        if not _finite("t_end", self.t_end) > 0:
            raise DstnetError(f"t_end must be > 0, got {self.t_end}")
        if not _finite("interval", self.interval) > 0:
            raise DstnetError(f"interval must be > 0, got {self.interval}")

    def sparsity_after(self, t: float | None) -> float:
        """The nominal sparsity ``S`` after the update at step ``t`` (``None``: at initialisation)."""
        extra = self.extra if t is None else ems_extra_density(t, self.t_end, self.interval, self.extra)
        return 1 - self.final - extra

    def density_after(self, t: float | None) -> float:
        """``min(1, 1 - S)``: the nominal density after the update at step ``t`` (``None``: at initialisation)."""
        return min(1.0, 1 - self.sparsity_after(t))

    def initial_links(self, n_cells: int) -> int:
        """``int((1 - S_0) * n_cells)`` (at least 1): the authors' CSTI link count at initialisation.

        Their random start keeps ``n_cells - int(S_0 * n_cells)`` instead, one more link when ``(1 - S_0) n_cells``
        has a fractional part; dstnet uses the CSTI count for every generator.
        """
        return max(1, min(n_cells, int(self.density_after(None) * n_cells)))

    def prune_count(self, nnz: int, sparsity_before: float) -> int:
        """``int(nnz * (1 - S - D) / (1 - S))`` for ``S = sparsity_before``: links pruned at the update's start."""
        density_before = 1 - sparsity_before
        if density_before <= 0:
            return 0
        return max(0, min(nnz, int(nnz * ((1 - sparsity_before - self.final) / density_before))))

    def grow_count(self, t: float, n_cells: int) -> int:
        """``int(extra(t) * n_cells)``: links regrown by the update at step ``t``."""
        return int(ems_extra_density(t, self.t_end, self.interval, self.extra) * n_cells)


@dataclass(frozen=True)
class DensitySchedule:
    """A layer's target density per topology update (EM&S, which depends on steps, is :class:`EMSSchedule`).

    Attributes:
        kind: ``"constant"`` (SET, RigL, CHT: always ``final``), ``"cubic"`` (GraNet/GMP, see
            :func:`cubic_sparsity`) or ``"sigmoid"`` (CHTss eq. 4, see :func:`sigmoid_sparsity`).
        final: the target density ``D_f``, in ``(0, 1]``.
        initial: the starting density ``D_i`` of the decays, in ``(0, 1]``; ignored by "constant". Default 0.5
            (CHTss: initial sparsity 0.5).
        k: the steepness of the sigmoid decay (``> 0``; CHTss: 6).
        end_fraction: the fraction of the ``n_updates`` updates over which the decay runs, in ``(0, 1]``: the
            decays reach ``final`` at update ``end_fraction * n_updates`` and stay there.

    :meth:`density_at` returns ``D(u)``: the density at initialisation for ``u = 0`` and the density a layer must
    have right after the ``u``-th topology update for ``u >= 1``.
    """

    kind: str
    final: float
    initial: float = 0.5
    k: float = 6.0
    end_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in DENSITY_KINDS:
            raise DstnetError(f"unknown density schedule {self.kind!r}; expected one of {', '.join(DENSITY_KINDS)}")
        for name in ("final", "initial"):
            value = _finite(name, getattr(self, name))
            if not 0.0 < value <= 1.0:
                raise DstnetError(f"{name} density must be in (0, 1], got {value}")
        if not _finite("k", self.k) > 0:
            raise DstnetError(f"k must be > 0, got {self.k}")
        if not 0.0 < _finite("end_fraction", self.end_fraction) <= 1.0:
            raise DstnetError(f"end_fraction must be in (0, 1], got {self.end_fraction}")

    def density_at(self, update_index: int, n_updates: int) -> float:
        """The target density after update ``update_index`` of ``n_updates`` (0: at initialisation).

        ``update_index`` beyond the schedule's end gives the end value; ``n_updates = 0`` (no topology update
        at all) gives ``final``.
        """
        if update_index < 0:
            raise ValueError(f"update_index must be >= 0, got {update_index}")
        if n_updates < 0:
            raise ValueError(f"n_updates must be >= 0, got {n_updates}")
        if self.kind == "constant":
            return self.final
        horizon = self.end_fraction * n_updates
        if horizon <= 0:
            return self.final
        if self.kind == "cubic":
            return cubic_sparsity(update_index, self.initial, self.final, 0.0, horizon, 1.0)
        return sigmoid_sparsity(update_index, horizon, self.initial, self.final, self.k)
