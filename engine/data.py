"""The data sources: Keras' MNIST loaders, the bundled sample, an .npz file, a folder of MNIST IDX files, or a
folder of images with one sub-folder per class.

Images of any shape: (N, H, W) or (N, H, W, C), uint8 or float, any number of classes (at least 2). A
`Dataset` keeps them as stored (uint8, or float32) with the divisor that brings them to [0, 1]; the input
pipeline (engine.input_pipeline) normalises each batch, the same way for Keras and for TFLite. A folder of
images is decoded once by the Data stage to check every file; its pixels are kept in memory when they fit
(`cache_limit`), and otherwise streamed from disk by the input pipeline at every epoch.

Every fault in a user's data becomes a `DataError` whose message is one line naming the file and the fault,
so that the command line can print it and exit with status 2 instead of a traceback. Only the Keras loaders,
image folders and resizing need TensorFlow; the other sources are read with numpy alone.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import parse_image_size
from engine.data_errors import DataError
from engine.image_folder import (
    FolderImages,
    common_size,
    file_kind,
    list_image_folder,
    looks_like_image_folder,
)
from engine.npz_reader import human_bytes, memory_limit, read_npz, read_npz_headers
from engine.results import DatasetInfo

__all__ = ["DataError", "DataOptions", "Dataset", "Split", "describe_source", "load_dataset"]

KERAS_SOURCES = ("mnist", "fashion_mnist")
SAMPLE = "sample"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
CLASS_NAMES_ARRAY = "class_names"
# The example's images: 28x28 grey, ten classes.
IMAGE_SIDE = 28
NUM_CLASSES = 10
EXAMPLE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)
SAMPLE_FILE = "mnist-sample.npz"
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
COLOR_MODES = ("auto", "grayscale", "rgb")
# Decoded images of a folder are kept in memory when they take at most this much (and a quarter of the memory
# available); larger sets are streamed from disk at every epoch. PQAT_TUI_CACHE_BYTES overrides it.
CACHE_LIMIT_BYTES = 1 << 30
CACHE_LIMIT_VARIABLE = "PQAT_TUI_CACHE_BYTES"
# Previews for the Data panel and reports: the first image of each class (up to this many), shrunk to fit.
PREVIEW_LIMIT = 12
PREVIEW_SIDE = 28

# The four files of the MNIST distribution, by the prefix every copy of them shares
# (`train-images-idx3-ubyte.gz`, `train-images.idx3-ubyte`, ...).
IDX_FILES = {
    "x_train": ("train-images", "idx3"),
    "y_train": ("train-labels", "idx1"),
    "x_test": ("t10k-images", "idx3"),
    "y_test": ("t10k-labels", "idx1"),
}


@dataclass(frozen=True)
class DataOptions:
    """How images are prepared, from the config: size, colour, the carved test split and its seed."""

    image_size: tuple[int, int] | None = None  # (height, width); None keeps the images' own size
    color_mode: str = "auto"  # auto keeps the channels (a folder: colour if any image is), grayscale, rgb
    test_split: float = 0.2  # share of each class held out for testing, for an image folder without test/
    seed: int = 0

    @classmethod
    def from_config(cls, config: Any) -> DataOptions:
        return cls(
            image_size=parse_image_size(config.image_size),
            color_mode=config.color_mode,
            test_split=config.test_split,
            seed=config.seed,
        )


@dataclass(frozen=True, eq=False)
class Split:
    """Labels, and the images either in memory (`images`, (N, H, W, C) as stored) or on disk (`files`)."""

    labels: np.ndarray  # int64 (N,)
    images: np.ndarray | None = None  # uint8, or float32
    files: tuple[str, ...] = ()
    pixel_divisor: float = 255.0  # stored pixel / divisor = the model's input, in [0, 1]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train and a test split of images shaped `image_shape` (H, W, C), labels in 0..classes-1."""

    train: Split
    test: Split
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    info: DatasetInfo
    resize: bool = False  # files are resized to image_shape as they are decoded
    seed: int = 0  # shuffles the training batches
    test_from: str = ""  # where the test split came from, when it was not given as arrays

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, train: int, test: int) -> Dataset:
        """The first `train` training and `test` test images (a quick run on part of the data)."""
        splits = (_first(self.train, train), _first(self.test, test))
        info = replace(
            self.info,
            train=len(splits[0]),
            test=len(splits[1]),
            class_counts=tuple(int(n) for n in np.bincount(splits[0].labels, minlength=self.num_classes)),
        )
        return replace(self, train=splits[0], test=splits[1], info=info)

    # The splits as normalised float32 arrays, (N, H, W) for one channel as the example feeds them. They
    # load every image into memory: tests and small tools use them; the stages stream (engine.input_pipeline).
    @property
    def x_train(self) -> np.ndarray:
        return self._normalised(self.train)

    @property
    def y_train(self) -> np.ndarray:
        return self.train.labels

    @property
    def x_test(self) -> np.ndarray:
        return self._normalised(self.test)

    @property
    def y_test(self) -> np.ndarray:
        return self.test.labels

    def _normalised(self, split: Split) -> np.ndarray:
        images = split.images
        if images is None:
            from engine.image_decode import decode_files

            images = decode_files(split.files, self.image_shape, self.resize, keep=True)
        assert images is not None
        scaled = (images.astype(np.float32) / np.float32(split.pixel_divisor)).astype(np.float32)
        return scaled[..., 0] if self.image_shape[2] == 1 else scaled


