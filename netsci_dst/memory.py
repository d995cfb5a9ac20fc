"""How much memory is left, and refusing up front what would not fit in it.

Readers and commands that would allocate in proportion to a number taken from a file or an option (a layer's
neuron count, a beam width) first compute the bytes that number needs and call :func:`check_memory`, so an absurd
value is one line naming the bytes it would take, never a ``MemoryError``, a killed process or minutes of swapping.
"""

from __future__ import annotations

import os
from pathlib import Path

from netsci_dst.errors import DstnetError

__all__ = ["available_memory", "check_memory", "format_bytes"]

_CGROUP_FILES = (  # (limit, usage): cgroup v2, then v1
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _system_available() -> int:
    """``MemAvailable`` on Linux, the free pages elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no way to ask
        return 1 << 62


def available_memory() -> int:
    """Bytes of memory this process can still get: the system's available memory, or less when a container's
    memory limit (cgroup v2 or v1) leaves less."""
    free = _system_available()
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # v1 writes ~2**63 for "no limit"
            return max(0, min(free, limit - usage))
    return free


def format_bytes(n: int | float) -> str:
    """``n`` bytes for a message: ``512 B``, ``3.2 MiB``, ``7.5 GiB``, ``6.1 TiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_memory(need: int, what: str, hint: str = "", available: int | None = None) -> None:
    """Raise :class:`DstnetError` when ``need`` bytes exceed the memory available now (or ``available`` bytes: a
    GPU's free memory).

    The message reads ``{what} would need {need}; {available} are available`` followed by ``hint`` (what to
    change), e.g. ``check_memory(n * 8, "--beam 100000")``.
    """
    free = available_memory() if available is None else available
    if need > free:
        tail = f": {hint}" if hint else ""
        raise DstnetError(f"{what} would need {format_bytes(need)} of memory; {format_bytes(free)} are available{tail}")
