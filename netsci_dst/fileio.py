"""Temporary names for atomic writes: short, unique, hidden, in the target's folder.

Every file dstnet writes goes to a temporary file in the same folder first and is renamed over the target
(``os.replace``), so a crash or a full disk never leaves a half-written file under the real name. The temporary
name does not grow with the target's name (a 250-character file name would otherwise push it past the file-system
limit) and holds the process id and a random part, so two processes, or a stale file from a killed one, never
collide.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["temp_path"]


def temp_path(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A fresh temporary path beside ``path``: ``.dstnet-<pid>-<random><suffix>``."""
    return Path(path).parent / f".dstnet-{os.getpid()}-{secrets.token_hex(4)}{suffix}"
