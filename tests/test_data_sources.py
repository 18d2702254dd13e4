"""Bad data, refused at once with one line naming the file: special files, crafted .npz headers, image folders
that cannot work. No TensorFlow: every case here is caught from headers, listings and labels alone."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_data import exit_status

from engine.data import DataError, DataOptions, describe_source, load_dataset
from engine.run_store import data_digest
from pqat_tui.cli import main

ROOT = Path(__file__).resolve().parent.parent


def assert_refused(
    source: str, fragment: str, capsys: pytest.CaptureFixture[str], *extra: str, early: bool = True
) -> None:
    """`pqat-tui run --data SOURCE` exits 2 with one line holding `fragment` (when `early`, found from
    headers and labels before any run folder is made; else by the Data stage, which reads every pixel)."""
    runs = Path("runs")
    before = set(runs.iterdir()) if runs.is_dir() else set()
    assert exit_status(["run", "--data", source, *extra]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pqat-tui: error: "), captured.err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in captured.out + captured.err
    if early:
        assert (set(runs.iterdir()) if runs.is_dir() else set()) == before  # no run folder was made


def _arrays(train: int = 20, test: int = 10, shape: tuple[int, ...] = (28, 28)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (train, *shape), dtype=np.uint8),
        "y_train": np.arange(train) % 10,
        "x_test": rng.integers(0, 256, (test, *shape), dtype=np.uint8),
        "y_test": np.arange(test) % 10,
    }


def _npy_member(shape: tuple[int, ...], descr: str = "|u1", data: bytes = b"") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


# --- special files ----------------------------------------------------------------------------------------


def test_a_character_device_is_refused_without_reading(capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused("/dev/zero", "/dev/zero: not a regular file or folder (a character device)", capsys)
    assert data_digest("/dev/zero") == "/dev/zero|not-a-regular-file"


def test_a_fifo_is_refused_at_once_and_never_hashed(tmp_path: Path) -> None:
    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    assert data_digest(str(fifo)).endswith("|not-a-regular-file")  # returns: nothing opened it
    with pytest.raises(DataError, match="data.npz: not a regular file or folder \\(a FIFO or pipe\\)"):
        load_dataset(str(fifo))
    # The command, in a process of its own so that a hang would be a timeout, not a stuck suite.
    done = subprocess.run(
        [sys.executable, "-m", "pqat_tui", "run", "--data", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    expected = f"{fifo}: not a regular file or folder (a FIFO or pipe); give an .npz file or a folder"
    assert done.stderr.strip().splitlines() == [f"pqat-tui: error: {expected}"]


def test_process_substitution_is_refused_before_draining_the_pipe(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", **_arrays())
    script = f"exec {sys.executable} -m pqat_tui run --data <(cat {tmp_path / 'x.npz'})"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a regular file or folder (a FIFO or pipe)" in lines[0], done.stderr


def test_an_image_that_is_a_fifo_is_named(tmp_path: Path) -> None:
    _png_folder(tmp_path / "set")
    os.mkfifo(tmp_path / "set" / "cat" / "z.png")
    with pytest.raises(DataError, match="cat/z.png: not a regular file \\(a FIFO or pipe\\)"):
        describe_source(str(tmp_path / "set"))


# --- .npz files -------------------------------------------------------------------------------------------


def test_a_text_file_named_npz_is_not_an_npz_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("these are my notes, not arrays\n" * 20)
    assert_refused(str(text), "notes.npz: not an .npz file (an .npz is a zip archive of .npy arrays", capsys)
    with pytest.raises(DataError) as caught:
        load_dataset(str(text))
    assert "pickle" not in str(caught.value).lower()
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, np.zeros(3))
    assert_refused(str(single), "single.npz: not an .npz file (it is a single .npy array", capsys)


def test_an_npz_whose_header_claims_71_tib_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arrays = _arrays()
    huge = (10**9, 280, 280)  # 78 TB = 71 TiB of uint8
    lying = tmp_path / "lying.npz"  # the header claims it, the archive holds 0 bytes of it
    with zipfile.ZipFile(lying, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", _npy_member(huge) if name == "x_train" else buffer.getvalue())
    assert_refused(str(lying), "x_train declares (1000000000, 280, 280) uint8", capsys)

    # A zip64 entry whose central directory agrees with the header: the size is checked against memory.
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, array in arrays.items():
            if name != "x_train":
                buffer = io.BytesIO()
                np.save(buffer, array)
                archive.writestr(f"{name}.npy", buffer.getvalue())
        member = _npy_member(huge)
        info = zipfile.ZipInfo("x_train.npy")
        archive.writestr(info, member)
    _forge_size(forged, "x_train.npy", len(member) + 10**9 * 280 * 280)
    assert_refused(
        str(forged), "forged.npz: its arrays declare 71.3 TiB (x_train is (1000000000, 280, 280)", capsys
    )


def _forge_size(path: Path, member: str, size: int) -> None:
    """Rewrite a stored member's uncompressed size in the central directory (zip64 extra field)."""
    content = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    start = content.find(b"PK\x01\x02")
    while start != -1:
        name_length = struct.unpack("<H", content[start + 28 : start + 30])[0]
        if content[start + 46 : start + 46 + name_length] == member.encode():
            break
        start = content.find(b"PK\x01\x02", start + 4)
    assert start != -1 and info.compress_size < 2**32
    extra_length = struct.unpack("<H", content[start + 30 : start + 32])[0]
    # 0xFFFFFFFF in the 32-bit uncompressed size means "see the zip64 extra field", which we append.
    content[start + 24 : start + 28] = struct.pack("<I", 0xFFFFFFFF)
    zip64 = struct.pack("<HHQ", 0x0001, 8, size)
    name_end = start + 46 + name_length
    content[name_end + extra_length : name_end + extra_length] = zip64
    content[start + 30 : start + 32] = struct.pack("<H", extra_length + len(zip64))
    end = content.rfind(b"PK\x05\x06")
    directory_size = struct.unpack("<I", content[end + 12 : end + 16])[0]
    content[end + 12 : end + 16] = struct.pack("<I", directory_size + len(zip64))
    path.write_bytes(bytes(content))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"x_train": -np.ones((20, 28, 28), np.float32)}, "x_train holds negative pixel values (-1)"),
        ({"x_test": np.full((10, 28, 28), 300.0)}, "x_test holds pixel values above 255 (300)"),
        (
            {"y_train": np.zeros(20, np.int64)},
            "y_train holds a single class (0); a classifier needs at least 2",
        ),
        ({"x_train": np.zeros((20, 28, 28), np.int16)}, "x_train has dtype int16; expected uint8 or float"),
        ({"x_train": np.zeros((20, 28), np.uint8)}, "x_train has shape (20, 28); expected images"),
        ({"x_train": np.zeros((20, 28, 0), np.uint8)}, "x_train has shape (20, 28, 0, 1)"),
        ({"class_names": np.array(["cat"])}, "class_names must hold at least 2 different, non-empty names"),
        ({"class_names": np.array([1, 2, 3])}, "class_names must be a list of strings"),
        (
            {"class_names": np.array(["a", "b"])},
            "y_train holds label 9 but class_names names 2 classes (0..1)",
        ),
        ({"x_train": np.zeros((20, 28, 28), object)}, "object arrays are never unpickled"),
    ],
)
def test_bad_arrays_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, np.ndarray], fragment: str
) -> None:
    path = tmp_path / "bad.npz"
    arrays = {**_arrays(), **change}
    np.savez(path, **arrays)  # an object array is pickled: the reader must never unpickle it
    assert_refused(str(path), fragment, capsys, early="pixel values" not in fragment)


