"""Schedules: pinned values at chosen steps, exact endpoints, monotonicity and input validation."""

import math

import pytest

from netsci_dst.dst.schedules import (
    DensitySchedule,
    EMSSchedule,
    cosine_zeta,
    cubic_sparsity,
    ems_extra_density,
    linear,
    linear_temperature,
    sigmoid_sparsity,
    soft_temperature,
)
from netsci_dst.errors import DstnetError

# ---------------------------------------------------------------------------------------------------------------
# cosine zeta [RigL]
# ---------------------------------------------------------------------------------------------------------------


def test_cosine_zeta_pinned_values():
    assert cosine_zeta(0.3, 0, 100) == 0.3
    assert cosine_zeta(0.3, 50, 100) == 0.15
    assert cosine_zeta(0.3, 100, 100) == 0.0
    assert cosine_zeta(0.3, 150, 100) == 0.0
    assert cosine_zeta(0.3, 25, 100) == pytest.approx(0.15 * (1 + math.sqrt(0.5)), rel=1e-12)
    assert cosine_zeta(0.3, 75, 100) == pytest.approx(0.15 * (1 - math.sqrt(0.5)), rel=1e-12)


def test_cosine_zeta_is_non_increasing():
    values = [cosine_zeta(0.5, t, 40) for t in range(0, 60)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("args", [(0.3, 0, 0), (0.3, -1, 10), (1.5, 0, 10), (-0.1, 0, 10), (0.3, math.nan, 10)])
def test_cosine_zeta_rejects_bad_input(args):
    with pytest.raises(DstnetError):
        cosine_zeta(*args)


# ---------------------------------------------------------------------------------------------------------------
# linear ramp and the soft temperature [CHTs]
# ---------------------------------------------------------------------------------------------------------------


def test_linear_delta_ramp_gives_temperature_one_to_three():
    assert linear(0, 100, 0.5, 0.75) == 0.5
    assert linear(100, 100, 0.5, 0.75) == 0.75
    assert linear(250, 100, 0.5, 0.75) == 0.75
    assert linear(-5, 100, 0.5, 0.75) == 0.5
    assert linear(50, 100, 0.5, 0.75) == 0.625
    assert soft_temperature(linear(0, 100, 0.5, 0.75)) == 1.0
    assert soft_temperature(linear(100, 100, 0.5, 0.75)) == 3.0
    assert soft_temperature(linear(50, 100, 0.5, 0.75)) == pytest.approx(5 / 3, rel=1e-12)


def test_linear_zero_length_ramp_is_finished():
    assert linear(0, 0, 0.5, 0.9) == 0.9
    with pytest.raises(DstnetError):
        linear(0, -1, 0.5, 0.9)


def test_soft_temperature_values():
    assert soft_temperature(0.0) == 0.0
    assert soft_temperature(0.5) == 1.0
    assert soft_temperature(0.75) == 3.0
    assert soft_temperature(0.9) == pytest.approx(9.0, rel=1e-12)
    for bad in (1.0, -0.1, 1.5, math.inf):
        with pytest.raises(DstnetError):
            soft_temperature(bad)


# ---------------------------------------------------------------------------------------------------------------
# cubic [GraNet]
# ---------------------------------------------------------------------------------------------------------------


def test_cubic_sparsity_pinned_values():
    # t0 = 10, n = 10 pruning steps every dt = 2: from s_i = 0 at t = 10 to s_f = 0.9 at t = 30.
    assert cubic_sparsity(10, 0.0, 0.9, 10, 10, 2) == 0.0
    assert cubic_sparsity(5, 0.0, 0.9, 10, 10, 2) == 0.0
    assert cubic_sparsity(30, 0.0, 0.9, 10, 10, 2) == 0.9
    assert cubic_sparsity(45, 0.0, 0.9, 10, 10, 2) == 0.9
    # Half way: (1 - 10 / 20)^3 = 1/8, s = 0.9 - 0.9 / 8 = 0.7875.
    assert cubic_sparsity(20, 0.0, 0.9, 10, 10, 2) == pytest.approx(0.7875, abs=1e-15)
    # A quarter: (3/4)^3 = 27/64, s = 0.9 * (1 - 27/64).
    assert cubic_sparsity(15, 0.0, 0.9, 10, 10, 2) == pytest.approx(0.9 * 37 / 64, abs=1e-15)
    # Non-zero s_i: s_i = 0.5 -> s_f = 0.98 at half way: 0.98 - 0.48 / 8 = 0.92.
    assert cubic_sparsity(20, 0.5, 0.98, 10, 10, 2) == pytest.approx(0.92, abs=1e-15)


def test_cubic_sparsity_monotone_and_validated():
    values = [cubic_sparsity(t, 0.2, 0.95, 0, 50, 1) for t in range(60)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    with pytest.raises(DstnetError):
        cubic_sparsity(1, 0.0, 0.9, 0, 0, 1)


# ---------------------------------------------------------------------------------------------------------------
# sigmoid [CHTss eq. 4]
# ---------------------------------------------------------------------------------------------------------------


def _sig(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("s_i,s_f,T,k", [(0.5, 0.99, 80, 6.0), (0.5, 0.9, 7, 6.0), (0.3, 0.95, 33, 2.5)])
def test_sigmoid_endpoints_exact_and_midpoint(s_i, s_f, T, k):
    assert sigmoid_sparsity(0, T, s_i, s_f, k) == s_i
    assert sigmoid_sparsity(T, T, s_i, s_f, k) == s_f
    assert sigmoid_sparsity(T + 10, T, s_i, s_f, k) == s_f
    assert sigmoid_sparsity(T / 2, T, s_i, s_f, k) == (s_i + s_f) / 2


def test_sigmoid_pinned_interior_value():
    # T = 8, mid = 4, k' = 6 / 4 = 1.5; at tau = 2: x = sigmoid(-3).
    x = _sig(-3.0)
    shaped = (x - 0.5) / (_sig(6.0) - _sig(-6.0)) + 0.5
    assert shaped == pytest.approx(0.0451767, abs=1e-7)
    assert sigmoid_sparsity(2, 8, 0.5, 0.99) == pytest.approx(0.5 + 0.49 * shaped, rel=1e-12)
    assert sigmoid_sparsity(2, 8, 0.5, 0.99) == pytest.approx(0.5221366, abs=1e-7)
    # Symmetric about the middle: s(mid + d) - s_i = s_f - s(mid - d).
    assert sigmoid_sparsity(6, 8, 0.5, 0.99) - 0.5 == pytest.approx(0.99 - sigmoid_sparsity(2, 8, 0.5, 0.99))


def test_sigmoid_monotone_and_steeper_with_k():
    values = [sigmoid_sparsity(tau, 50, 0.5, 0.99) for tau in range(60)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    # A larger k makes the curve flatter early (closer to s_i at tau = T/4).
    assert sigmoid_sparsity(12.5, 50, 0.5, 0.99, k=12) < sigmoid_sparsity(12.5, 50, 0.5, 0.99, k=2)


@pytest.mark.parametrize("kwargs", [{"k": 0.0}, {"k": -1.0}, {"n_updates": 0}])
def test_sigmoid_rejects_bad_input(kwargs):
    args = {"tau": 1, "n_updates": 10, "s_i": 0.5, "s_f": 0.9, **kwargs}
    with pytest.raises(DstnetError):
        sigmoid_sparsity(**args)


# ---------------------------------------------------------------------------------------------------------------
# EM&S [MEST]
# ---------------------------------------------------------------------------------------------------------------


def test_ems_extra_density_is_the_authors_rule():
    # t <= 0.6 T_end: 0.05; t < T_end - interval: 0.025; the last update before T_end: 0
    # (mlp_and_cnn/dst_scheduler.py lines 494-503: step <= T_end * 0.6, step < T_end - delta_T, else)
    t_end, dt = 4230.0, 188  # 30 epochs of 188 steps, T_end = 0.75 of training
    assert ems_extra_density(188, t_end, dt) == 0.05
    assert ems_extra_density(2538, t_end, dt) == 0.05  # 0.6 T_end = 2538 exactly: still 5 %
    assert ems_extra_density(2539, t_end, dt) == 0.025
    assert ems_extra_density(3948, t_end, dt) == 0.025  # 21 * 188 < 4230 - 188 = 4042
    assert ems_extra_density(4136, t_end, dt) == 0.0  # 22 * 188: the last update before T_end
    assert ems_extra_density(4042, t_end, dt) == 0.0
    assert ems_extra_density(10, 100, 1, start_extra=0.02) == 0.02
    assert ems_extra_density(70, 100, 1, start_extra=0.02) == 0.01
    for bad in ((-1, 100, 1), (0, 0, 1), (0, 100, 0), (0, 100, 1, 1.0), (0, 100, 1, -0.1)):
        with pytest.raises(DstnetError):
            ems_extra_density(*bad)


def test_ems_schedule_counts_are_the_authors_expressions():
    d = 1 - 0.99  # the authors' dense_allocation = 1 - sparsity, in floats
    s = EMSSchedule(final=d, extra=0.05, t_end=4230.0, interval=188)
    n_cells = 1568 * 784
    s0 = 1 - d - 0.05
    assert s.sparsity_after(None) == s0
    assert s.initial_links(n_cells) == int((1 - s0) * n_cells) == 73758
    assert s.prune_count(73758, s0) == int(73758 * ((1 - s0 - d) / (1 - s0)))
    assert s.grow_count(188, n_cells) == int(0.05 * n_cells) == 61465
    assert s.grow_count(2539, n_cells) == int(0.025 * n_cells)
    assert s.grow_count(4136, n_cells) == 0
    assert s.sparsity_after(2539) == 1 - d - 0.025 and s.sparsity_after(4136) == 1 - d
    assert s.prune_count(12_000, 1 - d) == 0  # at the target: nothing to prune
    with pytest.raises(DstnetError):
        EMSSchedule(final=0.0, extra=0.05, t_end=10.0, interval=1)


def test_linear_temperature_is_the_codes_rule():
    # T = 1 + step * 2 / T_end (mlp_and_cnn/dst_scheduler.py line 440); LLM: start_T + step (end_T - start_T) / T_end
    assert linear_temperature(0, 4230.0) == 1.0
    assert linear_temperature(2115, 4230.0) == 1 + 2115 * (2 / 4230.0)
    assert linear_temperature(4136, 4230.0) == pytest.approx(1 + 4136 * 2 / 4230.0, rel=1e-15)
    assert linear_temperature(5000, 4230.0) == 3.0
    assert linear_temperature(3750, 7500.0, 1.0, 9.0) == 5.0
    for bad in ((-1, 10.0), (1, 0.0), (1, 10.0, -1.0, 3.0)):
        with pytest.raises(DstnetError):
            linear_temperature(*bad)


# ---------------------------------------------------------------------------------------------------------------
# DensitySchedule
# ---------------------------------------------------------------------------------------------------------------


def test_density_schedule_constant():
    s = DensitySchedule("constant", final=0.01)
    assert [s.density_at(u, 10) for u in (0, 5, 10, 20)] == [0.01] * 4


def test_density_schedule_sigmoid_is_one_minus_sparsity_curve_with_exact_ends():
    s = DensitySchedule("sigmoid", final=0.01, initial=0.5, k=6.0, end_fraction=0.8)
    n = 100  # the decay runs over the first 80 updates
    assert s.density_at(0, n) == 0.5
    assert s.density_at(80, n) == 0.01
    assert s.density_at(100, n) == 0.01
    assert s.density_at(40, n) == (0.5 + 0.01) / 2
    for u in (3, 17, 55, 79):
        assert s.density_at(u, n) == pytest.approx(1 - sigmoid_sparsity(u, 80, 0.5, 0.99), abs=1e-12)
    values = [s.density_at(u, n) for u in range(n + 1)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_density_schedule_cubic():
    s = DensitySchedule("cubic", final=0.1, initial=1.0)
    assert s.density_at(0, 10) == 1.0
    assert s.density_at(5, 10) == pytest.approx(0.1 + 0.9 / 8, abs=1e-15)
    assert s.density_at(10, 10) == 0.1
    assert s.density_at(0, 0) == 0.1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "nope", "final": 0.1},
        {"kind": "constant", "final": 0.0},
        {"kind": "constant", "final": 1.5},
        {"kind": "sigmoid", "final": 0.1, "initial": 0.0},
        {"kind": "sigmoid", "final": 0.1, "k": 0.0},
        {"kind": "sigmoid", "final": 0.1, "end_fraction": 0.0},
        {"kind": "sigmoid", "final": 0.1, "end_fraction": 1.2},
        {"kind": "ems", "final": 0.1},
        {"kind": "constant", "final": math.nan},
    ],
)
def test_density_schedule_validation(kwargs):
    with pytest.raises(DstnetError):
        DensitySchedule(**kwargs)


def test_density_at_rejects_negative_index():
    with pytest.raises(ValueError):
        DensitySchedule("constant", final=0.1).density_at(-1, 10)
