"""Image files to pixels with TensorFlow ops: decode, convert channels, resize. One function per step, used
by the Data stage's check of every file and by the input pipeline that streams them, so both see the same
pixels.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from engine.data_errors import DataError

# ITU-R 601 luma, as tf.image.rgb_to_grayscale and PIL weigh red, green and blue.
LUMA = (0.2989, 0.5870, 0.1140)
CHECK_BATCH = 256


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """A uint8 image (H, W, stored channels) with `channels` (1 or 3): alpha dropped, grey <-> colour."""
    stored = tf.shape(image)[-1]
    if channels == 3:
        return tf.cond(stored >= 3, lambda: image[..., :3], lambda: tf.repeat(image[..., :1], 3, axis=-1))
    return tf.cond(stored >= 3, lambda: _luma(image[..., :3]), lambda: image[..., :1])


def _luma(rgb: tf.Tensor) -> tf.Tensor:
    grey = tf.reduce_sum(tf.cast(rgb, tf.float32) * tf.constant(LUMA), axis=-1, keepdims=True)
    return tf.cast(tf.clip_by_value(tf.round(grey), 0, 255), tf.uint8)


def resized(image: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
    """Bilinear resize (antialiased when shrinking) of uint8 images, rounded back to uint8."""
    scaled = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(scaled), 0, 255), tf.uint8)


def decode_file(path: tf.Tensor, shape: Sequence[int], resize: bool) -> tf.Tensor:
    """One image file as uint8 pixels of `shape` (H, W, C). The first frame of an animated GIF."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False, dtype=tf.uint8)
    image = to_channels(image, shape[2])
    if resize:
        image = resized(image, shape[:2])
    # The header promised this size; a file whose pixels disagree is damaged.
    return tf.ensure_shape(image, shape)


def resize_array(images: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """(N, H, W, C) images at (height, width), in batches; uint8 stays uint8, floats stay float32."""
    out = np.empty((len(images), *size, images.shape[-1]), images.dtype)
    for start in range(0, len(images), CHECK_BATCH):
        chunk = tf.convert_to_tensor(images[start : start + CHECK_BATCH])
        if images.dtype == np.uint8:
            out[start : start + len(chunk)] = resized(chunk, size).numpy()
        else:
            scaled = tf.image.resize(chunk, size, method="bilinear", antialias=True)
            out[start : start + len(chunk)] = scaled.numpy()
    return out


def decode_files(paths: Sequence[str], shape: Sequence[int], resize: bool, keep: bool) -> np.ndarray | None:
    """Decode every file once (in parallel): the pixels when `keep`, else only the check.

    A file that cannot be read or decoded is a DataError naming it; none is ever skipped.
    """
    shape = tuple(int(n) for n in shape)
    dataset = (
        tf.data.Dataset.from_tensor_slices(np.asarray(paths, dtype=object).astype(str))
        .map(lambda path: decode_file(path, shape, resize), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(CHECK_BATCH)
        .prefetch(2)
    )
    pixels = np.empty((len(paths), *shape), np.uint8) if keep else None
    done = 0
    iterator = iter(dataset)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            break
        except tf.errors.OpError:
            raise _first_bad_file(paths[done:], shape, resize) from None
        if pixels is not None:
            pixels[done : done + len(batch)] = batch.numpy()
        done += len(batch)
    return pixels


def _first_bad_file(paths: Sequence[str], shape: tuple[int, ...], resize: bool) -> DataError:
    """Decode one file at a time to name the one the batch failed on."""
    for path in paths:
        try:
            decode_file(tf.constant(path), shape, resize)
        except tf.errors.OpError as error:
            return DataError(f"{path}: not a readable image ({_op_message(error)})")
    return DataError(f"{paths[0] if paths else '?'}: not a readable image")


def _op_message(error: tf.errors.OpError) -> str:
    """TensorFlow's message without its `{{function_node ...}}` prefix and `[Op:...]` suffix."""
    text = re.sub(r"\{\{[^}]*\}\}", "", error.message or type(error).__name__)
    text = re.sub(r"\s*\[Op:[^\]]*\]", "", text)
    text = " ".join(text.split())
    if "ensure_shape" in text.lower() or "shape of tensor" in text.lower():
        text = "its pixels do not match the size its header declares"
    return text if len(text) <= 120 else text[:119] + "…"
