"""The run directory: metrics log, checkpoints and per-update mask snapshots of one training run.

Layout (docs/checkpoint.md)::

    RUN_DIR/
      config.json           the full configuration (train + method), written at the start
      metrics.jsonl         one JSON object per epoch (loss, accuracies, density, ANP, overlap, time)
      checkpoints/latest.pt the last completed epoch (resume from here)
      checkpoints/best.pt   the epoch with the best test accuracy
      checkpoints/epoch_NNNN.pt   every N epochs when asked
      masks/update_NNNNN.npz      the sparse layers' masks after each topology update (00000: the initial masks)
      summary.json          final accuracy, best accuracy, AAE, time (written at the end)
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

try:  # POSIX; elsewhere run directories are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import atomic_write, remove_stale_temps
from netsci_dst.graph import LayerStack, save_npz

#: The name of a mask snapshot file: ``update_NNNNN.npz`` (group 1: the update number).
SNAPSHOT = re.compile(r"update_(\d+)\.npz")


def _is_run_config(path: Path) -> bool:
    """Whether ``path`` is a config.json a dstnet trainer wrote (a JSON object with a ``train`` object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("train"), dict)


class RunDirBusy(DstnetError):
    """Another process holds the run directory's lock (:meth:`RunDir.lock`)."""