def feed_shape(
    model_input: Sequence[int | None], image_shape: tuple[int, int, int]
) -> tuple[int, ...] | None:
    """The shape in which a model with input `model_input` (without the batch axis) takes our images:
    (H, W, C), or (H, W) for one channel (the example's model takes (28, 28)); None when they do not fit.
    A None in the model's input accepts any size."""
    wanted = tuple(model_input)

    def fits(shape: tuple[int, ...]) -> bool:
        return len(wanted) == len(shape) and all(
            w is None or w == n for w, n in zip(wanted, shape, strict=False)
        )

    if fits(image_shape):
        return image_shape
    if image_shape[2] == 1 and fits(image_shape[:2]):
        return image_shape[:2]
    return None


def _first(split: Split, count: int) -> Split:
    images = None if split.images is None else split.images[:count]
    return Split(split.labels[:count], images, split.files[:count], split.pixel_divisor)


def sample_path() -> Path:
    """The bundled sample: `<repo>/assets/` in a checkout, `<site-packages>/pqat_tui/assets/` installed."""
    root = Path(__file__).resolve().parent.parent
    candidates = (root / "assets" / SAMPLE_FILE, root / "pqat_tui" / "assets" / SAMPLE_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(f"the bundled sample {SAMPLE_FILE} is missing (looked in {candidates[0].parent})")


def check_source_path(source: str) -> Path | None:
    """The path a source names, when it is one: a regular file or a folder, else DataError at once.

    Nothing is opened: a FIFO, `/dev/zero` or a pipe (`<(cat x.npz)`) would block or never end.
    """
    if source in KERAS_SOURCES or source == SAMPLE:
        return None
    path = Path(source).expanduser()
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if path.suffix.lower() == ".npz" or os.sep in source or path.suffix:
            raise DataError(f"{path}: no such file") from None
        raise DataError(_unknown_source(source)) from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(
            f"{path}: not a regular file or folder ({file_kind(mode)}); give an .npz file or a folder"
        )
    return path


def _unknown_source(source: str) -> str:
    return (
        f"unknown data source {source!r}: expected mnist, fashion_mnist, sample, a .npz file, a folder of "
        "MNIST IDX files or a folder of images with one sub-folder per class"
    )


def load_dataset(source: str, options: DataOptions | None = None) -> Dataset:
    """Load and validate a data source; raises DataError with a one-line message on any fault."""
    options = options or DataOptions()
    if source in KERAS_SOURCES:
        return _load_keras(source, options)
    if source == SAMPLE:
        path = sample_path()
        return _from_arrays(source, _read_npz(path), path, options)
    path = check_source_path(source)
    assert path is not None
    if path.is_dir():
        if looks_like_image_folder(path):
            return _from_folder(source, path, options)
        return _from_arrays(source, _read_idx_folder(path), path, options)
    return _from_arrays(source, _read_npz(path), path, options)


def describe_source(source: str, options: DataOptions | None = None) -> tuple[tuple[int, int, int], int]:
    """(image shape, number of classes) that loading `source` gives, read cheaply (headers and labels).

    A user's model is checked against it before any work. DataError for a source that cannot load.
    """
    options = options or DataOptions()
    if source in KERAS_SOURCES:
        return _converted_shape(EXAMPLE_SHAPE, options), NUM_CLASSES
    path = sample_path() if source == SAMPLE else check_source_path(source)
    assert path is not None
    if path.is_dir():
        if looks_like_image_folder(path):
            folder = list_image_folder(path, options.test_split, options.seed)
            return _folder_shape(folder, options), len(folder.classes)
        arrays = _read_idx_folder(path)
        shape = _images(arrays["x_train"], "x_train", path).shape[1:]
    else:
        headers = read_npz_headers(path, ARRAY_NAMES, (CLASS_NAMES_ARRAY,))
        for name in ("x_train", "x_test"):
            _stored_shape(headers[name].shape, name, path)
            _check_image_dtype(headers[name].dtype, name, path)
            if headers[name].shape[0] == 0:
                raise DataError(f"{path}: {name} is empty")
        shape = _stored_shape(headers["x_train"].shape, "x_train", path)
        arrays = read_npz(path, ("y_train", "y_test"), (CLASS_NAMES_ARRAY,))
    names = _class_names(arrays, path)
    y_train, y_test = _labels(arrays["y_train"], "y_train", path), _labels(arrays["y_test"], "y_test", path)
    return _converted_shape(shape, options), _class_count(y_train, y_test, names, path)


def keras_home() -> Path:
    """$KERAS_HOME, else ~/.keras. (tf_keras's loaders ignore KERAS_HOME unless told: we tell them.)"""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def keras_cache_dir() -> Path:
    """Where the Keras loaders keep their downloads (they fall back to /tmp when this is not writable)."""
    home = keras_home()
    writable = home if home.exists() else home.parent
    return (home if os.access(writable, os.W_OK) else Path("/tmp/.keras")) / "datasets"


def _load_keras(source: str, options: DataOptions) -> Dataset:
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
        return _from_arrays(source, _read_npz(path), path, options, note=note)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    if source == "fashion_mnist":
        arrays[CLASS_NAMES_ARRAY] = np.array(FASHION_CLASSES)
    cached = keras_cache_dir() / ("mnist.npz" if source == "mnist" else "fashion-mnist")
    return _from_arrays(source, arrays, cached, options)


def _download_fault(error: Exception) -> str:
    """The cause in a few words: Keras says "URL fetch failure on URL: None -- [Errno -2] Name or ..."."""
    text = " ".join(str(error).split()) or type(error).__name__
    if " -- " in text:
        text = text.rsplit(" -- ", 1)[1]
    return _shorten(re.sub(r"^\[Errno [^\]]*\]\s*", "", text))


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    return read_npz(path, ARRAY_NAMES, (CLASS_NAMES_ARRAY,))


def _find_idx_file(folder: Path, prefix: str, kind: str) -> Path:
    matches = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith(prefix) and kind in p.name and not p.name.startswith(".")
    )
    if not matches:
        raise DataError(
            f"{folder}: no {prefix}-{kind}-ubyte[.gz] file (a folder must hold the four MNIST files, or one "
            "sub-folder of images per class)"
        )
    return matches[0]


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    return {name: _read_idx(_find_idx_file(folder, *pattern)) for name, pattern in IDX_FILES.items()}


