"""The one check of a random seed given as a plain integer."""

from __future__ import annotations

import numbers
from typing import Any

from netsci_dst.errors import DstnetError

__all__ = ["check_seed"]


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an ``int`` when it is a non-negative integer (numpy's generators refuse negative seeds; a
    ``bool`` is refused too); a :class:`DstnetError` naming ``name`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DstnetError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)
