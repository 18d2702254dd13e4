"""The model the baseline trains when the user brings none.

28x28 grey images get the PQAT example's model, unchanged. Any other shape gets a small CNN sized to the
input: blocks of a 3x3 convolution (ReLU, 'same' padding) and a 2x2 max pooling, 16, 32, 64, 64, 64 filters,
as many blocks as it takes to bring the longer side down to 8 or less (1 to 5), then Flatten and a Dense layer
of one logit per class. Every layer is one tfmot prunes and quantizes (Conv2D, MaxPooling2D, Flatten, Dense),
so all stages run; 32x32x3 images with ten classes give a 25,578-parameter model.

Layers are named explicitly so that their weights keep the same names (`conv2d/kernel`) however many models a
session builds (Keras would otherwise number them: `conv2d_1`, ...).
Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import math

import tensorflow as tf
import tf_keras as keras

EXAMPLE_SHAPE = (28, 28, 1)
BLOCK_FILTERS = (16, 32, 64, 64, 64)
# Stop adding blocks once the longer side of the feature map is at most this.
FINAL_SIDE = 8


def build_default_model(image_shape: tuple[int, int, int] = EXAMPLE_SHAPE, classes: int = 10) -> keras.Model:
    """The example's model for 28x28 grey images, else the sized CNN (see the module's docstring)."""
    if tuple(image_shape) == EXAMPLE_SHAPE:
        return example_model(classes)
    return sized_cnn(tuple(image_shape), classes)


def example_model(classes: int = 10) -> keras.Model:
    """The example's model: one 3x3 convolution with 12 filters, max pooling, a dense layer of logits."""
    return keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=(28, 28)),
            keras.layers.Reshape(target_shape=(28, 28, 1), name="reshape"),
            keras.layers.Conv2D(filters=12, kernel_size=(3, 3), activation=tf.nn.relu, name="conv2d"),
            keras.layers.MaxPooling2D(pool_size=(2, 2), name="max_pooling2d"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(classes, name="dense"),
        ],
        name="mnist_cnn",
    )


def block_count(image_shape: tuple[int, int, int]) -> int:
    """Halvings that bring the longer side to FINAL_SIDE or less, between 1 and len(BLOCK_FILTERS)."""
    longest = max(image_shape[0], image_shape[1])
    needed = math.ceil(math.log2(longest / FINAL_SIDE)) if longest > FINAL_SIDE else 1
    return max(1, min(len(BLOCK_FILTERS), needed))


def sized_cnn(image_shape: tuple[int, int, int], classes: int) -> keras.Model:
    layers: list[keras.layers.Layer] = [keras.layers.InputLayer(input_shape=image_shape)]
    for block in range(block_count(image_shape)):
        suffix = "" if block == 0 else f"_{block}"
        layers += [
            keras.layers.Conv2D(
                BLOCK_FILTERS[block], (3, 3), padding="same", activation="relu", name=f"conv2d{suffix}"
            ),
            # 'same' keeps a side of 1 at 1, so long thin inputs (spectrograms) pool without vanishing.
            keras.layers.MaxPooling2D((2, 2), padding="same", name=f"max_pooling2d{suffix}"),
        ]
    layers += [keras.layers.Flatten(name="flatten"), keras.layers.Dense(classes, name="dense")]
    height, width, channels = image_shape
    return keras.Sequential(layers, name=f"cnn_{height}x{width}x{channels}")