def _read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST distribution's format), gzipped or raw: big-endian header, uint8 data.

    The header is read first and the size it declares checked against the memory available, so a crafted
    header (or a gzip bomb) costs nothing.
    """
    try:
        with open(path, "rb") as raw_handle:
            gzipped = raw_handle.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4 or head[0:2] != b"\x00\x00":
                raise DataError(f"{path}: not an IDX file (bad magic number)")
            dtype_code, ndim = head[2], head[3]
            if dtype_code != 0x08:
                raise DataError(f"{path}: IDX data type 0x{dtype_code:02x} is not unsigned bytes (0x08)")
            dims = handle.read(4 * ndim)
            if ndim == 0 or len(dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            expected = math.prod(shape)
            if expected > memory_limit():
                raise DataError(
                    f"{path}: its header declares shape {shape} ({human_bytes(expected)}), more than "
                    "the memory available"
                )
            content = handle.read(expected + 1)
    except DataError:
        raise
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({' '.join(str(error).split())})") from None
    if len(content) != expected:
        raise DataError(
            f"{path}: header promises shape {shape} ({expected:,} bytes) but the file holds "
            f"{len(content):,} bytes"
        )
    return np.frombuffer(content, dtype=np.uint8).reshape(shape)


# --- arrays (npz, IDX, Keras) ---------------------------------------------------------------------------


def _from_arrays(
    source: str, arrays: dict[str, np.ndarray], path: Path, options: DataOptions, note: str | None = None
) -> Dataset:
    x_train = _images(arrays["x_train"], "x_train", path)
    y_train = _labels(arrays["y_train"], "y_train", path)
    x_test = _images(arrays["x_test"], "x_test", path)
    y_test = _labels(arrays["y_test"], "y_test", path)
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(images) != len(labels):
            raise DataError(
                f"{path}: x_{split} has {len(images):,} images but y_{split} has {len(labels):,} labels"
            )
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{path}: x_train's images are {_shape_text(x_train.shape[1:])} but x_test's are "
            f"{_shape_text(x_test.shape[1:])}"
        )
    names = _class_names(arrays, path)
    classes = _class_count(y_train, y_test, names, path)
    names = names or tuple(str(label) for label in range(classes))
    train_divisor, test_divisor = _pixel_divisor(x_train), _pixel_divisor(x_test)
    x_train, x_test = (_prepared(images, options, path) for images in (x_train, x_test))
    image_shape = (int(x_train.shape[1]), int(x_train.shape[2]), int(x_train.shape[3]))
    info = _info(source, path, note, image_shape, names, y_train, len(y_test))
    info = _with_previews(info, x_train, y_train, train_divisor)
    return Dataset(
        train=Split(y_train, x_train, pixel_divisor=train_divisor),
        test=Split(y_test, x_test, pixel_divisor=test_divisor),
        image_shape=image_shape,
        class_names=names,
        info=info,
        seed=options.seed,
    )


def _stored_shape(shape: tuple[int, ...], name: str, path: Path) -> tuple[int, int, int]:
    """(H, W, C) of one image of an (N, H, W) or (N, H, W, C) array."""
    if len(shape) == 3:
        shape = (*shape, 1)
    if len(shape) != 4 or 0 in shape[1:]:
        raise DataError(
            f"{path}: {name} has shape {_shape_text(shape)}; expected images (N, height, width) or "
            "(N, height, width, channels)"
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def _images(images: np.ndarray, name: str, path: Path) -> np.ndarray:
    """(N, H, W, C) uint8 or float32, checked: finite, not negative, at most 255."""
    images = np.asarray(images)
    _stored_shape(images.shape, name, path)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    _check_image_dtype(images.dtype, name, path)
    if len(images) == 0:
        raise DataError(f"{path}: {name} is empty")
    if images.dtype == np.uint8:
        return images
    images = images.astype(np.float32, copy=False)
    if not np.isfinite(images).all():
        raise DataError(f"{path}: {name} contains NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < 0:
        raise DataError(f"{path}: {name} holds negative pixel values ({low:g}); expected 0..1 or 0..255")
    if high > 255:
        raise DataError(f"{path}: {name} holds pixel values above 255 ({high:g}); expected 0..1 or 0..255")
    return images


def _check_image_dtype(dtype: np.dtype, name: str, path: Path) -> None:
    if dtype != np.uint8 and not np.issubdtype(dtype, np.floating):
        raise DataError(f"{path}: {name} has dtype {dtype}; expected uint8 or float")


def _pixel_divisor(images: np.ndarray) -> float:
    """255 for uint8 pixels and for floats above 1 (read as 0..255); 1 for floats already in [0, 1]."""
    if images.dtype == np.uint8:
        return 255.0
    return 255.0 if float(images.max()) > 1.0 else 1.0


def _labels(labels: np.ndarray, name: str, path: Path) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{path}: {name} has shape {_shape_text(labels.shape)}; expected (N,) integer labels")
    if len(labels) == 0:
        raise DataError(f"{path}: {name} is empty")
    if np.issubdtype(labels.dtype, np.floating):
        if not np.isfinite(labels).all():
            raise DataError(f"{path}: {name} contains NaN or infinite values")
        if not np.array_equal(labels, np.round(labels)):
            raise DataError(f"{path}: {name} holds non-integer labels; expected integers from 0")
    elif not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise DataError(f"{path}: {name} has dtype {labels.dtype}; expected integer labels from 0")
    low = labels.min()
    if low < 0:
        raise DataError(f"{path}: {name} holds label {low:g}; expected integers from 0")
    if labels.max() >= 2**31:
        raise DataError(f"{path}: {name} holds label {labels.max():g}; expected class numbers")
    return labels.astype(np.int64)


def _class_names(arrays: dict[str, np.ndarray], path: Path) -> tuple[str, ...]:
    """The names an npz gives its classes (`class_names`, strings), or () when it gives none."""
    names = arrays.get(CLASS_NAMES_ARRAY)
    if names is None:
        return ()
    names = np.asarray(names)
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise DataError(f"{path}: {CLASS_NAMES_ARRAY} must be a list of strings, one per class")
    decoded = tuple(
        (name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)).strip() for name in names
    )
    if len(decoded) < 2 or not all(decoded) or len(set(decoded)) != len(decoded):
        raise DataError(f"{path}: {CLASS_NAMES_ARRAY} must hold at least 2 different, non-empty names")
    return decoded


def _class_count(y_train: np.ndarray, y_test: np.ndarray, names: tuple[str, ...], path: Path) -> int:
    """Classes: as many as the names, else the largest label + 1; at least two among the training labels.

    The labels are already checked (`_labels`)."""
    largest = int(max(y_train.max(), y_test.max()))
    if names and largest >= len(names):
        which = "y_train" if y_train.max() == largest else "y_test"
        raise DataError(
            f"{path}: {which} holds label {largest} but {CLASS_NAMES_ARRAY} names {len(names)} classes "
            f"(0..{len(names) - 1})"
        )
    present = np.unique(y_train)
    if len(present) < 2:
        raise DataError(
            f"{path}: y_train holds a single class ({int(present[0])}); a classifier needs at least 2 classes"
        )
    return len(names) if names else largest + 1


def _converted_shape(shape: tuple[int, ...], options: DataOptions) -> tuple[int, int, int]:
    height, width = options.image_size or (shape[0], shape[1])
    channels = {"grayscale": 1, "rgb": 3}.get(options.color_mode, shape[2])
    return int(height), int(width), int(channels)


def _prepared(images: np.ndarray, options: DataOptions, path: Path) -> np.ndarray:
    """Images converted as the options ask: channels first (numpy), then size (TensorFlow)."""
    images = _with_channels(images, options.color_mode, path)
    if options.image_size is not None and images.shape[1:3] != options.image_size:
        from engine.tf_runtime import load_tensorflow

        load_tensorflow()
        from engine.image_decode import resize_array

        images = resize_array(images, options.image_size)
    return np.ascontiguousarray(images)


def _with_channels(images: np.ndarray, color_mode: str, path: Path) -> np.ndarray:
    channels = images.shape[-1]
    if color_mode == "auto" or (color_mode == "grayscale" and channels == 1):
        return images
    if channels not in (1, 2, 3, 4):
        raise DataError(f"{path}: images have {channels} channels; only 1 to 4 convert to {color_mode}")
    if color_mode == "rgb":
        return images[..., :3] if channels >= 3 else np.repeat(images[..., :1], 3, axis=-1)
    if channels == 2:
        return images[..., :1]
    luma = np.tensordot(images[..., :3].astype(np.float32), np.array([0.2989, 0.5870, 0.1140], np.float32), 1)
    luma = luma[..., np.newaxis]
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8) if images.dtype == np.uint8 else luma


def _info(
    source: str,
    path: Path,
    note: str | None,
    image_shape: tuple[int, int, int],
    names: tuple[str, ...],
    y_train: np.ndarray,
    test_count: int,
) -> DatasetInfo:
    return DatasetInfo(
        source=source,
        train=len(y_train),
        test=test_count,
        class_counts=tuple(int(n) for n in np.bincount(y_train, minlength=len(names))),
        note=note,
        loaded_from=str(path),
        image_shape=image_shape,
        classes=names,
    )


def _with_previews(info: DatasetInfo, images: np.ndarray, labels: np.ndarray, divisor: float) -> DatasetInfo:
    """The first training image of each class (up to PREVIEW_LIMIT), as uint8 pixels at most 28 a side."""
    found_images: list[bytes] = []
    found_labels: list[int] = []
    shape: tuple[int, ...] = ()
    for label in range(len(info.class_counts)):
        if len(found_labels) == PREVIEW_LIMIT:
            break
        where = np.flatnonzero(labels == label)
        if len(where) == 0:
            continue
        image = preview_pixels(images[where[0]], divisor)
        shape = image.shape
        found_images.append(image.tobytes())
        found_labels.append(label)
    return replace(
        info, preview_images=tuple(found_images), preview_labels=tuple(found_labels), preview_shape=shape
    )


def preview_pixels(image: np.ndarray, divisor: float) -> np.ndarray:
    """One (H, W, C) image as uint8, shrunk by averaging blocks until no side exceeds PREVIEW_SIDE."""
    pixels = image.astype(np.float32) * np.float32(255.0 / divisor)
    factor = math.ceil(max(pixels.shape[0], pixels.shape[1]) / PREVIEW_SIDE)
    if factor > 1:
        height, width = pixels.shape[0] // factor, pixels.shape[1] // factor
        height, width = max(height, 1), max(width, 1)
        cropped = pixels[: height * factor, : width * factor]
        if cropped.shape[0] < factor or cropped.shape[1] < factor:
            cropped = pixels[:factor, :factor]
        pixels = cropped.reshape(height, factor, width, factor, -1).mean(axis=(1, 3))
    channels = pixels.shape[-1]
    if channels not in (1, 3):
        pixels = pixels[..., :3] if channels > 3 else pixels[..., :1]
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


# --- image folders --------------------------------------------------------------------------------------


def cache_limit() -> int:
    """Bytes of decoded images kept in memory (see CACHE_LIMIT_BYTES)."""
    override = os.environ.get(CACHE_LIMIT_VARIABLE)
    if override is not None:
        with contextlib.suppress(ValueError):
            return max(0, int(override))
    return min(CACHE_LIMIT_BYTES, memory_limit() // 4)


def _folder_shape(folder: FolderImages, options: DataOptions) -> tuple[int, int, int]:
    everything = folder.train + folder.test
    height, width = options.image_size or common_size(folder.root, everything)
    if options.color_mode == "auto":
        channels = 3 if any(image.channels >= 3 for image in everything) else 1
    else:
        channels = 1 if options.color_mode == "grayscale" else 3
    return height, width, channels


def _from_folder(source: str, root: Path, options: DataOptions) -> Dataset:
    from engine.tf_runtime import load_tensorflow

    folder = list_image_folder(root, options.test_split, options.seed)
    shape = _folder_shape(folder, options)
    load_tensorflow()
    from engine.image_decode import decode_files

    resize = options.image_size is not None
    paths = [image.path for image in folder.train + folder.test]
    keep = len(paths) * math.prod(shape) <= cache_limit()
    pixels = decode_files(paths, shape, resize, keep)  # every file is decoded once, to check it
    train_labels = np.array([image.label for image in folder.train], np.int64)
    test_labels = np.array([image.label for image in folder.test], np.int64)
    count = len(folder.train)
    train_files = tuple(image.path for image in folder.train)
    test_files = tuple(image.path for image in folder.test)
    if pixels is not None:
        train = Split(train_labels, pixels[:count], train_files)
        test = Split(test_labels, pixels[count:], test_files)
    else:
        train, test = Split(train_labels, None, train_files), Split(test_labels, None, test_files)
    notes = []
    if folder.ignored:
        notes.append(
            f"{folder.ignored} file(s) that are not PNG, JPEG, BMP or GIF by their name were left out"
        )
    info = _info(
        source, root, "; ".join(notes) or None, shape, folder.classes, train_labels, len(test_labels)
    )
    preview_source = train.images
    if preview_source is None:
        firsts = [int(np.flatnonzero(train_labels == label)[0]) for label in range(len(folder.classes))]
        firsts = firsts[:PREVIEW_LIMIT]
        decoded = decode_files([train_files[i] for i in firsts], shape, resize, keep=True)
        assert decoded is not None
        preview_source, preview_labels = decoded, train_labels[firsts]
    else:
        preview_labels = train_labels
    info = _with_previews(info, preview_source, preview_labels, 255.0)
    return Dataset(
        train=train,
        test=test,
        image_shape=shape,
        class_names=folder.classes,
        info=info,
        resize=resize,
        seed=options.seed,
        test_from=folder.test_from,
    )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
