"""The checks of a random seed given as a plain integer: any seed, and a training run's seed."""

from __future__ import annotations

import numbers
from typing import Any

from netsci_dst.errors import DstnetError

__all__ = ["MAX_TRAINING_SEED", "check_seed", "check_training_seed"]

#: Training seeds are below this (what numpy's and most DST code's seeds allow; the per-epoch shuffle seed
#: ``seed * 1,000,003 + epoch`` then fits torch's 64-bit generator).
MAX_TRAINING_SEED = 2**32


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an ``int`` when it is a non-negative integer (numpy's generators refuse negative seeds; a
    ``bool`` is refused too); a :class:`DstnetError` naming ``name`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DstnetError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_training_seed(seed: Any) -> int:
    """``seed`` as an ``int`` when it is an integer in ``[0, 2**32)`` (:data:`MAX_TRAINING_SEED`); a
    :class:`DstnetError` otherwise, before anything is built or written."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < MAX_TRAINING_SEED:
        raise DstnetError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)
