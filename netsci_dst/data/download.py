"""Opt-in, checksummed, cached downloads of the standard image datasets.

Files are streamed to a ``.part`` file next to their destination while their MD5 is computed (the published
checksums of these datasets are MD5; this is an integrity check, not a security one). Only a file whose checksum
matches is renamed into place, so an interrupted or corrupted download never leaves a half-written dataset behind.
The cache folder is ``$DSTNET_CACHE`` or ``~/.cache/dstnet``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netsci_dst.errors import DstnetError


@dataclass(frozen=True)
class Source:
    """Where a dataset's files live and their published MD5 checksums."""

    base_url: str
    files: dict[str, str]
    archive_members: dict[str, str] | None = None  # for zip archives: member path -> file name in the cache


_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_FASHION_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def _emnist_members(split: str) -> dict[str, str]:
    names = [
        f"emnist-{split}-{part}-{kind}"
        for part in ("train", "test")
        for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz")
    ]
    return {f"gzip/{n}": n for n in names}


SOURCES: dict[str, Source] = {
    "mnist": Source("https://ossci-datasets.s3.amazonaws.com/mnist/", _MNIST_FILES),
    "fashion-mnist": Source("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", _FASHION_FILES),
    # EMNIST ships as one 535 MB zip holding every split; the balanced and letters splits are extracted from it.
    "emnist-balanced": Source(
        "https://biometrics.nist.gov/cs_links/EMNIST/",
        {"gzip.zip": "58c8d27c78d21e728a6bc7b3cc06412e"},
        _emnist_members("balanced"),
    ),
    "emnist-letters": Source(
        "https://biometrics.nist.gov/cs_links/EMNIST/",
        {"gzip.zip": "58c8d27c78d21e728a6bc7b3cc06412e"},
        _emnist_members("letters"),
    ),
}


def cache_dir() -> Path:
    """``$DSTNET_CACHE`` or ``~/.cache/dstnet``."""
    return Path(os.environ.get("DSTNET_CACHE") or Path.home() / ".cache" / "dstnet")


def md5_of(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: str | os.PathLike, md5: str, *, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right checksum is already there.

    The bytes go to ``dest + ".part"`` first; on a checksum mismatch or any error the partial file is deleted and a
    :class:`DstnetError` says what happened. Nothing is left half-written.
    """
    dest = Path(dest)
    if dest.exists() and md5_of(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress(total, dest.name) if progress else None
            while block := response.read(1 << 16):
                out.write(block)
                digest.update(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        part.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DstnetError(f"download of {url} failed: {reason}") from None
    got = digest.hexdigest()
    if got != md5:
        part.unlink(missing_ok=True)
        raise DstnetError(f"checksum mismatch for {url}: expected MD5 {md5}, got {got}; nothing was saved")
    os.replace(part, dest)
    return dest


def _progress(total: int | None, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {name}", leave=False)


def download_dataset(
    name: str, root: str | os.PathLike | None = None, *, base_url: str | None = None, progress: bool = True
) -> Path:
    """Fetch a dataset's IDX files into ``root/name`` (default: the cache) and return that folder.

    ``base_url`` replaces the published location (a mirror, or a local server in tests); the checksums stay.
    """
    if name not in SOURCES:
        raise DstnetError(f"no download source for {name!r} (known: {', '.join(SOURCES)})")
    source = SOURCES[name]
    folder = Path(root) if root is not None else cache_dir()
    with contextlib.suppress(OSError):  # a read-only cache may hold the files already
        folder.mkdir(parents=True, exist_ok=True)
    # one download at a time per dataset: the ranks of a torchrun job (or two runs) all ask for it at once; the
    # first fetches, the others wait and then find the checksummed files in place
    with _exclusive(folder / f".{name}.download.lock"):
        return _download(name, source, folder / name, base_url, root is None, progress)


def _download(name: str, source: Source, folder: Path, base_url: str | None, cached: bool, progress: bool) -> Path:
    base = base_url if base_url is not None else source.base_url
    if not base.endswith("/"):
        base += "/"
    if source.archive_members is None:
        for file, md5 in source.files.items():
            fetch(base + file, folder / file, md5, progress=progress)
        return folder
    if all((folder / target).exists() for target in source.archive_members.values()):
        return folder
    ((archive, md5),) = source.files.items()
    zpath = fetch(
        base + archive, cache_dir() / "archives" / archive if cached else folder / archive, md5, progress=progress
    )
    _extract(zpath, source.archive_members, folder)
    return folder


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (``flock``; waits for the holder) for the block; without
    one where the file cannot be made (a read-only cache holding the files already: nothing will be written)."""
    try:
        handle = open(lock_path, "a")  # noqa: SIM115 (closed below)
    except OSError:
        yield
        return
    with handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _extract(zpath: Path, members: dict[str, str], folder: Path) -> None:
    try:
        with zipfile.ZipFile(zpath) as z:
            for member, target in members.items():
                tmp = folder / (target + ".part")
                with z.open(member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, folder / target)
    except (zipfile.BadZipFile, KeyError) as e:
        raise DstnetError(f"{zpath}: not the expected archive ({e})") from None
