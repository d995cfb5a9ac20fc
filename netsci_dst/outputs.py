"""Where a command may write its output file: never over its own input, never into a training run's own files.

Every dstnet command that writes a file the user names (``export -o``, ``analyze --json/--csv``, ``linkpred -o``,
``generate -o/--plot``, ``plot -o``, ``evaluate -o``) checks the name with :func:`check_output_path` before it
reads or computes anything, so a slip of the keyboard (``-o runs/chts/checkpoints/latest.pt``) costs a one-line
error, not a training run.

A *run directory* is a folder holding a ``config.json`` beside a ``metrics.jsonl`` or a ``checkpoints/`` folder
(:class:`~netsci_dst.train.rundir.RunDir`, or a run kept in ``benchmarks/results``). Its own files are the ones the
trainer, ``--resume`` and the analyzers read: :data:`RUN_FILES` at its top and everything in :data:`RUN_FOLDERS`.
Other files in a run directory (``runs/chts/analysis.json``) are the user's and may be written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from netsci_dst.errors import DstnetError

__all__ = ["RUN_FILES", "RUN_FOLDERS", "check_output_path", "is_run_directory", "run_owning"]

#: Files at the top of a run directory that the trainer and the analyzers read.
RUN_FILES = frozenset({"config.json", "metrics.jsonl", "summary.json", "evolution.json", ".lock"})
#: Folders of a run directory whose every file belongs to the run (checkpoints, mask snapshots).
RUN_FOLDERS = frozenset({"checkpoints", "masks"})


def is_run_directory(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a training run's directory: a ``config.json`` beside ``metrics.jsonl`` or
    ``checkpoints/``, or, its config lost, a checkpoint in ``checkpoints/`` or a snapshot in ``masks/`` (such a
    folder still resumes and analyses)."""
    folder = Path(folder)
    if (folder / "config.json").is_file() and (
        (folder / "metrics.jsonl").is_file() or (folder / "checkpoints").is_dir()
    ):
        return True
    return any((folder / "checkpoints").glob("*.pt")) or any((folder / "masks").glob("update_*.npz"))


def _resolved(path: str | os.PathLike, option: str) -> Path:
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as e:  # a symbolic-link loop
        raise DstnetError(f"{option} {path}: cannot follow the path ({e})") from None


def run_owning(path: str | os.PathLike, option: str = "path") -> Path | None:
    """The run directory that ``path`` (existing or not) would be one of the own files of, or ``None``: a top-level
    run file (:data:`RUN_FILES`), or anything at any depth under a run's :data:`RUN_FOLDERS`."""
    p = _resolved(path, option)
    if p.name in RUN_FILES and is_run_directory(p.parent):
        return p.parent
    for folder in p.parents:
        if folder.name in RUN_FOLDERS and is_run_directory(folder.parent):
            return folder.parent
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(
    path: str | os.PathLike,
    option: str,
    *,
    suffixes: Iterable[str] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
) -> Path:
    """``path`` as a :class:`~pathlib.Path` if ``option`` (``"-o"``, ``"--json"``) may write it; otherwise a
    :class:`DstnetError` naming the reason.

    Refused: a folder; a file in a folder that does not exist; a path that cannot be followed (a link loop); an
    existing target that is not a regular file (a device or a pipe, which the atomic rename would replace); a suffix
    outside ``suffixes`` (case-insensitive, when given); one of the command's ``inputs`` (the same file, through
    any link); and any own file of a run directory (:func:`run_owning`), which a write would corrupt: its
    checkpoints, mask snapshots and logs.
    """
    p = Path(path)
    resolved = _resolved(p, option)
    if p.is_dir():
        raise DstnetError(f"{option} {path}: is a folder, give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DstnetError(f"{option} {path}: folder {parent} does not exist")
    if suffixes is not None:
        allowed = list(dict.fromkeys(s.lower() for s in suffixes))
        if p.suffix.lower() not in allowed:
            names = ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else allowed[0]
            raise DstnetError(f"{option} {path}: use a {names} file name")
    if resolved.exists() and not resolved.is_file():  # a device, a pipe: the atomic rename would replace it
        raise DstnetError(f"{option} {path}: is not a regular file")
    for source in inputs:
        source = Path(source)
        if _same_file(p, source) or resolved == _resolved(source, "input"):
            raise DstnetError(f"{option} {path}: is the input {source} itself; write to another file")
    run = run_owning(p, option)
    if run is not None:
        raise DstnetError(
            f"{option} {path}: is one of the files of the training run {run}; writing it would corrupt the run, "
            "write to a file outside its checkpoints/ and masks/ folders"
        )
    return p
