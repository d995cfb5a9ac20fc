"""The small real dataset shipped with dstnet (data/mnist-8k): 8,000 MNIST digits, see data/README.md.

It is the default whenever no data is given: CSTI calibration, the MLP trainer, the notebooks.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from netsci_dst.data.idx import read_idx
from netsci_dst.errors import DstnetError

SPLITS = {"train": "train", "test": "t10k"}


def bundled_dir() -> Path:
    """Folder of the bundled MNIST subset (installed as the package resource ``netsci_dst._bundled``)."""
    root = Path(str(resources.files("netsci_dst._bundled")))
    return root / "mnist-8k"


def load_idx_pair(directory: str | Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``{prefix}-images-idx3-ubyte[.gz]`` and ``{prefix}-labels-idx1-ubyte[.gz]`` from a folder.

    Returns images (n, rows, cols) uint8 and labels (n,) uint8; a clear error when files are missing, do not match
    or hold no images (n, rows or cols 0).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DstnetError(f"{directory}: no such data folder")
    found = []
    for kind, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        candidates = [directory / f"{prefix}-{kind}{ext}" for ext in ("", ".gz")]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            raise DstnetError(f"{directory}: missing {prefix}-{kind}[.gz]")
        arr = read_idx(path)
        if arr.ndim != ndim:
            raise DstnetError(f"{path}: expected {ndim}-D data, got shape {arr.shape}")
        found.append(arr)
    images, labels = found
    if len(images) != len(labels):
        raise DstnetError(f"{directory}: {len(images)} images but {len(labels)} labels for {prefix!r}")
    if len(images) == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise DstnetError(f"{directory}: {prefix!r} holds no images ({'x'.join(map(str, images.shape))})")
    return images, labels


@lru_cache(maxsize=4)
def load_bundled(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits of one split ("train": 6,000, "test": 2,000) as (images uint8 (n, 28, 28), labels)."""
    if split not in SPLITS:
        raise DstnetError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    images, labels = load_idx_pair(bundled_dir(), SPLITS[split])
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def calibration_data(directory: str | Path | None = None, split: str = "train") -> np.ndarray:
    """Flattened images scaled to [0, 1], shape (n_samples, n_pixels), float32: the data CSTI correlates.

    ``directory`` is a folder of IDX files (MNIST layout); None means the bundled subset.
    """
    if directory is None:
        images, _ = load_bundled(split)
    else:
        images, _ = load_idx_pair(directory, SPLITS.get(split, split))
    return images.reshape(len(images), -1).astype(np.float32) / 255.0
