"""Checkpoints that can be trusted: a plain dict, written atomically, loaded without unpickling code.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts (the format is documented in
docs/checkpoint.md). It is written to a temporary file in the same folder, flushed to disk, and renamed over the
target, so a crash mid-write leaves the previous checkpoint intact. It is read with
``torch.load(weights_only=True)``, which refuses any pickle that would construct arbitrary objects or run code.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import temp_path

FORMAT = "dstnet-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "kind", "epoch", "step", "model", "config")


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` (with ``format``/``version`` added) atomically to ``path``.

    Raises :class:`DstnetError` if the payload holds something ``weights_only`` loading could not read back.
    """
    path = Path(path)
    data = {"format": FORMAT, "version": VERSION, **payload}
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DstnetError(f"checkpoint payload lacks {missing}")
    _check_plain(data, "checkpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


_PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.dtype, torch.device)


def _check_plain(obj: Any, where: str) -> None:
    if isinstance(obj, _PLAIN):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise DstnetError(f"{where}: key {k!r} is not a string or integer")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise DstnetError(f"{where}: {type(obj).__name__} cannot go in a checkpoint (plain data and tensors only)")


def load_checkpoint_of_kind(path: str | os.PathLike, kind: str, run_name: str) -> dict[str, Any]:
    """:func:`load_checkpoint`, refusing a checkpoint of another ``kind`` with one line ("a 'mlp' checkpoint, not a
    Transformer run"); ``run_name`` names the expected kind of run in that message."""
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != kind:
        raise DstnetError(f"{path}: a {ckpt.get('kind')!r} checkpoint, not {run_name}")
    return ckpt


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``) and check its format and keys.

    Every failure (missing, truncated or corrupt file, a pickle that tries to build objects, a wrong format or
    missing keys) is a :class:`DstnetError` with one line saying which.
    """
    path = Path(path)
    if not path.is_file():
        raise DstnetError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; our error says it all
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found:  # the pickle asks to import and call something: never executed
            raise DstnetError(
                f"{path}: refused to load: the file holds objects other than plain data (it asks for {found.group(1)})"
            ) from None
        raise DstnetError(f"{path}: not a readable checkpoint (truncated or corrupt pickle data)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise DstnetError(f"{path}: not a readable checkpoint (truncated or corrupt: {msg})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DstnetError(f"{path}: not a dstnet checkpoint (no format tag {FORMAT!r})")
    if data.get("version") != VERSION:
        raise DstnetError(f"{path}: checkpoint version {data.get('version')!r}, this dstnet reads {VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DstnetError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def checked_int(ckpt: dict[str, Any], key: str, low: int, high: int) -> int:
    """``ckpt[key]`` as an int in ``[low, high]``, else a one-line :class:`DstnetError` (a tampered or foreign
    checkpoint must not steer a resumed run: a negative epoch would train extra epochs, a negative snapshot counter
    would delete every mask snapshot)."""
    value = ckpt.get(key)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DstnetError(f"corrupt checkpoint: {key} = {value!r} is not an integer in [{low}, {high}]")
    return value


def checked_records(ckpt: dict[str, Any], key: str = "metrics") -> list[dict[str, Any]]:
    """``ckpt[key]`` as a list of dicts, else a one-line :class:`DstnetError`."""
    records = ckpt.get(key)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DstnetError(f"corrupt checkpoint: {key} is not a list of records")
    return [dict(r) for r in records]


def checked_rng(ckpt: dict[str, Any]) -> torch.Tensor:
    """The saved global torch RNG state, checked to be one (a uint8 tensor torch accepts)."""
    state = (ckpt.get("rng") or {}).get("torch") if isinstance(ckpt.get("rng"), dict) else None
    if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.dim() != 1:
        raise DstnetError("corrupt checkpoint: rng.torch is not a torch RNG state")
    return state
