"""Reader and writer for the IDX format of MNIST-style datasets (LeCun et al.).

An IDX file is a big-endian header followed by raw data::

    magic: 0x00 0x00 <type code> <number of dimensions>
    one uint32 per dimension
    the values, row-major, in the type's big-endian encoding

Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. Files ending in ``.gz`` are
read and written through gzip.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import temp_path

_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=").str.lstrip("<>=|"): code for code, dt in _TYPES.items()}


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file into an array in native byte order."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DstnetError(f"{name}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise DstnetError(f"{name}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DstnetError(f"{name}: truncated IDX header")
    shape = tuple(int(x) for x in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DstnetError(
            f"{name}: IDX payload has {len(raw) - header} bytes, header {shape} of {dtype.name} needs {expected}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    path = Path(path)
    try:
        with _open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DstnetError(f"{path}: no such file") from None
    except (OSError, EOFError) as e:
        raise DstnetError(f"{path}: unreadable ({e})") from None
    return parse_idx(raw, str(path))


def write_idx(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an array as an IDX file (gzip-compressed when the name ends in ``.gz``); atomic."""
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=").str.lstrip("<>=|")
    if key not in _CODES:
        raise DstnetError(f"IDX cannot store dtype {arr.dtype}")
    code = _CODES[key]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    path = Path(path)
    tmp = temp_path(path, ".tmp" + path.suffix)
    try:
        with _open(tmp, "wb") as f:
            f.write(header)
            f.write(arr.astype(_TYPES[code]).tobytes())
        os.replace(tmp, path)
    finally:  # nothing half-written is left behind (a full disk, a crash)
        tmp.unlink(missing_ok=True)
    return path
