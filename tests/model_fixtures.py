"""Small Keras models and datasets for the real-engine tests of models tfmot supports only in part.

Everything here imports TensorFlow: call it from tests marked real_engine (or slow), never at import time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.data import Dataset, Split, load_dataset
from engine.results import DatasetInfo


def keras() -> Any:
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    import tf_keras

    return tf_keras


def mixed_model(softmax: bool = False) -> Any:
    """Conv2D + BatchNormalization + ReLU, a DepthwiseConv2D (tfmot never prunes it), a PReLU (tfmot can
    neither prune nor quantize it), then a Dense classifier: every kind of verdict in seven layers."""
    k = keras()
    inputs = k.Input((28, 28), name="image")
    x = k.layers.Reshape((28, 28, 1), name="reshape")(inputs)
    x = k.layers.Conv2D(8, 3, name="conv")(x)
    x = k.layers.BatchNormalization(name="bn")(x)
    x = k.layers.ReLU(name="relu")(x)
    x = k.layers.DepthwiseConv2D(3, name="depthwise")(x)
    x = k.layers.PReLU(shared_axes=[1, 2], name="prelu")(x)
    x = k.layers.MaxPooling2D(name="pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    outputs = k.layers.Dense(10, activation="softmax" if softmax else None, name="classifier")(x)
    return k.Model(inputs, outputs, name="mixed")


def digits(train: int = 600, test: int = 300, rgb_side: int | None = None) -> Dataset:
    """The first images of the bundled sample; with `rgb_side`, padded to that side and coloured (RGB)."""
    sample = load_dataset("sample")
    x_train, x_test = sample.train.images[:train], sample.test.images[:test]
    if rgb_side is not None:
        x_train, x_test = _rgb(x_train, rgb_side), _rgb(x_test, rgb_side)
    y_train, y_test = sample.train.labels[:train], sample.test.labels[:test]
    info = DatasetInfo("sample", train, test, tuple(np.bincount(y_train, minlength=10)))
    return Dataset(
        Split(y_train, x_train), Split(y_test, x_test), x_train.shape[1:], sample.class_names, info
    )


def _rgb(images: np.ndarray, side: int) -> np.ndarray:
    """Each digit (N, 28, 28, 1) centred on a `side` x `side` canvas, drawn in a colour of its own (uint8)."""
    before = (side - images.shape[1]) // 2
    after = side - images.shape[1] - before
    padded = np.pad(images, ((0, 0), (before, after), (before, after), (0, 0)))
    colours = np.random.default_rng(0).uniform(0.4, 1.0, size=(len(images), 1, 1, 3))
    return np.rint(padded * colours).astype(np.uint8)
