"""Power-law exponent of degree distributions [Clauset, Shalizi & Newman, SIAM Review 51(4), 2009].

The fit follows Clauset et al.: for every candidate lower cut-off ``xmin`` (each distinct degree), the exponent of
the tail ``x >= xmin`` is the maximum-likelihood estimate, for discrete data of

    p(x) = x^-gamma / zeta(gamma, xmin),      x = xmin, xmin + 1, ...

(``zeta`` the Hurwitz zeta function), and ``xmin`` is the cut-off whose fitted tail is closest to the data in the
Kolmogorov-Smirnov distance ``D = max_x |S(x) - P(x)|`` (empirical vs fitted CDF of the tail). The power law is
then compared with an exponential and a log-normal tail by the log-likelihood ratio ``R = sum ln p_pl - sum ln
p_alt`` (positive favours the power law) and its significance ``p`` (Vuong's test, Clauset et al. §5.1).

The work is done by the `powerlaw` package [Alstott, Bullmore & Plenz, PLoS ONE 2014]. Its 2.x releases bound
``alpha`` to ``[0, 3]`` unless told otherwise, so the search range ``[gamma_min, gamma_max]`` (default
``[1.01, 10]``, as in the CHT papers) is passed explicitly as ``parameter_ranges``. A fit pinned at ``gamma_max``
means the likelihood still grows toward steeper tails: the degrees decay faster than any power law in range (for
example the binomial degrees of an Erdos-Renyi layer). Such a fit is reported as ``capped = True``, "not a power
law", with ``gamma = None``: the bound is a setting of the search, not a measured exponent, and writing it as 10
would put a made-up number into tables and averages.

Minimum size: no exponent is fitted on fewer than ``MIN_TAIL = 50`` positive degrees, and the ``xmin`` scan only
considers cut-offs that leave at least ``MIN_TAIL`` degrees in the tail. The standard error of the estimate is
``(gamma - 1) / sqrt(n_tail)`` (Clauset et al., §3.1), about 0.2 for gamma = 2.5 at 50 tail degrees, and it grows
fast below that: over 30 samples of a discrete power law with gamma = 2.5 the fitted exponents spread (10th to
90th percentile) over 2.3-2.8 with 50 degrees but over 2.1-3.3 with 20. Without the tail constraint the scan picks
cut-offs that leave as few as 6 degrees: on the 32-neuron layers of a tiny Transformer run the "exponents" ranged
from 2.5 to 9.9. A layer with fewer positive degrees gets ``gamma = None`` and a ``reason``.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from typing import Any

import numpy as np

from netsci_dst.analysis.degree import input_degrees, output_degrees
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, as_stack

__all__ = ["fit_gamma", "degree_gammas"]

MIN_TAIL = 50  # degrees: the fewest positive degrees, and the shortest tail, a gamma is fitted on (see above)
_KEYS = ("gamma", "sigma", "xmin", "ks", "n_tail", "capped", "vs_exponential", "vs_lognormal")


@contextlib.contextmanager
def _quiet():
    """Silence the `powerlaw` package: its warnings, progress prints and numpy floating-point complaints."""
    sink = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        np.errstate(all="ignore"),
    ):
        warnings.simplefilter("ignore")
        yield


def _empty(n: int, reason: str) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(_KEYS)
    out.update(n=n, capped=False, method=None, reason=reason)
    return out


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _loglik_slope_positive(tail: np.ndarray, xmin: float, gamma: float, discrete: bool, h: float = 1e-4) -> bool:
    """Whether the tail's log-likelihood still increases at ``gamma`` (the unbounded MLE lies beyond it).

    Discrete: ``l(g) = -g sum ln x - n ln zeta(g, xmin)``; continuous: ``l(g) = n ln((g - 1) / xmin) - g sum
    ln(x / xmin)``. Both are concave in ``g``, so the sign of the slope at the cap decides.
    """
    n = tail.size
    if n == 0:
        return False
    if discrete:
        from scipy.special import zeta

        s = float(np.log(tail).sum())

        def ll(g: float) -> float:
            return -g * s - n * math.log(float(zeta(g, xmin)))
    else:
        s = float(np.log(tail / xmin).sum())

        def ll(g: float) -> float:
            return n * math.log((g - 1.0) / xmin) - g * s

    return ll(gamma) >= ll(gamma - h)


def fit_gamma(
    degrees: Any,
    gamma_min: float = 1.01,
    gamma_max: float = 10.0,
    discrete: bool = True,
) -> dict[str, Any]:
    """Clauset-Shalizi-Newman power-law fit of a degree sequence.

    Args:
        degrees: the degrees (any 1-D array-like of non-negative numbers); zeros are dropped.
        gamma_min, gamma_max: the exponent search range (``alpha`` of the `powerlaw` package).
        discrete: fit the discrete (zeta) power law; ``False`` for the continuous form.

    Returns:
        ``gamma`` (the exponent), ``sigma`` (its standard error ``(gamma - 1) / sqrt(n_tail)``), ``xmin``, ``ks``
        (KS distance of the tail fit), ``n_tail`` (degrees ``>= xmin``), ``n`` (positive degrees), ``capped`` (the
        fit runs into ``gamma_max``: not a power law), ``vs_exponential`` and ``vs_lognormal`` (each ``{"R":
        log-likelihood ratio power law vs alternative, "p": significance}``; ``R > 0`` favours the power law),
        ``method`` (``"discrete"`` or ``"continuous"``). A capped fit has ``gamma`` and ``sigma`` ``None`` (the
        bound is not an exponent; ``xmin``, ``ks`` and the comparisons describe the fit at the bound) and a
        ``reason``. With fewer than ``MIN_TAIL`` (50) positive degrees or fewer than three distinct values, or when
        the fit fails, ``gamma`` and the fit values are ``None`` and ``reason`` says why.
    """
    if not (1.0 < gamma_min < gamma_max):
        raise DstnetError(f"need 1 < gamma_min < gamma_max, got [{gamma_min}, {gamma_max}]")
    if hasattr(degrees, "detach"):
        degrees = degrees.detach().cpu().numpy()
    x = np.asarray(degrees, dtype=np.float64).ravel()
    if x.size and not np.all(np.isfinite(x)):
        raise DstnetError("degrees must be finite numbers")
    if (x < 0).any():
        raise DstnetError("degrees must be non-negative")
    x = x[x > 0]
    n = int(x.size)
    if n < MIN_TAIL:
        return _empty(n, f"only {n} positive degrees (need at least {MIN_TAIL} to fit a power law)")
    distinct = int(np.unique(x).size)
    if distinct < 3:
        return _empty(n, f"only {distinct} distinct positive degree value(s): no power law to fit")

    method = "discrete" if discrete and _discrete_safe(x, gamma_max) else "continuous"
    result = _fit(x, method, gamma_min, gamma_max)
    if method == "discrete" and (result.get("ks") is None or result["ks"] >= 0.99):
        result = _fit(x, "continuous", gamma_min, gamma_max)  # the discrete normaliser lost all precision
    result["n"] = n
    return result


def _discrete_safe(x: np.ndarray, gamma_max: float) -> bool:
    """Whether the package's discrete fit keeps precision: it normalises with ``1 - (1 - zeta(gamma, xmin))``,
    which rounds to 0 once ``zeta(gamma, xmin) < ~1e-16`` (steep tails of large degrees). When even the smallest
    degree is past that point at ``gamma_max`` the continuous form (accurate for large degrees [Clauset et al.
    2009, §3.1]) is used instead."""
    from scipy.special import zeta

    return float(zeta(gamma_max, float(x.min()))) > 1e-10


def _xmin_scan(x: np.ndarray) -> float | tuple[float, float]:
    """The ``xmin`` argument of ``powerlaw.Fit`` that limits the cut-off scan to tails of at least ``MIN_TAIL``
    degrees: a fixed ``xmin`` when only the smallest degree qualifies, else a ``(low, high)`` range. The package
    scans the distinct values in ``[low, high)`` but the largest, so ``high`` lies just past the first value that
    does not qualify."""
    values, counts = np.unique(x, return_counts=True)
    tail_sizes = np.cumsum(counts[::-1])[::-1]  # degrees >= each distinct value
    last = int(np.flatnonzero(tail_sizes >= MIN_TAIL)[-1])
    if last == 0:
        return float(values[0])
    if last + 1 < values.size:
        return float(values[0]), float(np.nextafter(values[last + 1], np.inf))
    return float(values[0]), float(values[last]) + 1.0


def _fit(x: np.ndarray, method: str, gamma_min: float, gamma_max: float) -> dict[str, Any]:
    import powerlaw

    n = int(x.size)
    discrete = method == "discrete"
    with _quiet():
        try:
            fit = powerlaw.Fit(
                x,
                discrete=discrete,
                xmin=_xmin_scan(x),
                parameter_ranges={"alpha": [gamma_min, gamma_max]},
                verbose=0,
            )
            pl = fit.power_law
            gamma_fit = _finite(pl.alpha)
            xmin = _finite(fit.xmin)
        except Exception as e:  # the package raises assorted errors on degenerate data
            return _empty(n, f"the power-law fit failed ({e.__class__.__name__}: {e})")
        if gamma_fit is None or xmin is None:
            return _empty(n, "the power-law fit found no valid xmin")
        tail = x[x >= xmin]
        capped = gamma_fit >= gamma_max - 1e-6 or _loglik_slope_positive(tail, xmin, gamma_max, discrete)
        comparisons = {}
        for alt in ("exponential", "lognormal"):
            try:
                r, p = fit.distribution_compare("power_law", alt)
                comparisons[alt] = {"R": _finite(r), "p": _finite(p)}
            except Exception:  # a failed alternative fit leaves the comparison undecided
                comparisons[alt] = {"R": None, "p": None}
        ks = _finite(pl.D)
    n_tail = int(tail.size)
    result = {
        "gamma": None if capped else gamma_fit,
        "sigma": None if capped else (gamma_fit - 1.0) / math.sqrt(n_tail),
        "xmin": float(xmin),
        "ks": ks,
        "n_tail": n_tail,
        "n": n,
        "capped": bool(capped),
        "vs_exponential": comparisons["exponential"],
        "vs_lognormal": comparisons["lognormal"],
        "method": method,
    }
    if capped:
        result["reason"] = f"gamma at the bound {gamma_max:g}: not a power law"
    return result


def degree_gammas(stack: LayerStack | Any, gamma_min: float = 1.01, gamma_max: float = 10.0) -> list[dict[str, Any]]:
    """Per layer: ``{"layer": name, "inputs": fit of the input neurons' out-degrees, "outputs": fit of the output
    neurons' in-degrees}`` (each a :func:`fit_gamma` result)."""
    stack = as_stack(stack)
    return [
        {
            "layer": name,
            "inputs": fit_gamma(input_degrees(m), gamma_min, gamma_max),
            "outputs": fit_gamma(output_degrees(m), gamma_min, gamma_max),
        }
        for m, name in zip(stack.masks, stack.names, strict=True)
    ]
