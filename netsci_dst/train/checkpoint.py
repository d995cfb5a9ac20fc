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
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import atomic_write
from netsci_dst.memory import check_memory
from netsci_dst.train.rundir import check_config, check_record

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
    with atomic_write(path, "wb") as f:
        torch.save(data, f)
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
    """Read a checkpoint safely (``weights_only=True``) and check its format, keys and the type of every field.

    The file must be a torch zip archive whose contents fit in the memory available (checked before loading). Every
    failure (missing, truncated or corrupt file, a pickle that tries to build objects, a wrong format, missing keys,
    a field of the wrong type: see :func:`check_fields`) is a :class:`DstnetError` with one line saying which, the
    same for every command that reads checkpoints (analyze, plot, export, translate, evaluate, resume).
    """
    path = Path(path)
    data = _read_plain(path, map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DstnetError(f"{path}: not a dstnet checkpoint (no format tag {FORMAT!r})")
    if data.get("version") != VERSION:
        raise DstnetError(f"{path}: checkpoint version {data.get('version')!r}, this dstnet reads {VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DstnetError(f"{path}: checkpoint lacks {', '.join(missing)}")
    try:
        check_fields(data)
    except DstnetError as e:
        raise DstnetError(f"{path}: {e}") from None
    return data


def _read_plain(path: Path, map_location: str | torch.device | None = "cpu") -> Any:
    """The plain data of a ``torch.save`` file, read with ``weights_only=True`` after :func:`_check_archive`; every
    failure one :class:`DstnetError` line."""
    if not path.is_file():
        raise DstnetError(f"{path}: no such checkpoint file")
    _check_archive(path)
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
    except Exception as e:  # torch's unpickler raises assorted errors (KeyError, RuntimeError, ...) on foreign data
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise DstnetError(f"{path}: not a readable checkpoint (truncated or corrupt: {msg})") from None
    return data


def load_engine_state(path: str | os.PathLike) -> dict[str, Any]:
    """A :class:`~netsci_dst.dst.engine.DSTEngine` ``state_dict()`` saved on its own (the Hugging Face callback's
    ``dstnet_engine.pt``), read as safely as a checkpoint and its fields typed (the engine checks the rest when it
    loads it)."""
    path = Path(path)
    data = _read_plain(path)
    try:
        _check_engine(data)
    except DstnetError as e:
        raise DstnetError(f"{path}: {e}") from None
    return data


def _check_archive(path: Path) -> None:
    """Refuse a file that is not a torch zip archive (torch's unpickler would read a text file as pickle opcodes:
    ``KeyError: 101``), or whose contents would not fit in the memory available."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            zip_start = f.read(4) == b"PK\x03\x04"
        what = "truncated or corrupt zip archive" if zip_start else "not a torch zip archive, as torch.save writes"
        raise DstnetError(f"{path}: not a readable checkpoint ({what})")
    try:
        with zipfile.ZipFile(path) as zf:
            size = sum(info.file_size for info in zf.infolist())
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise DstnetError(f"{path}: not a readable checkpoint (truncated or corrupt: {e})") from None
    check_memory(size, f"{path}: loading this checkpoint")


def check_fields(ckpt: dict[str, Any]) -> None:
    """Check the type of every field dstnet reads from a checkpoint, before anything uses one (one
    :class:`DstnetError` line naming the field; docs/checkpoint.md has the layout).

    ``kind`` a name; ``epoch``, ``step`` (and ``batch_pos``, ``snapshots`` when present) non-negative integers;
    ``model`` tensors by name, every ``<layer>.weight_mask`` a 2-D bool tensor of its weight's shape; ``config``
    (:func:`~netsci_dst.train.rundir.check_config`); ``metrics`` records
    (:func:`~netsci_dst.train.rundir.check_record`); ``engine`` a dict whose ``layers``, ``history``,
    ``structure`` and ``masks`` have their types; ``optimizer`` ``state`` and ``param_groups``; ``rng`` a dict;
    ``tokenizer`` a string. Ranges that depend on the run (an epoch beyond the run's end) are the resuming trainer's
    to check (:func:`checked_int`).
    """
    if not isinstance(ckpt.get("kind"), str) or not ckpt["kind"]:
        raise DstnetError(f"corrupt checkpoint: kind = {ckpt.get('kind')!r} is not a name")
    for key in ("epoch", "step", "batch_pos", "snapshots"):
        value = ckpt.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DstnetError(f"corrupt checkpoint: {key} = {value!r} is not an integer in [0, +inf)")
    _check_model(ckpt["model"])
    check_config(ckpt["config"], "corrupt checkpoint")
    if "metrics" in ckpt:
        checked_records(ckpt)
    if "engine" in ckpt:
        _check_engine(ckpt["engine"])
    if "optimizer" in ckpt:
        _check_optimizer(ckpt["optimizer"])
    if "rng" in ckpt:
        _check_dict(ckpt["rng"], "rng")
        if "torch" in ckpt["rng"]:
            _check_generator_state(ckpt["rng"]["torch"], "rng.torch")
    if "tokenizer" in ckpt and not isinstance(ckpt["tokenizer"], str):
        raise DstnetError(f"corrupt checkpoint: tokenizer is {type(ckpt['tokenizer']).__name__}, not a string")


#: Optimizer hyperparameters that must be numbers (``betas``: a pair of numbers) when a group has them.
_NUMERIC_HYPERPARAMETERS = ("lr", "initial_lr", "momentum", "dampening", "weight_decay", "eps", "betas")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_optimizer(optimizer: Any) -> None:
    """``optimizer``: a torch optimizer state dict; each parameter group's ``params`` distinct indices and its
    hyperparameters numbers (whether the groups fit the model is the resuming trainer's to check)."""
    _check_dict(optimizer, "optimizer")
    _check_dict(optimizer.get("state", {}), "optimizer.state", keys=(str, int))
    groups = optimizer.get("param_groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise DstnetError("corrupt checkpoint: optimizer.param_groups is not a list of dicts")
    seen: set[int] = set()
    for k, group in enumerate(groups):
        params = group.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in params):
            raise DstnetError(f"corrupt checkpoint: optimizer group {k} params is not a list of parameter indices")
        if seen & set(params) or len(set(params)) != len(params):
            raise DstnetError(f"corrupt checkpoint: optimizer group {k} repeats a parameter index")
        seen |= set(params)
        for key in _NUMERIC_HYPERPARAMETERS:
            value = group.get(key, 0.0)
            pair = key == "betas" and isinstance(value, (list, tuple)) and len(value) == 2
            if not (all(_is_number(v) for v in value) if pair else _is_number(value)):
                raise DstnetError(f"corrupt checkpoint: optimizer group {k} has {key} = {value!r}, not a number")


def _check_dict(value: Any, where: str, keys: tuple[type, ...] = (str,)) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, keys) for k in value):
        raise DstnetError(f"corrupt checkpoint: {where} is not a dict of named fields")


def _check_model(model: Any) -> None:
    """``model``: tensors by name; each ``weight_mask`` a 2-D bool tensor shaped like its layer's weight."""
    if not isinstance(model, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()
    ):
        raise DstnetError("corrupt checkpoint: model is not a dict of tensors by name")
    for key, mask in model.items():
        if not key.endswith(".weight_mask"):
            continue
        weight = model.get(key[: -len("_mask")])
        if mask.dtype != torch.bool or mask.dim() != 2:
            raise DstnetError(
                f"corrupt checkpoint: {key} is a {mask.dtype} tensor of shape {tuple(mask.shape)}, not a 2-D bool mask"
            )
        if weight is not None and weight.shape != mask.shape:
            raise DstnetError(
                f"corrupt checkpoint: {key} has shape {tuple(mask.shape)}, its weight {tuple(weight.shape)}"
            )


def _check_engine(engine: Any) -> None:
    """``engine``: the DST engine's state; the fields that analysis reads without the engine are typed here (the
    history rows by :func:`netsci_dst.dst.history.read_history`, the rest by the engine when it resumes)."""
    _check_dict(engine, "engine")
    layers = engine.get("layers", [])
    if not isinstance(layers, list) or not all(isinstance(n, str) for n in layers):
        raise DstnetError("corrupt checkpoint: engine.layers is not a list of layer names")
    if not isinstance(engine.get("history", []), list):
        raise DstnetError("corrupt checkpoint: engine.history is not a list of rows")
    structure = engine.get("structure")
    if structure is not None:
        _check_dict(structure, "engine.structure")
        for key in ("layers", "chains", "coupled"):
            value = structure.get(key, [])
            if not isinstance(value, list) or not all(
                isinstance(v, str) or (isinstance(v, list) and all(isinstance(n, str) for n in v)) for v in value
            ):
                raise DstnetError(f"corrupt checkpoint: engine.structure.{key} is not a list of layer names")
    for key in ("step", "total_steps", "n_updates"):
        value = engine.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DstnetError(f"corrupt checkpoint: engine.{key} = {value!r} is not an integer in [0, +inf)")
    if "generator" in engine:
        _check_generator_state(engine["generator"], "engine.generator", cpu=False)
    masks = engine.get("masks", {})
    _check_dict(masks, "engine.masks")
    for name, mask in masks.items():
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
            raise DstnetError(f"corrupt checkpoint: engine.masks[{name!r}] is not a 2-D bool mask")


T = TypeVar("T")


def restored(what: str, load: Callable[[], T]) -> T:
    """Run ``load`` (a ``load_state_dict`` of a model, optimizer or engine freshly built from the checkpoint's
    config) and answer a state that does not fit it in one :class:`DstnetError` line: "corrupt checkpoint: the
    model does not fit its config (size mismatch for layers.0.weight ...)". The type checks of :func:`check_fields`
    cannot see these (a tampered ``sizes``, an optimizer group of the wrong length, a generator state of another
    size): only the object that receives the state can, and torch says so in multi-line exceptions."""
    try:
        return load()
    except (DstnetError, MemoryError, torch.OutOfMemoryError):
        raise
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
        raise DstnetError(f"corrupt checkpoint: the {what} does not fit its config ({_first_detail(e)})") from None


def _first_detail(error: Exception) -> str:
    """The first informative line of a torch exception ("Error(s) in loading state_dict for MLP:" is a header)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Error(s) in loading")] or lines
    detail = lines[0] if lines else error.__class__.__name__
    return detail if len(detail) <= 200 else detail[:197] + "..."


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
    """``ckpt[key]`` as a list of metric records (:func:`~netsci_dst.train.rundir.check_record`), else a one-line
    :class:`DstnetError`."""
    records = ckpt.get(key)
    if not isinstance(records, list):
        raise DstnetError(f"corrupt checkpoint: {key} is not a list of records")
    for k, record in enumerate(records):
        check_record(record, f"corrupt checkpoint: {key}[{k}]")
    return [dict(r) for r in records]


def checked_rng(ckpt: dict[str, Any]) -> torch.Tensor:
    """The saved global torch RNG state, checked to be one (a uint8 tensor torch accepts)."""
    state = (ckpt.get("rng") or {}).get("torch") if isinstance(ckpt.get("rng"), dict) else None
    _check_generator_state(state, "rng.torch")
    return state


def _check_generator_state(state: Any, where: str, cpu: bool = True) -> None:
    """A generator's state: a 1-D uint8 tensor, of the size a CPU generator's state has when ``cpu`` (a CUDA
    generator's is shorter)."""
    size = torch.Generator().get_state().numel()
    if (
        not isinstance(state, torch.Tensor)
        or state.dtype != torch.uint8
        or state.dim() != 1
        or (cpu and state.numel() != size)
    ):
        raise DstnetError(f"corrupt checkpoint: {where} is not a torch RNG state")
