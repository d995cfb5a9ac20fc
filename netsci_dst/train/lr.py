"""Learning-rate schedules of the Transformer trainer: noam and the papers' "inoam".

noam [Vaswani et al. 2017, eq. 3]: ``lr(t) = factor * d_model^-0.5 * min(t^-0.5, t * warmup^-1.5)`` for the 1-based
step ``t``: a linear warm-up to the peak at ``t = warmup``, then inverse-square-root decay.

inoam ("iterative noam", the Cannistraci-Hebb papers' Transformer runs [CHTs, CHTss], OpenNMT-py option
``-decay_method inoam``): noam times a short linear re-warm-up after every topology update, so the freshly regrown
links (weight 0, Adam moments 0) are not hit by a full-size step at once. The released code multiplies by
``min(1, (t mod interval) / rewarmup)``; that also damps the first ``rewarmup`` steps of training and gives the
step that coincides with an update a learning rate of exactly 0. dstnet counts from the latest update instead:
``min(1, (t - t_update) / rewarmup)``, where ``t_update`` is the step after which the latest update ran, so the
``rewarmup`` steps that follow each update ramp ``1/rewarmup, 2/rewarmup, ..., 1`` and no step is wasted.
"""

from __future__ import annotations

__all__ = ["inoam", "noam"]


def noam(step: int, d_model: int, warmup: int, factor: float = 1.0) -> float:
    """The noam learning rate at 1-based ``step`` (see the module docstring)."""
    if step < 1:
        raise ValueError(f"noam steps are 1-based, got {step}")
    if warmup < 1:
        raise ValueError(f"warmup must be >= 1, got {warmup}")
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def inoam(
    step: int,
    d_model: int,
    warmup: int,
    factor: float = 1.0,
    *,
    last_update_step: int | None = None,
    rewarmup: int = 20,
) -> float:
    """noam with a linear re-warm-up over the ``rewarmup`` steps after the latest topology update.

    Args:
        step: the 1-based step about to be taken.
        d_model, warmup, factor: the noam parameters.
        last_update_step: the step count at which the latest topology update ran (it runs after that optimizer
            step), or ``None`` before any update (plain noam).
        rewarmup: the re-warm-up length in steps (20 in the papers); 0 turns it off.
    """
    lr = noam(step, d_model, warmup, factor)
    if last_update_step is None or rewarmup <= 0:
        return lr
    since = step - last_update_step
    return lr * min(1.0, max(since, 0) / rewarmup)
