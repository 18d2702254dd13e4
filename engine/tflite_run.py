"""Running a .tflite classifier with the LiteRT interpreter: inputs in the model's type, batched predictions.

numpy and LiteRT only (no TensorFlow): the latency probe, which runs in a fresh process, uses it too.
"""

from __future__ import annotations

import math
import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter

# Largest batch for TFLite evaluation: big enough that per-invoke overhead vanishes, small enough that
# the activations stay in cache.
TFLITE_BATCH = 256


def available_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def evaluation_threads() -> int:
    """The CPUs this process may use, at most 8: a batch splits across threads, one image hardly does."""
    return max(1, min(available_cores(), 8))


def as_input(images: np.ndarray, details: dict) -> np.ndarray:
    """Float images as the model's input type: unchanged for float inputs, quantized for int8/uint8 ones."""
    dtype = details["dtype"]
    if np.issubdtype(dtype, np.floating):
        return images.astype(dtype, copy=False)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(images / scale + zero_point), info.min, info.max).astype(dtype)


class TFLitePredictor:
    """`predict(images) -> class ids` for a .tflite classifier, resizing its batch only when it changes."""

    def __init__(self, content: bytes, threads: int | None = None, batch: int = TFLITE_BATCH) -> None:
        self.batch = batch
        self.interpreter = Interpreter(model_content=content, num_threads=threads or evaluation_threads())
        self.input = self.interpreter.get_input_details()[0]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        # Images are reshaped to the model's input: a (28, 28) model takes (28, 28, 1) images as they come.
        self.image_shape = [int(n) for n in self.input["shape"][1:]]
        self.allocated = -1

    def __call__(self, images: np.ndarray) -> np.ndarray:
        predictions = []
        # Equal batches, so that the interpreter is resized (and allocated) once.
        batch = math.ceil(len(images) / max(1, math.ceil(len(images) / self.batch))) if len(images) else 1
        for start in range(0, len(images), batch):
            images_now = images[start : start + batch]
            chunk = as_input(np.reshape(images_now, [len(images_now), *self.image_shape]), self.input)
            if len(chunk) != self.allocated:
                self.interpreter.resize_tensor_input(
                    self.input["index"], [len(chunk), *self.image_shape], strict=False
                )
                self.interpreter.allocate_tensors()
                self.allocated = len(chunk)
            self.interpreter.set_tensor(self.input["index"], chunk)
            self.interpreter.invoke()
            output = self.interpreter.get_tensor(self.output_index)
            predictions.append(np.argmax(output.reshape(len(chunk), -1), axis=1))
        return np.concatenate(predictions) if predictions else np.zeros(0, np.int64)
