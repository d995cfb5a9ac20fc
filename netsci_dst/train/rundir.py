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
from pathlib import Path
from typing import Any

import numpy as np

try:  # POSIX; elsewhere run directories are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import temp_path
from netsci_dst.graph import LayerStack, save_npz


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
        process on the same directory is refused with one line instead of interleaving its files with this one's."""
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
            raise DstnetError(
                f"{self.root} is in use by another dstnet process (pid {holder}): wait for it, or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            self._lock_fd = None
            os.close(fd)  # closing releases the flock

    def check_fresh(self) -> None:
        """Refuse to start a new run where another run left its files (metrics, mask snapshots, checkpoints) but no
        checkpoint to resume from: the new run would append to the old metrics and mix the snapshots."""
        leftovers = []
        if self.metrics.exists() and self.metrics.stat().st_size:
            leftovers.append("metrics.jsonl")
        if self.masks.is_dir() and any(self.masks.glob("update_*.npz")):
            leftovers.append("masks/update_*.npz")
        if self.checkpoints.is_dir() and any(self.checkpoints.glob("*.pt")):
            leftovers.append("checkpoints/*.pt")
        if leftovers:
            raise DstnetError(
                f"{self.root} already holds another run's {', '.join(leftovers)}: resume it (--resume) or choose an "
                "empty --out"
            )

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.root / name
        tmp = temp_path(path)
        try:
            tmp.write_text(json.dumps(finite_or_none(data), indent=2, default=_plain, allow_nan=False) + "\n")
            os.replace(tmp, path)
        finally:  # nothing half-written is left behind (a full disk, a crash)
            tmp.unlink(missing_ok=True)
        return path

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one record; a non-finite number (a diverged loss) is written as ``null``: strict JSON."""
        with open(self.metrics, "a") as f:
            f.write(json.dumps(finite_or_none(record), default=_plain, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records (empty when the log does not exist yet)."""
        return read_jsonl(self.metrics) if self.metrics.exists() else []

    def write_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace the log with ``records`` (on resume: exactly the epochs the checkpoint holds)."""
        tmp = temp_path(self.metrics)
        try:
            tmp.write_text("".join(json.dumps(r, default=_plain) + "\n" for r in records))
            os.replace(tmp, self.metrics)
        finally:  # nothing half-written is left behind (a full disk, a crash)
            tmp.unlink(missing_ok=True)

    def rewind(self, records: list[dict[str, Any]], snapshots: int) -> None:
        """Roll the run back to a checkpoint on resume: the metrics log becomes ``records`` (what the checkpoint
        holds) and mask snapshots after the first ``snapshots`` are deleted (the resumed run writes them again)."""
        self.write_metrics(records)
        for extra in self.mask_snapshots()[snapshots:]:
            extra.unlink()

    def save_masks(self, update: int, masks: dict[str, Any], meta: dict[str, Any]) -> Path:
        """Save one snapshot as a compact .npz (sparse link indices, compressed)."""
        names = list(masks)
        stack = LayerStack([masks[n].detach().cpu().numpy() for n in names], names, dict(meta))
        return save_npz(stack, self.masks / f"update_{update:05d}.npz")

    def mask_snapshots(self) -> list[Path]:
        return sorted(self.masks.glob("update_*.npz"))


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a JSON-lines file (blank lines skipped); a clear error names the first bad line."""
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
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            raise DstnetError(f"{path}:{lineno}: not a JSON object")
        records.append(record)
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
