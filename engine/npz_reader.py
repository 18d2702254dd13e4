"""A strict reader of .npz files: every array's header is checked before a byte of it is loaded.

`np.load` trusts the file: a text file named .npz is read as a pickle (and numpy advises loading it unsafely),
and a header that declares 71 TiB is a MemoryError without the file's name. Here the archive is opened as a
zip, each wanted member's .npy header is parsed and checked (simple numeric or string dtypes only, a shape of
non-negative integers, a size the archive really holds and memory can hold), and only then are the bytes read.
Every fault is a `DataError` whose message is one line naming the file; the cost is bounded by the sizes the
headers declare, which are checked first.
"""

from __future__ import annotations

import ast
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from engine.data_errors import DataError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# numpy refuses longer headers unless told to trust the file; so do we.
MAX_HEADER_BYTES = 10_000
# Dtype kinds an array may have: unsigned, signed, float, bool; strings only where names are expected.
NUMERIC_KINDS = frozenset("uifb")
TEXT_KINDS = frozenset("US")


@dataclass(frozen=True)
class ArrayHeader:
    """What a member's .npy header declares."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int  # bytes of magic and header before the data

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def memory_limit() -> int:
    """Bytes an array source may declare in all: the memory available now (a larger file cannot load)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _shorten(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_npz(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = (), limit: int | None = None
) -> dict[str, np.ndarray]:
    """The `required` arrays (and those of `optional` that are there) of the .npz file at `path`.

    `limit` bounds the bytes all of them may declare together (default: the memory available).
    """
    headers = read_npz_headers(path, required, optional, limit)
    try:
        with zipfile.ZipFile(path) as archive:
            return {name: _read_data(path, archive, header) for name, header in headers.items()}
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - zlib, CRC, truncation, encryption: the file is damaged
        raise DataError(
            f"{path}: not a readable .npz file ({_shorten(str(error) or type(error).__name__)})"
        ) from None


def read_npz_headers(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = (), limit: int | None = None
) -> dict[str, ArrayHeader]:
    """The checked headers of the wanted members, without reading their data."""
    _check_is_zip(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {_array_name(info.filename): info for info in archive.infolist()}
            missing = [name for name in required if name not in members]
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(missing)} (expected {', '.join(required)})"
                )
            wanted = [*required, *(name for name in optional if name in members)]
            headers = {name: _read_header(path, archive, members[name], name) for name in wanted}
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged central directory, an unsupported zip feature
        raise DataError(
            f"{path}: not a readable .npz file ({_shorten(str(error) or type(error).__name__)})"
        ) from None
    declared = sum(header.data_bytes for header in headers.values())
    limit = memory_limit() if limit is None else limit
    if declared > limit:
        largest = max(headers.values(), key=lambda header: header.data_bytes)
        raise DataError(
            f"{path}: its arrays declare {human_bytes(declared)} ({largest.name} is "
            f"{_shape_text(largest.shape)} {largest.dtype.name}), more than the {human_bytes(limit)} "
            "of memory available: too large to load (a folder of images is streamed instead)"
        )
    return headers


def _check_is_zip(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an .npz file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    if head.startswith(NPY_MAGIC):
        raise DataError(
            f"{path}: not an .npz file (it is a single .npy array; save x_train, y_train, x_test and y_test "
            "together with numpy.savez)"
        )
    if not head.startswith(ZIP_MAGIC):
        raise DataError(
            f"{path}: not an .npz file (an .npz is a zip archive of .npy arrays; this is not one)"
        )


def _array_name(member: str) -> str:
    return member[: -len(".npy")] if member.endswith(".npy") else member


def _read_header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> ArrayHeader:
    where = f"{path}: {name}"
    with archive.open(info) as stream:
        magic = _read_exactly(stream, 8, where, "its .npy header")
        if not magic.startswith(NPY_MAGIC):
            raise DataError(f"{where} is not a .npy array (bad magic number)")
        major = magic[6]
        if major == 1:
            length_format, encoding = "<H", "latin1"
        elif major in (2, 3):
            length_format, encoding = "<I", "latin1" if major == 2 else "utf8"
        else:
            raise DataError(f"{where} has .npy format version {major}.{magic[7]}, which is not supported")
        size = struct.calcsize(length_format)
        (header_length,) = struct.unpack(
            length_format, _read_exactly(stream, size, where, "its header length")
        )
        if header_length > MAX_HEADER_BYTES:
            raise DataError(
                f"{where} has a {header_length:,}-byte header; at most {MAX_HEADER_BYTES:,} is read"
            )
        text = _read_exactly(stream, header_length, where, "its header")
    shape, dtype, fortran_order = _parse_header(text, encoding, where)
    header = ArrayHeader(name, shape, dtype, fortran_order, 8 + size + header_length)
    held = info.file_size - header.data_offset
    if held != header.data_bytes:
        raise DataError(
            f"{where} declares {_shape_text(shape)} {dtype.name} ({header.data_bytes:,} bytes) but the "
            f"archive holds {max(held, 0):,} bytes of data"
        )
    return header


def _parse_header(text: bytes, encoding: str, where: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    try:
        values = ast.literal_eval(text.decode(encoding))
    except Exception:  # noqa: BLE001 - SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError
        raise DataError(f"{where} has an unreadable .npy header") from None
    if not isinstance(values, dict) or set(values) != {"descr", "fortran_order", "shape"}:
        raise DataError(f"{where} has an unreadable .npy header (expected descr, fortran_order and shape)")
    shape, descr, fortran_order = values["shape"], values["descr"], values["fortran_order"]
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise DataError(f"{where} has an invalid shape in its header ({_shorten(repr(shape), 60)})")
    if len(shape) > 8:
        raise DataError(f"{where} has {len(shape)} dimensions; an image array has at most 4")
    if not isinstance(fortran_order, bool):
        raise DataError(f"{where} has an invalid fortran_order in its header")
    if not isinstance(descr, str):
        raise DataError(f"{where} has a structured dtype; expected plain numbers (or strings for names)")
    try:
        dtype = np.dtype(descr)
    except Exception:  # noqa: BLE001 - TypeError, ValueError, SyntaxError for made-up descriptors
        raise DataError(f"{where} has an unknown dtype {_shorten(repr(descr), 40)}") from None
    if dtype.kind not in NUMERIC_KINDS | TEXT_KINDS or dtype.itemsize == 0 or dtype.subdtype is not None:
        raise DataError(f"{where} has dtype {dtype}; expected numbers (object arrays are never unpickled)")
    return shape, dtype, fortran_order


def _read_exactly(stream: IO[bytes], count: int, where: str, what: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise DataError(f"{where} is truncated (in {what})")
    return data


def _read_data(path: Path, archive: zipfile.ZipFile, header: ArrayHeader) -> np.ndarray:
    where = f"{path}: {header.name}"
    member = next(info for info in archive.infolist() if _array_name(info.filename) == header.name)
    try:
        with archive.open(member) as stream:
            _read_exactly(stream, header.data_offset, where, "its header")
            data = _read_exactly(stream, header.data_bytes, where, "its data")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise DataError(f"{where} is damaged ({_shorten(str(error) or type(error).__name__, 80)})") from None
    array = np.frombuffer(data, dtype=header.dtype)
    order = "F" if header.fortran_order else "C"
    return array.reshape(header.shape, order=order)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
