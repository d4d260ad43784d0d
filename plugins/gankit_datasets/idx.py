"""A reader for the IDX format of (Fashion-)MNIST, plain or gzip-compressed.

An IDX file starts with a 4-byte magic number: two zero bytes, a type code and
the number of dimensions; then one big-endian uint32 per dimension; then the
values in row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from gankit.errors import GankitError

#: IDX type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(GankitError, ValueError):
    """An IDX file is corrupt, truncated or not an IDX file at all."""


def read_bytes(path: Path) -> bytes:
    """Return the content of ``path``, decompressed if it is gzip data (whatever its name)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXFormatError(f"cannot read IDX file {str(path)!r}: {exc}") from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX ``data`` into a native-endian array; ``source`` names it in errors."""

    def fail(problem: str) -> IDXFormatError:
        return IDXFormatError(f"bad IDX file {source!r}: {problem}")

    if len(data) < 4:
        raise fail(f"only {len(data)} bytes, too short for the 4-byte magic number")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise fail(
            f"magic number 0x{data[:4].hex()} is not an IDX header "
            "(expected 0x0000, a type code 08/09/0B/0C/0D/0E and a dimension count)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise fail(f"truncated header: {ndim} dimensions need {header} bytes, found {len(data)}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise fail(f"{what}: shape {dims} needs {expected} data bytes, found {found}")
    values = np.frombuffer(data, dtype=dtype, offset=header)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def read_idx(path: str | Path) -> np.ndarray:
    """Read the IDX file at ``path`` (gzip-compressed or not) into a numpy array.

    Raises :class:`IDXFormatError`, naming the file, when it cannot be read, its
    magic number is wrong or its size does not match the dimensions it declares.
    """
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))
