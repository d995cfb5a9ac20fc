"""Atomic writes: short, unique, hidden temporary names in the target's folder, renamed over the target.

Every file dstnet writes goes to a temporary file in the same folder first and is renamed over the target
(``os.replace``), so a crash or a full disk never leaves a half-written file under the real name, and a failed
write removes its temporary file. The temporary name does not grow with the target's name (a 250-character file
name would otherwise push it past the file-system limit) and holds the process id and a random part, so two
processes never collide; a temporary file left by a killed process is recognisable by its dead process id
(:func:`remove_stale_temps`), and no reader mistakes it for data (its name starts with ``.dstnet-``).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write", "remove_stale_temps", "temp_path"]

#: Longest target suffix a temporary name keeps (``.png``, ``.npz``); longer ones are dropped.
MAX_KEPT_SUFFIX = 16
_TEMP = re.compile(r"\.dstnet-(\d+)-[0-9a-f]{8}(\.[^/]*)?")


def temp_path(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A fresh temporary path beside ``path``: ``.dstnet-<pid>-<random><suffix>``."""
    return Path(path).parent / f".dstnet-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


@contextmanager
def atomic_path(path: str | os.PathLike, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; flushed to disk and renamed over ``path`` when the block
    ends without error, removed otherwise (a full disk, an exception, Ctrl-C).

    ``keep_suffix``: end the temporary name with ``path``'s suffix, for writers that choose the format by it
    (matplotlib, ``numpy.savez``); a suffix longer than :data:`MAX_KEPT_SUFFIX` is not kept.
    """
    path = Path(path)
    kept = path.suffix if keep_suffix and len(path.suffix) <= MAX_KEPT_SUFFIX else ""
    tmp = temp_path(path, ".tmp" + kept)
    try:
        yield tmp
        _sync(tmp)
        os.replace(tmp, path)
    except Exception as e:
        failed = _write_failure(e)
        if failed is not None and failed is not e:  # a writer's cleanup tripped over the full disk: report the disk
            raise failed from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


#: The errors of a write the disk refused: full, quota exceeded, file too large, input/output error.
WRITE_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def _write_failure(error: BaseException) -> OSError | None:
    """The first write failure (:data:`WRITE_FAILURES`) among ``error`` and the exceptions it was raised while
    handling (matplotlib's PDF writer, for one, fails its own cleanup after the disk refused a write)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in WRITE_FAILURES:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _sync(path: Path) -> None:
    """Flush ``path``'s data to the disk before it is renamed into place: a full disk that the writes did not
    report surfaces here, while the target is still untouched."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_args: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)``, atomically (:func:`atomic_path`): the data goes to a temporary file, is flushed to disk
    and renamed over ``path`` when the block ends without error; on any error the temporary file is removed and
    ``path`` is untouched."""
    with atomic_path(path) as tmp, open(tmp, mode, **open_args) as f:
        yield f


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process (or an absurd pid): leave its files alone
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writes killed before their rename left in ``folder`` (those whose process
    is gone); returns them. Call it where this process owns the folder (a locked run directory)."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _TEMP.fullmatch(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