class RunDir:
    """Paths and writers of one run directory."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def masks(self) -> Path:
        return self.root / "masks"

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def resume_point(self) -> Path:
        """The checkpoint a resume starts from: ``latest.pt``, or ``best.pt`` when a kill came between the first
        ``best.pt`` and the first ``latest.pt`` (the commit order writes ``best.pt`` first; it then holds the whole
        state of that evaluation, so resuming from it recomputes nothing and loses nothing). ``latest.pt`` (absent)
        when neither exists."""
        if not self.latest.exists() and self.best.exists():
            return self.best
        return self.latest

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:04d}.pt"

    def create(self) -> RunDir:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.masks.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def lock(self) -> None:
        """Claim the run directory for this process until :meth:`unlock` (or the process ends): a second training
        process on the same directory is refused with one line instead of interleaving its files with this one's.
        The owner then removes the temporary files that killed writes left
        (:func:`~netsci_dst.fileio.remove_stale_temps`)."""
        if fcntl is None or getattr(self, "_lock_fd", None) is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise RunDirBusy(
                f"{self.root} is in use by another dstnet process (pid {holder}): wait for it, or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        for folder in (self.root, self.checkpoints, self.masks):
            remove_stale_temps(folder)

    def unlock(self) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            self._lock_fd = None
            os.close(fd)  # closing releases the flock

    def check_fresh(self) -> None:
        """Refuse to start a new run where another run left its files (metrics, mask snapshots, checkpoints) but no
        checkpoint to resume from: the new run would append to the old metrics and mix the snapshots. Refuse too a
        folder inside another run's ``checkpoints/`` or ``masks/``, and one holding a ``summary.json``,
        ``evolution.json`` or a ``config.json`` that no dstnet trainer wrote (the user's files, which the run would
        replace)."""
        from netsci_dst.outputs import run_owning

        owner = run_owning(self.root / "config.json", "--out")
        if owner is not None and owner != self.root.resolve():
            raise DstnetError(
                f"{self.root} is inside the checkpoints/ or masks/ folder of the run {owner}: choose another --out"
            )
        leftovers = []
        for name in ("summary.json", "evolution.json"):  # written only at a run's end: another run's, or the user's
            if (self.root / name).exists():
                leftovers.append(name)
        config = self.root / "config.json"
        if config.exists() and not _is_run_config(config):
            leftovers.append("config.json (not a dstnet run's)")
        if self.metrics.exists() and self.metrics.stat().st_size:
            leftovers.append("metrics.jsonl")
        if self.mask_snapshots():
            leftovers.append("masks/update_*.npz")
        if self.checkpoints.is_dir() and any(self.checkpoints.glob("*.pt")):
            leftovers.append("checkpoints/*.pt")
        if leftovers:
            raise DstnetError(
                f"{self.root} already holds {', '.join(leftovers)}: resume the run there (--resume) or choose an "
                "empty --out"
            )

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.root / name
        with atomic_write(path) as f:
            f.write(json.dumps(finite_or_none(data), indent=2, default=_plain, allow_nan=False) + "\n")
        return path

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one record; a non-finite number (a diverged loss) is written as ``null``: strict JSON."""
        with open(self.metrics, "a") as f:
            f.write(json.dumps(finite_or_none(record), default=_plain, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_json(self, name: str) -> dict[str, Any] | None:
        """The JSON object file ``name`` of the run (``summary.json``); ``None`` when absent, one
        :class:`DstnetError` line when unreadable or not a JSON object."""
        path = self.root / name
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise DstnetError(f"{path}: unreadable ({e.__class__.__name__}: {e})") from None
        if not isinstance(data, dict):
            raise DstnetError(f"{path}: a JSON {type(data).__name__}, not an object")
        return finite_or_none(data)

    def read_config(self) -> dict[str, Any]:
        """``config.json`` checked by :func:`check_config` (``{}`` when absent)."""
        config = self.read_json("config.json")
        if config is None:
            return {}
        check_config(config, str(self.root / "config.json"))
        return config

    def read_metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records (empty when the log does not exist yet)."""
        return read_jsonl(self.metrics) if self.metrics.exists() else []

    def write_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace the log with ``records`` (on resume: exactly the epochs the checkpoint holds)."""
        with atomic_write(self.metrics) as f:
            f.write("".join(json.dumps(finite_or_none(r), default=_plain, allow_nan=False) + "\n" for r in records))

    def rewind(self, records: list[dict[str, Any]], snapshots: int) -> None:
        """Roll the run back to a checkpoint on resume: the metrics log becomes ``records`` (what the checkpoint
        holds) and mask snapshots after the first ``snapshots`` are deleted (the resumed run writes them again).

        Only the directory's owner rewinds: the lock is taken for the rewind (and kept if this instance already held
        it), so a resume never rewrites the files of a run another process is training.
        """
        held = getattr(self, "_lock_fd", None) is not None
        self.lock()
        try:
            self.write_metrics(records)
            for extra in self.mask_snapshots()[snapshots:]:
                extra.unlink()
        finally:
            if not held:
                self.unlock()

    def save_masks(self, update: int, masks: dict[str, Any], meta: dict[str, Any]) -> Path:
        """Save one snapshot as a compact .npz (sparse link indices, compressed)."""
        names = list(masks)
        stack = LayerStack([masks[n].detach().cpu().numpy() for n in names], names, dict(meta))
        return save_npz(stack, self.masks / f"update_{update:05d}.npz")

    def mask_snapshots(self) -> list[Path]:
        """The mask snapshot files ``masks/update_NNNNN.npz``, in update order; other files there (a temporary file
        a killed write left, ``update_00003.npz.tmp.npz`` from older versions) are not snapshots."""
        if not self.masks.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.masks.iterdir() if (m := SNAPSHOT.fullmatch(p.name))]
        return [p for _, p in sorted(found) if p.is_file()]


#: The ``train`` fields of a configuration that analysis and figures read, with their types.
TRAIN_FIELDS: dict[str, type | tuple[type, ...]] = {
    "method": str,
    "method_overrides": dict,
    "sparsity": (int, float),
    "seed": int,
    "epochs": int,
    "steps": int,
    "src": str,
    "tgt": str,
}
_KIND_NAMES = {str: "a name", dict: "a dict", (int, float): "a number", int: "an integer"}


def check_config(config: Any, where: str) -> None:
    """Refuse (one :class:`DstnetError` line starting with ``where``) a run configuration (``config.json``, a
    checkpoint's ``config``) whose parts are not of the types the trainers write: a dict whose ``train`` and
    ``model`` are dicts, ``method`` a dict or a name, ``sizes`` (also in ``train``) a list of positive integers,
    and the ``train`` fields that analysis and figures read (:data:`TRAIN_FIELDS`) of their types or null. The trainers
    check the rest of ``train`` when they resume."""
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise DstnetError(f"{where}: the configuration is not a dict of named fields")
    for key in ("train", "model"):
        if key in config and not isinstance(config[key], dict):
            raise DstnetError(f"{where}: config {key} is {type(config[key]).__name__}, not a dict")
    if "method" in config and not isinstance(config["method"], (dict, str)):
        raise DstnetError(f"{where}: config method is {type(config['method']).__name__}, not a dict or a name")
    train = config.get("train", {})
    for key, kind in TRAIN_FIELDS.items():
        value = train.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            raise DstnetError(f"{where}: config train {key} = {value!r} is not {_KIND_NAMES[kind]}")
    for sizes in (config.get("sizes", [1]), train.get("sizes", [1])):
        if not isinstance(sizes, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise DstnetError(f"{where}: config sizes = {sizes!r} is not a list of positive integers")


def check_record(record: Any, where: str) -> None:
    """Refuse (one :class:`DstnetError` line starting with ``where``) a metric record that is not a flat dict of
    numbers, booleans and nulls by field name, or whose ``epoch`` or ``step`` is not a non-negative integer: what the
    trainers write, and what resume, analysis and the figures may rely on."""
    if not isinstance(record, dict):
        raise DstnetError(f"{where}: not a JSON object")
    for key, value in record.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, (bool, int, float))):
            raise DstnetError(f"{where}: field {key!r} = {value!r} is not a number, a boolean or null")
    for key in ("epoch", "step"):
        value = record.get(key)
        if key in record and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise DstnetError(f"{where}: {key} = {value!r} is not a non-negative integer")


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The metric records of a JSON-lines log (blank lines skipped), each checked by :func:`check_record`, NaN and
    infinities as ``None``; a clear error names the first bad line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DstnetError(f"{path}: unreadable ({e})") from None
    records = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # ValueError: bad JSON, or an integer too long to convert
            record = None
        check_record(record, f"{path}:{lineno}")
        records.append(finite_or_none(record))  # a bare NaN written by older versions reads as null
    return records


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float (also inside dicts and lists) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, np.floating):
        return finite_or_none(float(value))
    return value


def _plain(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")
