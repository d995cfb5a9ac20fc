"""Checksummed downloads against a local HTTP server serving generated IDX files."""

import functools
import hashlib
import http.server
import threading
import zipfile

import numpy as np
import pytest

from netsci_dst.data import download
from netsci_dst.data.download import Source, download_dataset, fetch
from netsci_dst.data.idx import write_idx
from netsci_dst.data.vision import load_vision
from netsci_dst.errors import DstnetError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (a free port); yields (folder, base_url)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _mnist_like(folder, n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for kind, arr in (("images-idx3-ubyte.gz", imgs), ("labels-idx1-ubyte.gz", labels)):
            p = write_idx(arr, folder / f"{prefix}-{kind}")
            files[p.name] = _md5(p)
    return files


def test_fetch_verifies_and_is_idempotent(server, tmp_path):
    www, base = server
    (www / "a.bin").write_bytes(b"hello dstnet")
    good = hashlib.md5(b"hello dstnet").hexdigest()
    dest = tmp_path / "cache" / "a.bin"
    assert fetch(base + "a.bin", dest, good, progress=False).read_bytes() == b"hello dstnet"
    (www / "a.bin").unlink()  # a second call must not need the server: the cached file matches
    assert fetch(base + "a.bin", dest, good, progress=False) == dest


def test_checksum_mismatch_is_refused_and_nothing_left(server, tmp_path):
    www, base = server
    (www / "a.bin").write_bytes(b"tampered")
    dest = tmp_path / "cache" / "a.bin"
    with pytest.raises(DstnetError, match="checksum mismatch"):
        fetch(base + "a.bin", dest, "0" * 32, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []  # no dest, no .part


def test_missing_file_is_a_clear_error(server, tmp_path):
    _, base = server
    with pytest.raises(DstnetError, match="download of .* failed"):
        fetch(base + "nope.gz", tmp_path / "x.gz", "0" * 32, progress=False)
    assert not (tmp_path / "x.gz.part").exists()


def test_download_dataset_then_load(server, tmp_path, monkeypatch):
    www, base = server
    files = _mnist_like(www)
    monkeypatch.setitem(download.SOURCES, "mnist", Source("https://example.invalid/", files))
    folder = download_dataset("mnist", tmp_path / "cache", base_url=base, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    x, y = load_vision("mnist", folder, "train")
    assert x.shape == (12, 28, 28) and y.shape == (12,)
    xt, _ = load_vision("mnist", folder, "test")
    assert xt.shape == (5, 28, 28)


def test_download_with_one_bad_file_keeps_the_good_ones_only(server, tmp_path, monkeypatch):
    www, base = server
    files = _mnist_like(www)
    files["t10k-labels-idx1-ubyte.gz"] = "f" * 32
    monkeypatch.setitem(download.SOURCES, "mnist", Source("https://example.invalid/", files))
    with pytest.raises(DstnetError, match="checksum mismatch"):
        download_dataset("mnist", tmp_path / "cache", base_url=base, progress=False)
    left = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert "t10k-labels-idx1-ubyte.gz" not in left and not any(n.endswith(".part") for n in left)


def test_emnist_archive_is_extracted(server, tmp_path, monkeypatch):
    www, base = server
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(1)
    img = np.zeros((3, 28, 28), np.uint8)
    img[:, 0, 5] = 255  # a mark in row 0, column 5 of the stored (transposed) image
    write_idx(img, src / "emnist-letters-train-images-idx3-ubyte.gz")
    write_idx(np.array([1, 26, 5], np.uint8), src / "emnist-letters-train-labels-idx1-ubyte.gz")
    write_idx(rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), src / "emnist-letters-test-images-idx3-ubyte.gz")
    write_idx(np.array([2, 3], np.uint8), src / "emnist-letters-test-labels-idx1-ubyte.gz")
    with zipfile.ZipFile(www / "gzip.zip", "w") as z:
        for p in src.iterdir():
            z.write(p, f"gzip/{p.name}")
    members = download.SOURCES["emnist-letters"].archive_members
    monkeypatch.setitem(
        download.SOURCES,
        "emnist-letters",
        Source("https://example.invalid/", {"gzip.zip": _md5(www / "gzip.zip")}, members),
    )
    folder = download_dataset("emnist-letters", tmp_path / "cache", base_url=base, progress=False)
    x, y = load_vision("emnist-letters", folder, "train")
    assert y.tolist() == [0, 25, 4]  # letters 1..26 become 0..25
    assert x[0, 5, 0] == 255 and x[0, 0, 5] == 0  # transposed back to upright


def test_unknown_dataset():
    with pytest.raises(DstnetError, match="no download source"):
        download_dataset("cifar-10")


def test_concurrent_downloads_of_one_dataset_take_turns(tmp_path, monkeypatch):
    """The ranks of a torchrun job with --download all ask at once: one fetches at a time (each fetch then finds
    the checksummed files of the first in place), never two writers on one .part file."""
    import time

    active, most = [0], [0]

    def slow_fetch(url, dest, md5, **kwargs):
        active[0] += 1
        most[0] = max(most[0], active[0])
        time.sleep(0.05)
        active[0] -= 1
        return dest

    monkeypatch.setattr(download, "fetch", slow_fetch)
    threads = [
        threading.Thread(target=download_dataset, args=("mnist", tmp_path / "cache"), kwargs={"progress": False})
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".mnist.download.lock"]
