"""Completed runs kept in the repository: the few small files a reproduction's table and figures are made from.

A papers'-scale run takes up to 80 minutes here and a machine does not outlive its session, so a reproduction that
only looked in its run folder (runs/, ignored by git) would start over on every fresh clone. When a run is
complete, :func:`keep` copies its ``config.json``, ``summary.json`` and ``metrics.jsonl`` (kilobytes: no
checkpoint, no mask snapshot) to ``ARCHIVE/NAME``, a folder committed with the table, with ``evolution.json``,
the data of its topology-evolution figure (per update: density and ANP of each layer, and the engine history;
:mod:`netsci_dst.analysis.evolution_record`); :func:`complete` finds a complete run in the run folder or in the
archive, so the reproduction scripts reuse every run kept and train only the rest. An archived folder is a run
directory to ``dstnet plot --kind comparison``, ``--kind training`` and ``--kind evolution``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netsci_dst.analysis.evolution_record import EVOLUTION_FILE
from netsci_dst.errors import DstnetError
from netsci_dst.fileio import atomic_write

#: what a complete run's table row and its accuracy curves are made from (summary.json, the mark of a complete
#: run, written last)
ARCHIVED_FILES = ("config.json", "metrics.jsonl", "summary.json")


def complete(name: str, out: str | Path, archive: str | Path | None) -> Path | None:
    """The folder holding complete run ``name`` (it has ``summary.json``): ``out/name`` first, then
    ``archive/name``; ``None`` when neither has it."""
    for root in (out, archive):
        if root is not None and (Path(root) / name / "summary.json").is_file():
            return Path(root) / name
    return None


def keep(run: Path, archive: str | Path | None) -> Path | None:
    """Copy complete run ``run``'s :data:`ARCHIVED_FILES` to ``archive/<run's name>``, with its ``evolution.json``
    (:func:`keep_evolution`); nothing without an archive, when ``run`` is already there, or when it was kept
    before (the same ``summary.json``). Returns the archived folder."""
    if archive is None:
        return None
    target = Path(archive) / run.name
    if target.resolve() == run.resolve():
        return target
    from netsci_dst.train.rundir import RunDir

    snapshots = bool(RunDir(run).mask_snapshots())
    kept = target / "summary.json"
    if kept.is_file() and kept.read_bytes() == (run / "summary.json").read_bytes():
        if not snapshots or (target / EVOLUTION_FILE).is_file():
            return target  # kept before, with its evolution where it has one
    target.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVED_FILES:  # each atomically, summary.json (what makes a kept run complete) last
        if name == "summary.json":
            keep_evolution(run, target, snapshots)
        with atomic_write(target / name, "wb") as f:
            f.write((run / name).read_bytes())
    return target


def keep_evolution(run: Path, target: Path, snapshots: bool) -> None:
    """Write the evolution figure's data of ``run`` to ``target/evolution.json`` when it has mask ``snapshots``
    (:mod:`netsci_dst.analysis.evolution_record`; else remove a stale one), so the figure can be drawn from the
    kept run. A run whose evolution cannot be read is still kept, with a warning: its table row does not need it."""
    from netsci_dst.analysis.evolution_record import evolution_record, write_evolution
    from netsci_dst.analysis.targets import load_target

    path = target / EVOLUTION_FILE
    if not snapshots:
        path.unlink(missing_ok=True)
        return
    try:
        write_evolution(evolution_record(load_target(run)), path)
    except DstnetError as e:
        path.unlink(missing_ok=True)
        print(f"warning: {run} kept without its {EVOLUTION_FILE}: {e}", file=sys.stderr, flush=True)


#: Settings an archived run must share with the reproduction that reuses it (where the reproduction sets them)
CHECKED_SETTINGS = (
    "method", "method_overrides", "sparsity", "dataset", "sizes", "epochs", "steps", "preset", "seed",
    "train_limit", "test_limit", "batch_size", "lr",
)  # fmt: skip


def check_same_settings(run: Path, wanted: dict[str, Any]) -> None:
    """Refuse (one :class:`DstnetError` line) to reuse complete run ``run`` when its ``config.json`` differs from
    ``wanted`` (a config's ``to_dict()``) in a :data:`CHECKED_SETTINGS` field the reproduction sets: a quick
    1-epoch run kept in an archive must not stand in for a 100-epoch one."""
    from netsci_dst.train.rundir import RunDir

    stored = RunDir(run).read_config().get("train", {})  # the validating reader: one line when unreadable
    wanted = json.loads(json.dumps(wanted, default=str))  # tuples as lists, as config.json has them
    differ = [
        f"{key} {stored.get(key)!r} (asked: {wanted[key]!r})"
        for key in CHECKED_SETTINGS
        if wanted.get(key) is not None and key in stored and stored[key] != wanted[key]
    ]
    if differ:
        raise DstnetError(
            f"{run}: a complete run with other settings ({', '.join(differ)}): move it away or use another "
            "--out/--archive"
        )


def train_or_reuse(
    out: str | Path, archive: str | Path | None, trainer_class: Any, config: Callable[[], Any], table_only: bool = False
) -> Path | None:
    """The folder of complete run ``out`` for a reproduction: reused when complete (in its run folder or kept in
    ``archive``) with the same settings (:func:`check_same_settings`), else resumed from its checkpoint or started
    with ``config()`` (``trainer_class``: a :class:`~netsci_dst.train.loop.Trainer`), trained to the end and kept;
    ``None`` with ``table_only`` when it is not complete, or when another process is training it (so copies of one
    reproduction started side by side share its runs, each taking those nobody trains)."""
    from netsci_dst.train.rundir import RunDir, RunDirBusy

    out = Path(out)
    found = complete(out.name, out.parent, archive)
    if found is not None:
        check_same_settings(found, config().to_dict())
        keep(found, archive)
        return found
    if table_only:
        return None
    try:
        if RunDir(out).resume_point.exists():
            trainer = trainer_class.resume(out, progress=False)
        else:
            trainer = trainer_class(config(), out)
        trainer.train()
    except RunDirBusy as e:
        print(f"skipped: {e}", file=sys.stderr, flush=True)
        return None
    keep(out, archive)
    return out


def write_block(path: str | Path, tag: str, text: str) -> None:
    """Put a reproduction's generated ``text`` (a table, a measured line) in ``path`` (the README) between the
    lines ``<!-- TAG -->`` and ``<!-- /TAG -->``, replacing what stood there: tables are written, never typed."""
    path = Path(path)
    start, end = f"<!-- {tag} -->", f"<!-- /{tag} -->"
    content = path.read_text()
    if start not in content or end not in content:
        raise DstnetError(f"{path} has no '{start}' ... '{end}' block to fill")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    with atomic_write(path) as f:
        f.write(f"{head}{start}\n{text}\n{end}{tail}")
