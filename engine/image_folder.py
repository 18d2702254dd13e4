"""A folder of images with one sub-folder per class (Keras' `image_dataset_from_directory` convention).

    DIR/cat/001.png, DIR/dog/002.jpg, ...               one folder: the test split is carved from it
    DIR/train/cat/..., DIR/test/cat/..., ...            or given as train/ and test/ sub-folders

Listing, reading each file's header (size and channels, a few bytes) and splitting need no TensorFlow; the
pixels are decoded by engine.image_decode. Every fault is a DataError naming the file: an image that is
not a regular file, too large, or not a PNG, JPEG, BMP or GIF by its content; a class folder with no images; a
single class; images of different sizes without `--image-size`.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.data_errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Bounds on one image, so that a crafted file costs little: its bytes, and the pixels its header declares.
MAX_IMAGE_FILE_BYTES = 64 << 20
MAX_IMAGE_PIXELS = 1 << 26
# A JPEG's size is in its SOFn segment, after any EXIF/ICC segments: read at most this much to find it.
JPEG_SCAN_BYTES = 1 << 20
TRAIN_FOLDER, TEST_FOLDER = "train", "test"


@dataclass(frozen=True)
class ImageFile:
    path: str
    label: int
    width: int
    height: int
    channels: int  # as stored: 1 grey, 2 grey+alpha, 3 colour, 4 colour+alpha


@dataclass(frozen=True)
class FolderImages:
    """The listed images of a class-folder dataset, split into train and test."""

    root: Path
    classes: tuple[str, ...]
    train: tuple[ImageFile, ...]
    test: tuple[ImageFile, ...]
    ignored: int  # files that are not images by their name (a README, a .csv)
    test_from: str  # where the test split came from, in words


def looks_like_image_folder(folder: Path) -> bool:
    """Whether `folder` has sub-folders (classes, or train/ and test/); an IDX folder has only files."""
    try:
        return any(entry.is_dir() and not entry.name.startswith(".") for entry in os.scandir(folder))
    except OSError:
        return False


def list_image_folder(root: Path, test_split: float, seed: int) -> FolderImages:
    """The images under `root`, headers read and checked; the test split given or carved (stratified)."""
    subfolders = _subfolders(root)
    if TRAIN_FOLDER in subfolders and set(subfolders) <= {TRAIN_FOLDER, TEST_FOLDER}:
        classes = _class_names(root / TRAIN_FOLDER)
        train, ignored = _list_classes(root / TRAIN_FOLDER, classes)
        if TEST_FOLDER in subfolders:
            test_classes = _subfolders(root / TEST_FOLDER)
            unknown = [name for name in test_classes if name not in classes]
            if unknown:
                raise DataError(
                    f"{root / TEST_FOLDER / unknown[0]}: class {unknown[0]!r} is not among the "
                    f"training classes ({', '.join(classes)})"
                )
            test, more_ignored = _list_classes(root / TEST_FOLDER, test_classes, classes)
            return FolderImages(
                root, classes, _shuffled(train, seed), tuple(test), ignored + more_ignored, "the test/ folder"
            )
    else:
        classes = _class_names(root)
        train, ignored = _list_classes(root, classes)
    kept, test = _stratified_split(root, train, len(classes), test_split, seed)
    carved = f"{test_split:.0%} of each class, seed {seed}"
    return FolderImages(root, classes, _shuffled(kept, seed), tuple(test), ignored, carved)


def common_size(root: Path, images: tuple[ImageFile, ...]) -> tuple[int, int]:
    """(height, width) shared by every image; DataError naming two files that differ (in name order)."""
    ordered = sorted(images, key=lambda image: image.path)
    first = ordered[0]
    for image in ordered:
        if (image.height, image.width) != (first.height, first.width):
            raise DataError(
                f"{root}: images differ in size: {first.path} is {first.width}x{first.height}, "
                f"{image.path} is {image.width}x{image.height} (give --image-size HxW to resize them all)"
            )
    return first.height, first.width


def _subfolders(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    except OSError as error:
        raise DataError(f"{folder}: cannot read the folder ({error.strerror or error})") from None


def _class_names(folder: Path) -> tuple[str, ...]:
    classes = tuple(_subfolders(folder))
    if not classes:
        raise DataError(f"{folder}: no class sub-folders (expected one folder of images per class)")
    if len(classes) == 1:
        raise DataError(
            f"{folder}: only one class folder ({classes[0]}); a classifier needs at least 2 classes"
        )
    return classes


def _list_classes(
    folder: Path, names: tuple[str, ...] | list[str], all_classes: tuple[str, ...] | None = None
) -> tuple[list[ImageFile], int]:
    """Every image of the class folders `names` under `folder`, labelled by their index in `all_classes`."""
    labels = {name: index for index, name in enumerate(all_classes or names)}
    found: list[ImageFile] = []
    ignored = 0
    for name in names:
        class_dir = folder / name
        paths, skipped = _image_paths(class_dir)
        ignored += skipped
        if not paths:
            raise DataError(f"{class_dir}: class folder with no images (PNG, JPEG, BMP or GIF)")
        found.extend(_image_file(path, labels[name]) for path in paths)
    return found, ignored


def _image_paths(class_dir: Path) -> tuple[list[Path], int]:
    """Image files under a class folder (its sub-folders too, not following links), in name order."""
    paths: list[Path] = []
    ignored = 0
    for current, dirs, files in os.walk(class_dir, onerror=_walk_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                paths.append(Path(current) / name)
            else:
                ignored += 1
    return paths, ignored


def _walk_error(error: OSError) -> None:
    raise DataError(f"{error.filename}: cannot read the folder ({error.strerror or error})")


def _image_file(path: Path, label: int) -> ImageFile:
    """A listed image, its header read: regular file, bounded size, a known format and sane dimensions."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: not a regular file ({file_kind(info.st_mode)})")
    if info.st_size > MAX_IMAGE_FILE_BYTES:
        raise DataError(f"{path}: {info.st_size / 2**20:.0f} MiB, more than an image may be (64 MiB)")
    try:
        with open(path, "rb") as handle:
            width, height, channels = _read_header(handle)
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    except (struct.error, ValueError, IndexError) as error:
        raise DataError(f"{path}: not a readable image ({error or 'truncated header'})") from None
    if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"{path}: its header declares {width}x{height} pixels, which no image here may have")
    return ImageFile(str(path), label, width, height, channels)