def test_a_gzipped_idx_header_claiming_terabytes_is_refused(tmp_path: Path) -> None:
    import gzip

    from test_data import _idx_folder

    _idx_folder(tmp_path / "mnist", gz=True)
    bomb = bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") + (4000).to_bytes(4, "big") * 2
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bomb))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: its header declares shape"):
        load_dataset(str(tmp_path / "mnist"))


# --- image folders (headers only) -------------------------------------------------------------------------


def _png(width: int, height: int, colour_type: int = 2) -> bytes:
    """A PNG header (signature and IHDR) with no image data: enough for the listing, not for decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"


def _png_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 5) -> Path:
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            (root / name / f"{index}.png").write_bytes(_png(32, 32))
    return root


def test_a_folder_is_described_from_headers(tmp_path: Path) -> None:
    root = _png_folder(tmp_path / "set")
    (root / "dog" / "README.txt").write_text("not an image")
    assert describe_source(str(root)) == ((32, 32, 3), 2)
    assert describe_source(str(root), DataOptions(image_size=(20, 24), color_mode="grayscale")) == (
        (20, 24, 1),
        2,
    )
    grey = _png_folder(tmp_path / "grey", ("a", "b", "c"))
    for path in grey.rglob("*.png"):
        path.write_bytes(_png(32, 32, colour_type=0))
    assert describe_source(str(grey)) == ((32, 32, 1), 3)


def test_train_and_test_folders(tmp_path: Path) -> None:
    root = tmp_path / "set"
    _png_folder(root / "train", ("cat", "dog", "owl"))
    _png_folder(root / "test", ("cat", "owl"), per_class=2)
    assert describe_source(str(root)) == ((32, 32, 3), 3)
    _png_folder(root / "test" / "..", ("test/zebra",), per_class=1)
    with pytest.raises(DataError, match="test/zebra: class 'zebra' is not among the training classes"):
        describe_source(str(root))


def test_stratified_split_is_seeded_and_keeps_every_class(tmp_path: Path) -> None:
    from engine.image_folder import list_image_folder

    root = _png_folder(tmp_path / "set", ("a", "b", "c"), per_class=10)
    first = list_image_folder(root, 0.3, seed=1)
    assert [sum(i.label == c for i in first.test) for c in range(3)] == [3, 3, 3]
    assert len(first.train) == 21 and not {i.path for i in first.train} & {i.path for i in first.test}
    assert list_image_folder(root, 0.3, seed=1) == first
    assert list_image_folder(root, 0.3, seed=2).test != first.test


def _empty_class(root: Path) -> str:
    (root / "emu").mkdir()
    (root / "emu" / "notes.txt").write_text("no images here")
    return "emu: class folder with no images (PNG, JPEG, BMP or GIF)"


def _single_class(root: Path) -> str:
    for path in (root / "dog").iterdir():
        path.unlink()
    (root / "dog").rmdir()
    return "set: only one class folder (cat); a classifier needs at least 2 classes"


def _mixed_sizes(root: Path) -> str:
    (root / "dog" / "3.png").write_bytes(_png(40, 30))
    return "images differ in size: "


def _not_an_image(root: Path) -> str:
    (root / "cat" / "2.png").write_text("<html>not a picture</html>")
    return "cat/2.png: not a readable image (not a PNG, JPEG, BMP or GIF image by its content)"


def _absurd_header(root: Path) -> str:
    (root / "cat" / "1.png").write_bytes(_png(100_000, 100_000))
    return "cat/1.png: its header declares 100000x100000 pixels"


def _truncated_header(root: Path) -> str:
    (root / "cat" / "4.png").write_bytes(_png(32, 32)[:20])
    return "cat/4.png: not a readable image"


@pytest.mark.parametrize(
    "damage", [_empty_class, _single_class, _mixed_sizes, _not_an_image, _absurd_header, _truncated_header]
)
def test_each_bad_folder_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage
) -> None:
    root = _png_folder(tmp_path / "set")
    fragment = damage(root)
    assert_refused(str(root), fragment, capsys)


def test_mixed_sizes_name_two_files_and_image_size_resolves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _png_folder(tmp_path / "set")
    (root / "dog" / "3.png").write_bytes(_png(40, 30))
    with pytest.raises(DataError) as caught:
        describe_source(str(root))
    message = str(caught.value)
    assert "cat/0.png is 32x32" in message and "dog/3.png is 40x30" in message and "--image-size" in message
    assert describe_source(str(root), DataOptions(image_size=(32, 32))) == ((32, 32, 3), 2)


def test_a_bad_image_size_flag_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(["run", "--data", "sample", "--image-size", "32by32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        'pqat-tui: error: --image-size "32by32": must be HEIGHTxWIDTH, e.g. "32x32" (each 1 to 4096), '
        'or "" to keep the images\' own size'
    ]


def test_the_data_flags_set_their_config_keys(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["config", "--image-size", "32x24", "--rgb", "--test-split", "0.3", "--strategy", "mirrored"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for line in ('image_size = "32x24"', 'color_mode = "rgb"', "test_split = 0.3", 'strategy = "mirrored"'):
        assert line in printed
    assert main(["config", "--grayscale"]) == 0
    assert 'color_mode = "grayscale"' in capsys.readouterr().out


def test_multiworker_without_tf_config_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert exit_status(["run", "--data", "sample", "--strategy", "multiworker"]) == 2
    assert capsys.readouterr().err.startswith("pqat-tui: error: strategy multiworker needs TF_CONFIG")
