"""Image-folder datasets for the tests, made from the bundled digits: resized, coloured, saved as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "mnist-sample.npz"
CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def coloured_digits(
    count: int, side: int = 32, offset: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`count` sample digits (from `offset`) as (count, side, side, 3) uint8 RGB images and their labels.

    Each digit is scaled to `side` and tinted with a colour drawn per image on a dim background of another
    colour, so that colour carries no label.
    """
    import tensorflow as tf

    raw = np.load(SAMPLE)
    digits = raw["x_train"][offset : offset + count]
    labels = raw["y_train"][offset : offset + count].astype(np.int64)
    grey = tf.image.resize(digits[..., np.newaxis].astype(np.float32), (side, side)).numpy() / 255.0
    rng = np.random.default_rng(seed)
    ink = rng.uniform(0.5, 1.0, (count, 1, 1, 3))
    paper = rng.uniform(0.0, 0.3, (count, 1, 1, 3))
    images = np.clip(np.rint((grey * ink + (1 - grey) * paper) * 255), 0, 255).astype(np.uint8)
    return images, labels


def write_image_folder(
    root: Path,
    count: int = 300,
    side: int = 32,
    classes: int = 10,
    split_folders: bool = False,
    grey: bool = False,
) -> Path:
    """`root/<class name>/<n>.png` (or `root/train/...` and `root/test/...`) with `count` coloured digits."""
    import tensorflow as tf

    images, labels = coloured_digits(count, side)
    keep = labels < classes
    images, labels = images[keep], labels[keep]
    if grey:
        images = np.rint(images.astype(np.float32).mean(axis=-1, keepdims=True)).astype(np.uint8)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        part = ("test" if index % 5 == 0 else "train") if split_folders else ""
        folder = root / part / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:05d}.png").write_bytes(tf.io.encode_png(image).numpy())
    return root
