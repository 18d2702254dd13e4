"""Data sources without TensorFlow: the sample, .npz files, IDX folders, and every bad input's message."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from engine.data import DataError, DataOptions, describe_source, feed_shape, load_dataset, sample_path
from pqat_tui.cli import main


def _arrays(train: int = 20, test: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "y_train": np.arange(train, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "y_test": np.arange(test, dtype=np.int64) % 10,
    }


def _npz(tmp_path: Path, name: str = "data.npz", **changes: np.ndarray | None) -> Path:
    arrays = _arrays()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_sample_loads_scaled_with_counts_and_previews() -> None:
    data = load_dataset("sample")
    assert data.image_shape == (28, 28, 1) and data.info.image_shape == (28, 28, 1)
    assert data.info.classes == tuple(str(n) for n in range(10))
    assert data.info.preview_shape == (28, 28, 1)
    assert data.x_train.shape == (4000, 28, 28) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (1000, 28, 28)
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert data.info.train == 4000 and data.info.test == 1000
    assert data.info.class_counts == (400,) * 10
    assert data.info.loaded_from == str(sample_path())
    assert data.info.note is None
    assert data.info.preview_labels == tuple(range(10))
    assert all(len(image) == 784 for image in data.info.preview_images)
    # The previews are raw pixels of the first digit of each class, as stored in the file.
    raw = np.load(sample_path())
    first_seven = raw["x_train"][np.flatnonzero(raw["y_train"] == 7)[0]]
    assert data.info.preview_images[7] == first_seven.tobytes()


def test_scaling_matches_the_example(tmp_path: Path) -> None:
    """The example feeds `x / 255.0`; Keras trains on it as float32, which is what we hand over."""
    arrays = _arrays()
    data = load_dataset(str(_npz(tmp_path)))
    np.testing.assert_array_equal(data.x_train, (arrays["x_train"] / 255.0).astype(np.float32))


def test_float_images_and_channel_axis_are_accepted(tmp_path: Path) -> None:
    arrays = _arrays()
    path = _npz(
        tmp_path,
        x_train=(arrays["x_train"] / 255.0)[..., np.newaxis].astype(np.float64),
        y_train=arrays["y_train"].astype(np.float32),
    )
    data = load_dataset(str(path))
    assert data.x_train.shape == (20, 28, 28)
    np.testing.assert_allclose(data.x_train, arrays["x_train"] / 255.0, atol=1e-6)
    assert data.y_train.dtype == np.int64


def test_colour_images_of_any_size_and_class_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "rgb.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (30, 32, 24, 3), dtype=np.uint8),
        y_train=np.arange(30) % 3,
        x_test=rng.integers(0, 256, (9, 32, 24, 3), dtype=np.uint8),
        y_test=np.arange(9) % 3,
        class_names=np.array(["cat", "dog", "owl"]),
    )
    data = load_dataset(str(path))
    assert data.image_shape == (32, 24, 3) and data.num_classes == 3
    assert data.class_names == data.info.classes == ("cat", "dog", "owl")
    assert data.info.image_shape == (32, 24, 3) and data.info.class_counts == (10, 10, 10)
    assert data.x_train.shape == (30, 32, 24, 3) and data.x_train.dtype == np.float32
    assert data.train.images is not None and data.train.images.dtype == np.uint8  # kept as stored
    # Previews: the first image of each class, shrunk to at most 28 a side (averaging 2x2 blocks).
    assert data.info.preview_labels == (0, 1, 2) and data.info.preview_shape == (16, 12, 3)
    assert all(len(image) == 16 * 12 * 3 for image in data.info.preview_images)
    assert describe_source(str(path)) == ((32, 24, 3), 3)


def test_classes_come_from_the_labels_and_grey_conversion(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "five.npz"
    np.savez(
        path,
        x_train=rng.random((25, 12, 12, 3), dtype=np.float32),
        y_train=np.arange(25) % 5,
        x_test=rng.random((5, 12, 12, 3), dtype=np.float32),
        y_test=np.arange(5) % 5,
    )
    data = load_dataset(str(path), DataOptions(color_mode="grayscale"))
    assert data.image_shape == (12, 12, 1) and data.class_names == ("0", "1", "2", "3", "4")
    assert data.train.pixel_divisor == 1.0  # floats already in [0, 1]
    assert data.x_train.shape == (25, 12, 12)
    expected = np.tensordot(np.load(path)["x_train"], np.array([0.2989, 0.5870, 0.1140], np.float32), 1)
    np.testing.assert_allclose(data.x_train, expected, atol=1e-6)
    assert describe_source(str(path), DataOptions(color_mode="rgb")) == ((12, 12, 3), 5)


def test_feed_shape_fits_grey_images_to_either_input() -> None:
    assert feed_shape((28, 28), (28, 28, 1)) == (28, 28)
    assert feed_shape((28, 28, 1), (28, 28, 1)) == (28, 28, 1)
    assert feed_shape((None, None, 3), (32, 32, 3)) == (32, 32, 3)
    assert feed_shape((28, 28), (32, 32, 1)) is None
    assert feed_shape((32, 32), (32, 32, 3)) is None


def _write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    content = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(content) if gz else content)


def _idx_folder(folder: Path, gz: bool) -> dict[str, np.ndarray]:
    folder.mkdir()
    arrays = _arrays()
    suffix = ".gz" if gz else ""
    names = {
        "x_train": "train-images-idx3-ubyte",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }
    for key, name in names.items():
        _write_idx(folder / f"{name}{suffix}", arrays[key], gz)
    return arrays


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_idx_folder_loads(tmp_path: Path, gz: bool) -> None:
    arrays = _idx_folder(tmp_path / "mnist", gz)
    data = load_dataset(str(tmp_path / "mnist"))
    assert data.info.train == 20 and data.info.test == 10
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])
    np.testing.assert_array_equal(data.x_test, (arrays["x_test"] / 255.0).astype(np.float32))


def test_idx_folder_missing_file(tmp_path: Path) -> None:
    _idx_folder(tmp_path / "mnist", gz=True)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"mnist: no t10k-labels-idx1-ubyte\[\.gz\] file"):
        load_dataset(str(tmp_path / "mnist"))


def test_idx_file_bad_magic_and_truncated(tmp_path: Path) -> None:
    _idx_folder(tmp_path / "mnist", gz=False)
    labels = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    labels.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: not an IDX file"):
        load_dataset(str(tmp_path / "mnist"))
    images = tmp_path / "mnist" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: header promises shape"):
        load_dataset(str(tmp_path / "mnist"))


def _bad_inputs(tmp_path: Path) -> list[tuple[str, str]]:
    """(source, message fragment) for every fault the issue lists."""
    arrays = _arrays()
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file")
    nan_images = (arrays["x_test"] / 255.0).astype(np.float32)
    nan_images[0, 0, 0] = np.nan
    inf_images = (arrays["x_train"] / 255.0).astype(np.float32)
    inf_images[3, 1, 1] = np.inf
    cases = [
        (str(tmp_path / "absent.npz"), "absent.npz: no such file"),
        (str(garbage), "garbage.npz: not an .npz file (an .npz is a zip archive"),
        (str(_npz(tmp_path, "no_test.npz", x_test=None, y_test=None)), "missing array(s) x_test, y_test"),
        (
            str(_npz(tmp_path, "shape.npz", x_train=np.zeros((20, 32, 32), np.uint8))),
            "x_train's images are (32, 32, 1) but x_test's are (28, 28, 1)",
        ),
        (
            str(_npz(tmp_path, "flat.npz", x_test=np.zeros((10, 784), np.uint8))),
            "x_test has shape (10, 784); expected images (N, height, width) or (N, height, width, channels)",
        ),
        (
            str(_npz(tmp_path, "dtype.npz", x_train=arrays["x_train"].astype(np.int64))),
            "x_train has dtype int64; expected uint8 or float",
        ),
        (
            str(
                _npz(
                    tmp_path,
                    "range.npz",
                    y_train=(np.arange(20) % 11).astype(np.int64),
                    class_names=np.array([str(n) for n in range(10)]),
                )
            ),
            "y_train holds label 10 but class_names names 10 classes (0..9)",
        ),
        (
            str(_npz(tmp_path, "negative.npz", y_test=np.full(10, -1, np.int32))),
            "y_test holds label -1; expected integers from 0",
        ),
        (
            str(_npz(tmp_path, "fraction.npz", y_train=np.full(20, 2.5, np.float32))),
            "y_train holds non-integer labels",
        ),
        (
            str(_npz(tmp_path, "strings.npz", y_test=np.array(["a"] * 10))),
            "y_test has dtype <U1; expected integer labels from 0",
        ),
        (
            str(_npz(tmp_path, "count.npz", y_train=np.arange(19, dtype=np.uint8) % 10)),
            "x_train has 20 images but y_train has 19 labels",
        ),
        (
            str(
                _npz(
                    tmp_path,
                    "empty.npz",
                    x_test=np.zeros((0, 28, 28), np.uint8),
                    y_test=np.zeros(0, np.uint8),
                )
            ),
            "x_test is empty",
        ),
        (str(_npz(tmp_path, "nan.npz", x_test=nan_images)), "x_test contains NaN or infinite values"),
        (str(_npz(tmp_path, "inf.npz", x_train=inf_images)), "x_train contains NaN or infinite values"),
        ("mnits", "unknown data source 'mnits'"),
    ]
    return cases


def test_every_bad_input_is_one_line_naming_file_and_fault(tmp_path: Path) -> None:
    for source, fragment in _bad_inputs(tmp_path):
        with pytest.raises(DataError) as caught:
            load_dataset(source)
        message = str(caught.value)
        assert fragment in message, (source, message)
        assert "\n" not in message
        if source.endswith(".npz"):
            assert source in message


def exit_status(argv: list[str]) -> int:
    """What `pqat-tui ARGV` exits with: main's return value, or a usage error's SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


def test_bad_input_exits_2_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for source, fragment in _bad_inputs(tmp_path):
        assert exit_status(["run", "--data", source]) == 2, source
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("pqat-tui: error: "), captured.err
        assert fragment in lines[0]
        assert "Traceback" not in captured.out + captured.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _npz(tmp_path)
    path.chmod(0)
    with pytest.raises(DataError, match="data.npz: permission denied"):
        load_dataset(str(path))


def test_a_subset_keeps_the_first_images_of_each_split() -> None:
    data = load_dataset("sample")
    part = data.subset(600, 300)
    assert (len(part.train), len(part.test)) == (600, 300) == (part.info.train, part.info.test)
    assert sum(part.info.class_counts) == 600 and part.image_shape == data.image_shape
    np.testing.assert_array_equal(part.x_test, data.x_test[:300])
    np.testing.assert_array_equal(part.y_train, data.y_train[:600])
