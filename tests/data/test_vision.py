"""Vision dataset loading from IDX folders and the bundled default."""

from pathlib import Path

import numpy as np
import pytest

from netsci_dst.data.idx import write_idx
from netsci_dst.data.vision import DATASETS, load_vision
from netsci_dst.errors import DstnetError


def _write_split(folder, prefix, n, n_classes, offset=0, seed=0):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (rng.integers(0, n_classes, n) + offset).astype(np.uint8)
    write_idx(imgs, folder / f"{prefix}-images-idx3-ubyte.gz")
    write_idx(labels, folder / f"{prefix}-labels-idx1-ubyte.gz")
    return imgs, labels


@pytest.mark.parametrize("name", list(DATASETS))
def test_each_dataset_loads_generated_files(tmp_path, name):
    spec = DATASETS[name]
    imgs, labels = _write_split(tmp_path, spec.train_prefix, 9, spec.n_classes, spec.label_offset)
    _write_split(tmp_path, spec.test_prefix, 4, spec.n_classes, spec.label_offset, seed=1)
    x, y = load_vision(name, tmp_path, "train")
    expected = imgs.transpose(0, 2, 1) if spec.transpose else imgs
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y, labels.astype(np.int64) - spec.label_offset)
    assert y.min() >= 0 and y.max() < spec.n_classes
    assert load_vision(name, tmp_path, "test")[0].shape == (4, 28, 28)


def test_bundled_default_is_mnist():
    x, y = load_vision()
    assert x.shape == (6000, 28, 28) and y.dtype == np.int64


def test_errors(tmp_path):
    with pytest.raises(DstnetError, match="not bundled"):
        load_vision("fashion-mnist")
    with pytest.raises(DstnetError, match="unknown dataset"):
        load_vision("cifar")
    with pytest.raises(DstnetError, match="missing"):
        load_vision("mnist", tmp_path)
    _write_split(tmp_path, "train", 5, 10, offset=20)
    with pytest.raises(DstnetError, match="labels outside"):
        load_vision("mnist", tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b broken gzip")
    with pytest.raises(DstnetError):
        load_vision("mnist", tmp_path)


FULL_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


@pytest.mark.skipif(
    not (FULL_MNIST / "train-images-idx3-ubyte.gz").exists(),
    reason="the complete MNIST of the papers' table is not at ../shared/data/mnist (the developers' machines have it)",
)
def test_the_complete_mnist_of_the_papers_table_loads_as_published():
    """The papers' scale (issue 14): 60,000 + 10,000 digits, byte for byte the published files (the MD5 of the
    decompressed IDX payloads in ../shared/data/README.md covers header and pixels; here the pixels and labels)."""
    import hashlib

    x, y = load_vision("mnist", FULL_MNIST, "train")
    xt, yt = load_vision("mnist", FULL_MNIST, "test")
    assert x.shape == (60_000, 28, 28) and xt.shape == (10_000, 28, 28)
    assert np.bincount(y).tolist()[:3] == [5923, 6742, 5958] and np.bincount(yt).tolist()[:3] == [980, 1135, 1032]
    header = np.array([0, 0, 8, 3, 0, 0, 0xEA, 0x60, 0, 0, 0, 28, 0, 0, 0, 28], dtype=np.uint8).tobytes()
    assert hashlib.md5(header + x.astype(np.uint8).tobytes()).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"
