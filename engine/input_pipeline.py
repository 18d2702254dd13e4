"""The tf.data pipelines every stage reads: training and validation batches, test batches, calibration images.

One shape for all: a range of indices (shuffled with the seed for training) picks images either from memory
(a batch is gathered at once) or from disk (each file decoded in parallel as it is needed), then every batch
is normalised (`pixels / split.pixel_divisor`, float32), reshaped to what the model takes and prefetched.
So a folder larger than memory trains with a few batches in memory, and Keras and TFLite evaluation see
exactly the same inputs.

The validation share is the last `validation_split` of the training images, as Keras' `validation_split`
takes it (an image folder's training list is in a seeded random order, so that share mixes the classes).
`batch_size` is the global batch: under a distribution strategy Keras splits each batch across the replicas.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import math
import weakref
import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from engine.data import Dataset, Split, feed_shape
from engine.image_decode import decode_file

# Evaluation batches: accuracy is a count of argmax hits, so the batch size only changes the speed.
EVAL_BATCH = 256
# A split's arrays as tensors, made once: every pipeline over the split (each stage's training, validation and
# test batches) shares them instead of copying the images again.
_TENSORS: weakref.WeakKeyDictionary[Split, dict[str, tf.Tensor]] = weakref.WeakKeyDictionary()


def training_batches(
    data: Dataset,
    batch_size: int,
    validation_split: float,
    model_input: Sequence[int | None],
    stream: str = "",
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Shuffled training batches and, when `validation_split` > 0, the validation batches.

    The order comes from the data's seed and `stream` (a stage's name): each stage draws its own orders, as
    the example's successive `fit` calls do, and a stage run twice draws the same ones.
    """
    count = len(data.train)
    split_at = int(math.floor(count * (1.0 - validation_split))) if validation_split > 0 else count
    if split_at == 0 or (validation_split > 0 and split_at == count):
        raise ValueError(
            f"validation_split {validation_split:g} of {count} training images leaves "
            f"{'no training' if split_at == 0 else 'no validation'} images"
        )
    seed = zlib.crc32(f"{data.seed}:{stream}".encode())
    train = _batches(data, data.train, 0, split_at, batch_size, model_input, seed=seed)
    validation = None
    if split_at < count:
        validation = _batches(data, data.train, split_at, count, batch_size, model_input)
    return train, validation


def test_batches(
    data: Dataset, model_input: Sequence[int | None], batch_size: int = EVAL_BATCH
) -> tf.data.Dataset:
    """(images, labels) of the whole test split, in order, in batches of nearly equal size."""
    return _batches(data, data.test, 0, len(data.test), _even(len(data.test), batch_size), model_input)


def test_arrays(
    data: Dataset, model_input: Sequence[int | None], batch_size: int = EVAL_BATCH
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The test batches as numpy arrays (for the TFLite interpreter)."""
    for images, labels in test_batches(data, model_input, batch_size):
        yield images.numpy(), labels.numpy()


def first_training_images(
    data: Dataset, count: int, model_input: Sequence[int | None]
) -> Iterator[np.ndarray]:
    """The first `count` training images, one at a time with a batch axis (PTQ's calibration data)."""
    count = min(count, len(data.train))
    for images, _labels in _batches(data, data.train, 0, count, 1, model_input):
        yield images.numpy()


def _even(count: int, largest: int) -> int:
    """The batch size that splits `count` into equal batches of at most `largest` (the last may be short)."""
    return max(1, math.ceil(count / max(1, math.ceil(count / largest))))


def _batches(
    data: Dataset,
    split: Split,
    start: int,
    stop: int,
    batch_size: int,
    model_input: Sequence[int | None],
    seed: int | None = None,
) -> tf.data.Dataset:
    indices = tf.data.Dataset.range(start, stop)
    if seed is not None:
        indices = indices.shuffle(stop - start, seed=seed, reshuffle_each_iteration=True)
    tensors = _split_tensors(split)
    labels = tensors["labels"]
    if split.images is not None:
        images = tensors["images"]
        batches = indices.batch(batch_size).map(
            lambda index: (tf.gather(images, index), tf.gather(labels, index)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        paths = tensors["files"]
        shape, resize = data.image_shape, data.resize
        batches = indices.map(
            lambda index: (decode_file(tf.gather(paths, index), shape, resize), tf.gather(labels, index)),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).batch(batch_size)
    target = feed_shape(model_input, data.image_shape) or data.image_shape
    divisor = tf.constant(split.pixel_divisor, tf.float32)

    def normalised(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        scaled = tf.cast(images, tf.float32) / divisor
        return tf.reshape(scaled, [-1, *target]), labels

    batches = batches.map(normalised, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Each worker of a multi-worker strategy keeps its share of every batch (there are no files to shard).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options)


def _split_tensors(split: Split) -> dict[str, tf.Tensor]:
    tensors = _TENSORS.get(split)
    if tensors is None:
        tensors = {"labels": tf.convert_to_tensor(split.labels)}
        if split.images is not None:
            tensors["images"] = tf.convert_to_tensor(split.images)
        else:
            tensors["files"] = tf.constant(list(split.files), tf.string)
        _TENSORS[split] = tensors
    return tensors
