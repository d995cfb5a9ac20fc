"""Settings shared by every training task: the device, seeds, sample limits, the backend, stored paths.

Importable without torch (the configurations use it, and the CLI reads their defaults). Each check raises
:class:`~netsci_dst.errors.DstnetError` with one line, before anything is built or written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netsci_dst.backends import BACKENDS
from netsci_dst.errors import DstnetError

if TYPE_CHECKING:
    import torch


def resolved(path: str | None) -> str | None:
    """A data folder stored as an absolute path, so a run resumed from another working folder reads the same data."""
    return None if path is None else str(Path(path).expanduser().resolve())


def check_limits(cfg: Any, names: tuple[str, ...]) -> None:
    """Refuse a sample limit below 1 (Python slicing would quietly take all but the last few, or nothing)."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise DstnetError(f"{name.replace('_', '-')} must be a positive number of samples, got {value!r}")


def check_backend(backend: str) -> None:
    """Refuse an unknown execution backend (:data:`netsci_dst.backends.BACKENDS`)."""
    if backend not in BACKENDS:
        raise DstnetError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA if available, else Apple MPS, else CPU. Anything else is passed to ``torch.device``."""
    import torch

    local_rank = os.environ.get("LOCAL_RANK")  # under torchrun: one GPU per process
    if name in ("auto", "cuda") and local_rank is not None and torch.cuda.is_available():
        return torch.device("cuda", int(local_rank) % torch.cuda.device_count())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise DstnetError(f"unknown device {name!r} ({e})") from None
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise DstnetError(f"device {name!r}: dstnet trains on cpu, cuda, mps or xpu devices")
    available = {
        "cpu": lambda: True,
        "cuda": lambda: torch.cuda.is_available() and (dev.index is None or dev.index < torch.cuda.device_count()),
        "mps": lambda: getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
    }[dev.type]
    if not available():
        what = {"cuda": "CUDA (or that GPU)", "mps": "Apple MPS", "xpu": "an Intel XPU"}.get(dev.type, dev.type)
        raise DstnetError(f"device {name!r} asked for, but {what} is not available here")
    return dev
