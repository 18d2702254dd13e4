"""Random, mutated and crafted .npz files fed to the data reader: it loads them or raises DataError with one
line naming the file, never another exception, never a hang, never a large allocation. In-process, each
property at least 500 examples, a few seconds in all."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data import DataError, describe_source, load_dataset

EXAMPLES = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _valid_npz(
    train: int = 6, test: int = 4, shape: tuple[int, ...] = (4, 4), compressed: bool = False
) -> bytes:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (train, *shape), dtype=np.uint8),
        "y_train": np.arange(train) % 3,
        "x_test": rng.integers(0, 256, (test, *shape), dtype=np.uint8),
        "y_test": np.arange(test) % 3,
    }
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


VALID = _valid_npz()
VALID_COMPRESSED = _valid_npz(compressed=True)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "data.npz"


def _read_every_way(path: Path) -> None:
    """Both readers: the cheap one the command line uses first, and the full load."""
    for read in (describe_source, load_dataset):
        try:
            read(str(path))
        except DataError as error:
            message = str(error)
            assert "\n" not in message and str(path) in message, message


@EXAMPLES
@given(content=st.binary(max_size=2048), zip_magic=st.booleans())
def test_random_bytes(scratch: Path, content: bytes, zip_magic: bool) -> None:
    scratch.write_bytes((b"PK\x03\x04" if zip_magic else b"") + content)
    _read_every_way(scratch)


@EXAMPLES
@given(
    source=st.sampled_from([VALID, VALID_COMPRESSED]),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_mutated_archives(
    scratch: Path, source: bytes, flips: list[tuple[int, int]], cut: int | None
) -> None:
    content = bytearray(source)
    for position, value in flips:
        content[position % len(content)] = value
    if cut is not None:
        content = content[: cut % (len(content) + 1)]
    scratch.write_bytes(bytes(content))
    _read_every_way(scratch)


_DESCRS = [
    "|u1",
    "<u1",
    "<f4",
    "<f8",
    ">f8",
    "<i8",
    "|b1",
    "<U5",
    "|S3",
    "|O",
    "|V8",
    "<c16",
    "<M8[s]",
    "zz",
    "",
]
_DIM = st.one_of(st.integers(-5, 40), st.integers(2**31, 2**64), st.just(0))


@st.composite
def _headers(draw: st.DrawFn) -> bytes:
    """A .npy header: a plausible or nonsensical dict, or free text, with the declared length true or not."""
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.text(max_size=200))
    else:
        shape = draw(
            st.one_of(st.tuples(*[_DIM] * draw(st.integers(0, 5))), st.lists(_DIM, max_size=4), _DIM)
        )
        descr = draw(st.one_of(st.sampled_from(_DESCRS), st.text(max_size=8)))
        fortran = draw(st.one_of(st.booleans(), st.integers(-1, 2), st.none()))
        keys = {"descr": descr, "fortran_order": fortran, "shape": shape}
        if draw(st.booleans()):
            keys.pop(draw(st.sampled_from(sorted(keys))))
        text = repr(keys)
    header = text.encode("utf-8", "replace")
    version = draw(st.sampled_from([1, 2, 3, 9]))
    length_format = "<H" if version == 1 else "<I"
    declared = len(header) if draw(st.booleans()) else draw(st.integers(0, 70_000))
    if length_format == "<H":
        declared %= 2**16
    data = draw(st.binary(max_size=256))
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(length_format, declared) + header + data


@EXAMPLES
@given(member=_headers(), which=st.sampled_from(["x_train", "y_train", "x_test", "y_test", "class_names"]))
def test_crafted_npy_headers(scratch: Path, member: bytes, which: str) -> None:
    with zipfile.ZipFile(io.BytesIO(VALID)) as original:
        members = {name: original.read(name) for name in original.namelist()}
    members[f"{which}.npy"] = member
    with zipfile.ZipFile(scratch, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    _read_every_way(scratch)
