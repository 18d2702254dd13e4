"""The data sources: Keras' MNIST loaders, the bundled sample, an .npz file or a folder of MNIST IDX files.

Every fault in a user's data becomes a `DataError` whose message is one line naming the file and the fault,
so that the command line can print it and exit with status 2 instead of a traceback. Only the Keras
loaders need TensorFlow; the other sources are read with numpy alone.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.results import DatasetInfo

KERAS_SOURCES = ("mnist", "fashion_mnist")
SAMPLE = "sample"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SIDE = 28
NUM_CLASSES = 10
SAMPLE_FILE = "mnist-sample.npz"

# The four files of the MNIST distribution, by the prefix every copy of them shares
# (`train-images-idx3-ubyte.gz`, `train-images.idx3-ubyte`, ...).
IDX_FILES = {
    "x_train": ("train-images", "idx3"),
    "y_train": ("train-labels", "idx1"),
    "x_test": ("t10k-images", "idx3"),
    "y_test": ("t10k-labels", "idx1"),
}


class DataError(Exception):
    """A data source that cannot be used; the message is one line naming the file and the fault."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images as float32 in [0, 1] shaped (N, 28, 28), labels as int64 (N,), as the example feeds them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: DatasetInfo


def sample_path() -> Path:
    """The bundled sample: `<repo>/assets/` in a checkout, `<site-packages>/pqat_tui/assets/` installed."""
    root = Path(__file__).resolve().parent.parent
    candidates = (root / "assets" / SAMPLE_FILE, root / "pqat_tui" / "assets" / SAMPLE_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(f"the bundled sample {SAMPLE_FILE} is missing (looked in {candidates[0].parent})")


def load_dataset(source: str) -> Dataset:
    """Load and validate a data source; raises DataError with a one-line message on any fault."""
    if source in KERAS_SOURCES:
        return _load_keras(source)
    if source == SAMPLE:
        path = sample_path()
        return _from_arrays(source, _read_npz(path), path)
    path = Path(source).expanduser()
    if path.is_dir():
        return _from_arrays(source, _read_idx_folder(path), path)
    if path.suffix.lower() == ".npz" or path.exists():
        if not path.exists():
            raise DataError(f"{path}: no such file")
        return _from_arrays(source, _read_npz(path), path)
    raise DataError(
        f"unknown data source {source!r}: expected mnist, fashion_mnist, sample, "
        "a .npz file or a folder of MNIST IDX files"
    )


def keras_home() -> Path:
    """$KERAS_HOME, else ~/.keras. (tf_keras's loaders ignore KERAS_HOME unless told: we tell them.)"""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def keras_cache_dir() -> Path:
    """Where the Keras loaders keep their downloads (they fall back to /tmp when this is not writable)."""
    home = keras_home()
    writable = home if home.exists() else home.parent
    return (home if os.access(writable, os.W_OK) else Path("/tmp/.keras")) / "datasets"


def _load_keras(source: str) -> Dataset:
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    loader = keras.datasets.mnist if source == "mnist" else keras.datasets.fashion_mnist
    # The loaders print "Downloading data from ..." and a progress bar on stdout; keep them off the screen.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            (x_train, y_train), (x_test, y_test) = loader.load_data(cache_dir=str(keras_home()))
    except Exception as error:  # noqa: BLE001 - offline, blocked, or a corrupt cache: all mean "use the sample"
        path = sample_path()
        note = (
            f"{source} is not in the Keras cache ({keras_cache_dir()}) and could not be downloaded "
            f"({_download_fault(error)}); using the bundled sample of real MNIST digits instead."
        )
        return _from_arrays(source, _read_npz(path), path, note=note)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    cached = keras_cache_dir() / ("mnist.npz" if source == "mnist" else "fashion-mnist")
    return _from_arrays(source, arrays, cached)


def _download_fault(error: Exception) -> str:
    """The cause in a few words: Keras says "URL fetch failure on URL: None -- [Errno -2] Name or ..."."""
    text = " ".join(str(error).split()) or type(error).__name__
    if " -- " in text:
        text = text.rsplit(" -- ", 1)[1]
    return _shorten(re.sub(r"^\[Errno [^\]]*\]\s*", "", text))


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in ARRAY_NAMES if name not in archive.files]
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(missing)} (expected {', '.join(ARRAY_NAMES)})"
                )
            return {name: archive[name] for name in ARRAY_NAMES}
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an .npz file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"{path}: not a readable .npz file ({_shorten(detail, 100)})") from None


