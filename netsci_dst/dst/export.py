"""Export a trained sparse network as a plain state_dict: masks applied, no mask buffers, loadable anywhere.

dstnet's models carry each sparse layer's mask as the bool buffer ``<layer>.weight_mask`` (on either backend: the
sparse backend's ``state_dict`` has the same keys), so a plain model's strict ``load_state_dict`` and Hugging Face's
``from_pretrained`` would complain about the extra keys. The export multiplies every masked weight by its mask
(exact zeros off the links, also if something wrote there), drops the buffers and writes

* ``.pt``: ``torch.save`` of a plain dict of tensors (loads with ``torch.load(..., weights_only=True)``); with
  ``csr=True`` the sparse layers' weights are ``torch.sparse_csr`` tensors (``crow_indices``, ``col_indices``,
  ``values``: storage proportional to the links);
* ``.safetensors`` (the ``safetensors`` package, ``pip install 'netsci-dst[export]'``): dense tensors only.

:func:`load_export` reads either back with CSR weights made dense, ready for ``model.load_state_dict(...,
strict=True)`` on a fresh copy of the model. The topology history stays in the run directory.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import atomic_path

__all__ = ["EXPORT_SUFFIXES", "export_state_dict", "load_export", "save_export"]

EXPORT_SUFFIXES = (".pt", ".safetensors")
MASK_SUFFIX = ".weight_mask"


def export_state_dict(state: Mapping[str, Tensor], csr: bool = False) -> dict[str, Tensor]:
    """``state`` (a model's state_dict with ``<layer>.weight_mask`` buffers) with every ``<layer>.weight`` multiplied
    by its mask and the mask buffers dropped; ``csr=True``: those weights as sparse CSR tensors."""
    masks = {k[: -len(MASK_SUFFIX)]: v for k, v in state.items() if k.endswith(MASK_SUFFIX)}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.endswith(MASK_SUFFIX):
            continue
        if not isinstance(value, Tensor):
            raise DstnetError(f"{key}: not a tensor ({type(value).__name__})")
        layer = key[: -len(".weight")] if key.endswith(".weight") else None
        if layer in masks:
            mask = masks[layer]
            if mask.shape != value.shape or mask.dtype != torch.bool:
                raise DstnetError(
                    f"{layer}: mask {tuple(mask.shape)} {mask.dtype} does not fit weight {tuple(value.shape)}"
                )
            value = value.detach().masked_fill(~mask, 0)
            if csr:
                with warnings.catch_warnings():  # torch calls its CSR support beta on first use
                    warnings.simplefilter("ignore", UserWarning)
                    value = value.to_sparse_csr()
        out[key] = value.detach().clone() if not value.is_sparse_csr else value
    return out


def save_export(state: Mapping[str, Tensor], path: str | os.PathLike, csr: bool = False) -> Path:
    """Write :func:`export_state_dict` of ``state`` to ``path`` (``.pt`` or ``.safetensors``), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise DstnetError(f"{path}: use a .pt or .safetensors file name")
    if suffix == ".safetensors" and csr:
        raise DstnetError("safetensors holds dense tensors only: use a .pt file for CSR weights")
    if not path.parent.is_dir():
        raise DstnetError(f"{path.parent}: no such folder")
    exported = export_state_dict(state, csr=csr)
    writer = None
    if suffix == ".safetensors":
        try:
            from safetensors.torch import save_file
        except ImportError:
            raise DstnetError("writing .safetensors needs the safetensors package (pip install safetensors)") from None
        writer = save_file
    try:
        with atomic_path(path) as tmp:  # flushed to disk and renamed into place; a failed write leaves no partial file
            if writer is not None:
                writer({k: v.contiguous() for k, v in exported.items()}, str(tmp))
            else:
                torch.save(exported, tmp)
    except DstnetError:
        raise
    except Exception as e:  # torch and safetensors report a refused write as RuntimeError or their own error type
        detail = (getattr(e, "strerror", None) or str(e) or type(e).__name__).splitlines()[0]
        raise DstnetError(f"{path}: cannot write ({detail})") from None
    return path


def load_export(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read an export (``.pt`` or ``.safetensors``) with CSR weights made dense: ``model.load_state_dict(result,
    strict=True)`` on a fresh copy of the exported model."""
    path = Path(path)
    if not path.is_file():
        raise DstnetError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise DstnetError("reading .safetensors needs the safetensors package (pip install safetensors)") from None
    except Exception as exc:  # foreign or damaged files raise assorted errors
        raise DstnetError(f"{path}: not a readable export ({exc.__class__.__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise DstnetError(f"{path}: not an exported state_dict (a dict of tensors)")
    return {k: (v.to_dense() if v.is_sparse_csr else v) for k, v in state.items()}
