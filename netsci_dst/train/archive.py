"""Completed runs kept in the repository: the few small files a reproduction's table and figures are made from.

A papers'-scale run takes up to 80 minutes here and a machine does not outlive its session, so a reproduction that
only looked in its run folder (runs/, ignored by git) would start over on every fresh clone. When a run is
complete, :func:`keep` copies its ``config.json``, ``summary.json`` and ``metrics.jsonl`` (kilobytes: no
checkpoint, no mask snapshot) to ``ARCHIVE/NAME``, a folder committed with the table; :func:`complete` finds a
complete run in the run folder or in the archive, so the reproduction scripts reuse every run kept and train only
the rest. An archived folder is a run directory to ``dstnet plot --kind comparison`` and ``--kind training``
(which read exactly these files); the topology-evolution figure needs the checkpoint's update history, so it is
drawn while the run folder is still there.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netsci_dst.errors import DstnetError

#: what a complete run's table row and its accuracy curves are made from
ARCHIVED_FILES = ("config.json", "summary.json", "metrics.jsonl")


def complete(name: str, out: str | Path, archive: str | Path | None) -> Path | None:
    """The folder holding complete run ``name`` (it has ``summary.json``): ``out/name`` first, then
    ``archive/name``; ``None`` when neither has it."""
    for root in (out, archive):
        if root is not None and (Path(root) / name / "summary.json").is_file():
            return Path(root) / name
    return None


def keep(run: Path, archive: str | Path | None) -> Path | None:
    """Copy complete run ``run``'s :data:`ARCHIVED_FILES` to ``archive/<run's name>`` (nothing without an archive,
    or when ``run`` is already there); returns the archived folder."""
    if archive is None:
        return None
    target = Path(archive) / run.name
    if target.resolve() == run.resolve():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVED_FILES:
        shutil.copyfile(run / name, target / name)
    return target


def train_or_reuse(
    out: str | Path, archive: str | Path | None, trainer_class: Any, config: Callable[[], Any], table_only: bool = False
) -> Path | None:
    """The folder of complete run ``out`` for a reproduction: reused when complete (in its run folder or kept in
    ``archive``), else resumed from its checkpoint or started with ``config()`` (``trainer_class``: a
    :class:`~netsci_dst.train.loop.Trainer`), trained to the end and kept; ``None`` with ``table_only`` when it is
    not complete, or when another process is training it (so copies of one reproduction started side by side
    share its runs, each taking those nobody trains)."""
    from netsci_dst.train.rundir import RunDir

    out = Path(out)
    found = complete(out.name, out.parent, archive)
    if found is not None:
        keep(found, archive)
        return found
    if table_only:
        return None
    if out.exists():  # several copies of one reproduction share the work: a run another one trains is left to it
        probe = RunDir(out)
        try:
            probe.lock()
        except DstnetError as e:
            print(f"skipped: {e}", file=sys.stderr, flush=True)
            return None
        probe.unlock()
    if RunDir(out).resume_point.exists():
        trainer = trainer_class.resume(out, progress=False)
    else:
        trainer = trainer_class(config(), out)
    trainer.train()
    keep(out, archive)
    return out