def _find_idx_file(folder: Path, prefix: str, kind: str) -> Path:
    matches = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith(prefix) and kind in p.name and not p.name.startswith(".")
    )
    if not matches:
        raise DataError(
            f"{folder}: no {prefix}-{kind}-ubyte[.gz] file (a folder must hold the four MNIST files)"
        )
    return matches[0]


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    return {name: _read_idx(_find_idx_file(folder, *pattern)) for name, pattern in IDX_FILES.items()}


def _read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST distribution's format), gzipped or raw: big-endian header, uint8 data."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({' '.join(str(error).split())})") from None
    if len(raw) < 4 or raw[0:2] != b"\x00\x00":
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise DataError(f"{path}: IDX data type 0x{dtype_code:02x} is not unsigned bytes (0x08)")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: header promises shape {shape} ({expected:,} bytes) but the file holds "
            f"{len(raw) - header:,} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _from_arrays(source: str, arrays: dict[str, np.ndarray], path: Path, note: str | None = None) -> Dataset:
    x_train = _images(arrays["x_train"], "x_train", path)
    y_train = _labels(arrays["y_train"], "y_train", path)
    x_test = _images(arrays["x_test"], "x_test", path)
    y_test = _labels(arrays["y_test"], "y_test", path)
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(images) != len(labels):
            raise DataError(
                f"{path}: x_{split} has {len(images):,} images but y_{split} has {len(labels):,} labels"
            )
    preview_images, preview_labels = _previews(x_train, y_train)
    info = DatasetInfo(
        source=source,
        train=len(x_train),
        test=len(x_test),
        class_counts=tuple(int(n) for n in np.bincount(y_train, minlength=NUM_CLASSES)),
        note=note,
        loaded_from=str(path),
        preview_images=preview_images,
        preview_labels=preview_labels,
    )
    return Dataset(
        x_train=_scaled(x_train),
        y_train=y_train,
        x_test=_scaled(x_test),
        y_test=y_test,
        info=info,
    )


def _images(images: np.ndarray, name: str, path: Path) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{path}: {name} has shape {images.shape}; expected (N, 28, 28) or (N, 28, 28, 1)")
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise DataError(f"{path}: {name} has dtype {images.dtype}; expected uint8 or float")
    if len(images) == 0:
        raise DataError(f"{path}: {name} is empty")
    if images.dtype != np.uint8 and not np.isfinite(images).all():
        raise DataError(f"{path}: {name} contains NaN or infinite values")
    return images


def _labels(labels: np.ndarray, name: str, path: Path) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{path}: {name} has shape {labels.shape}; expected (N,) integer labels")
    if len(labels) == 0:
        raise DataError(f"{path}: {name} is empty")
    if np.issubdtype(labels.dtype, np.floating):
        if not np.isfinite(labels).all():
            raise DataError(f"{path}: {name} contains NaN or infinite values")
        if not np.array_equal(labels, np.round(labels)):
            raise DataError(f"{path}: {name} holds non-integer labels; expected integers in 0..9")
    elif not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise DataError(f"{path}: {name} has dtype {labels.dtype}; expected integer labels in 0..9")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= NUM_CLASSES:
        bad = low if low < 0 else high
        raise DataError(f"{path}: {name} holds label {bad:g}; expected integers in 0..9")
    return labels.astype(np.int64)


def _scaled(images: np.ndarray) -> np.ndarray:
    """As the example does (`images / 255.0`), in float32, which is what Keras trains on anyway.

    Float images already in [0, 1] are taken as they are; larger values are read as 0..255 pixels.
    """
    if images.dtype == np.uint8 or float(images.max()) > 1.0:
        return (images.astype(np.float32) / np.float32(255.0)).astype(np.float32)
    return images.astype(np.float32)


def _previews(images: np.ndarray, labels: np.ndarray) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
    """The first training digit of each class, as the raw 784 bytes a panel can draw."""
    found_images: list[bytes] = []
    found_labels: list[int] = []
    for digit in range(NUM_CLASSES):
        where = np.flatnonzero(labels == digit)
        if len(where) == 0:
            continue
        image = images[where[0]]
        if image.dtype != np.uint8:
            scale = 255.0 if float(image.max()) <= 1.0 else 1.0
            image = np.clip(np.rint(image * scale), 0, 255).astype(np.uint8)
        found_images.append(image.tobytes())
        found_labels.append(digit)
    return tuple(found_images), tuple(found_labels)