def file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO or pipe",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a plain file")


def _read_header(handle) -> tuple[int, int, int]:
    """(width, height, channels as stored) from a PNG, GIF, BMP or JPEG header, reading a few bytes."""
    head = handle.read(32)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(head[25])
        if channels is None:
            raise ValueError(f"PNG colour type {head[25]} is not valid")
        return width, height, channels
    if head[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", head[6:10])
        return width, height, 3
    if head[:2] == b"BM":
        (dib_size,) = struct.unpack("<I", head[14:18])
        if dib_size == 12:
            width, height, _planes, bits = struct.unpack("<HHHH", head[18:26])
        else:
            width, height, _planes, bits = struct.unpack("<iiHH", head[18:30])
        return width, abs(height), 4 if bits == 32 else 1 if bits == 8 else 3
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(head, handle)
    raise ValueError("not a PNG, JPEG, BMP or GIF image by its content")


_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(head: bytes, handle) -> tuple[int, int, int]:
    data = head + handle.read(JPEG_SCAN_BYTES)
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ValueError("JPEG segments are damaged")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_FRAME_MARKERS:
            height, width, components = struct.unpack(">HHB", data[position + 5 : position + 10])
            return width, height, components
        if marker == 0xDA or length < 2:
            break
        position += 2 + length
    raise ValueError("no JPEG frame header found")


def _stratified_split(
    root: Path, images: list[ImageFile], classes: int, share: float, seed: int
) -> tuple[list[ImageFile], list[ImageFile]]:
    """`share` of each class's images (rounded, at least one left to train on) for testing, chosen by seed."""
    rng = np.random.default_rng(seed)
    train: list[ImageFile] = []
    test: list[ImageFile] = []
    by_class: list[list[ImageFile]] = [[] for _ in range(classes)]
    for image in images:
        by_class[image.label].append(image)
    for members in by_class:
        order = rng.permutation(len(members))
        count = min(len(members) - 1, round(len(members) * share))
        test.extend(members[i] for i in order[:count])
        train.extend(members[i] for i in order[count:])
    if not test:
        raise DataError(
            f"{root}: a test split of {share:g} leaves no test images ({len(images)} images); give a larger "
            "--test-split or a test/ folder"
        )
    return train, test


def _shuffled(images: list[ImageFile], seed: int) -> tuple[ImageFile, ...]:
    """The training images in a seeded random order: the validation share (the last one) mixes classes."""
    order = np.random.default_rng([seed, 1]).permutation(len(images))
    return tuple(images[i] for i in order)
