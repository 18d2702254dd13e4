"""What the example measures, and what it does not: per-weight sparsity, zipped sizes, and the zeros and
accuracy of the weights inside a .tflite file, read back with the LiteRT interpreter.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter

from engine.results import WeightSparsity

# They live in engine.tflite_run (no TensorFlow: the latency probe uses them); callers find them here too.
from engine.tflite_run import TFLITE_BATCH, TFLitePredictor
from engine.tflite_run import as_input as _as_input  # noqa: F401
from engine.tflite_run import evaluation_threads as evaluation_threads

# The TFLite operators that hold a model's weights: which of their inputs is the weight tensor, and the
# name of the Keras weight it comes from.
WEIGHT_OPS = {
    "CONV_2D": (1, "kernel"),
    "DEPTHWISE_CONV_2D": (1, "depthwise_kernel"),
    "FULLY_CONNECTED": (1, "kernel"),
}


def weight_ops(ops: Iterable[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any], int, str]]:
    """(position, op, weight tensor index, Keras weight name) of every op in a LiteRT op listing that holds
    weights: what the sparsity and the kernel-structure measures both walk."""
    for position, op in enumerate(ops):
        entry = WEIGHT_OPS.get(op["op_name"])
        if entry is None or len(op["inputs"]) <= entry[0]:
            continue
        yield position, op, int(op["inputs"][entry[0]]), entry[1]


def weight_name(layer_name: str, variable_name: str) -> str:
    """`conv2d/kernel` for a variable of layer `conv2d`, whatever wrapper (pruning, QAT) holds the layer."""
    short = variable_name.split("/")[-1].split(":")[0]
    return f"{layer_name}/{short}"


def keras_weight_sparsity(model: keras.Model) -> tuple[WeightSparsity, ...]:
    """Zeros in every kernel and bias, named after the layer so pruned, QAT and PQAT models line up.

    tfmot's wrappers (PruneLowMagnitude, QuantizeWrapper) keep masks, thresholds, steps and quantizer ranges
    beside the real weights; only the wrapped layer's trainable weights count, as in the example.
    """
    found: list[WeightSparsity] = []
    for layer in model.layers:
        if layer.name.startswith("quantize_layer"):
            continue  # the input quantizer holds only its min/max range
        if isinstance(layer, keras.layers.Wrapper):
            owner, variables = layer.layer, layer.trainable_weights
        else:
            owner, variables = layer, layer.weights
        for variable in variables:
            values = variable.numpy()
            found.append(
                WeightSparsity(
                    weight_name(owner.name, variable.name), int(np.count_nonzero(values == 0)), values.size
                )
            )
    return tuple(found)


def layer_names(model: keras.Model) -> tuple[str, ...]:
    """The names of a model's layers that hold a kernel, a wrapped layer by its own name (`conv2d`, not
    `quant_conv2d`). Only these can own a weight tensor in the .tflite file; leaving the others out keeps a
    folded batch normalization (`conv_bn` in `.../conv/Conv2D;.../conv_bn/FusedBatchNormV3`) from taking
    the convolution's place."""
    # A wrapper's own weights: QuantizeWrapper takes the kernel over from the layer it wraps.
    return tuple(
        layer.layer.name if isinstance(layer, keras.layers.Wrapper) else layer.name
        for layer in model.layers
        if any("kernel" in w.name for w in layer.weights)
    )


def zipped_size(content: bytes, arcname: str = "model.tflite") -> int:
    """Bytes of a ZIP_DEFLATED archive holding `content`: how the example measures compressibility."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(arcname, content)
    return buffer.tell()


def tflite_weight_sparsity(content: bytes, layer_names: Iterable[str] = ()) -> tuple[WeightSparsity, ...]:
    """Zeros in the weight tensors of every conv and fully connected op inside a .tflite file.

    The converter names tensors after the graph ops (`sequential/quant_conv2d/Conv2D;...`); each is shown as
    `<keras layer>/kernel` when a layer name can be found in it, so it lines up with the Keras tables.
    """
    interpreter = Interpreter(model_content=content)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    known = sorted(set(layer_names), key=len, reverse=True)
    found: list[WeightSparsity] = []
    ops = interpreter._get_ops_details()  # noqa: SLF001 - no public op listing
    for position, op, index, weight in weight_ops(ops):
        details = tensors.get(index)
        if details is None:
            continue
        values = interpreter.get_tensor(index)
        name = _tflite_tensor_label(details["name"], op["op_name"], position, known, values.dtype, weight)
        found.append(WeightSparsity(name, int(np.count_nonzero(values == 0)), int(values.size)))
    return tuple(found)


def _tflite_tensor_label(
    tensor_name: str, op_name: str, position: int, layer_names: list[str], dtype: np.dtype, weight: str
) -> str:
    parts = [part.removeprefix("quant_") for chunk in tensor_name.split(";") for part in chunk.split("/")]
    for layer in layer_names:
        if layer in parts:
            return f"{layer}/{weight} ({np.dtype(dtype).name})"
    return f"{op_name.lower()} #{position} weights ({np.dtype(dtype).name})"


def tflite_accuracy(
    content: bytes, images: np.ndarray, labels: np.ndarray, batch: int = TFLITE_BATCH
) -> float:
    """Top-1 accuracy of a .tflite model on arrays, fed in whole batches (the example feeds one image)."""
    batch = math.ceil(len(images) / math.ceil(len(images) / batch))
    chunks = (images[start : start + batch] for start in range(0, len(images), batch))
    return float(np.mean(tflite_predictions(content, chunks) == labels))


def tflite_predictions(content: bytes, batches: Iterable[np.ndarray]) -> np.ndarray:
    """The predicted class of every image of `batches` (normalised float images, any batch sizes).

    Each batch is reshaped to the model's input (a (28, 28) model takes (28, 28, 1) images) and quantized
    for an int8 input. The interpreter is resized only when the batch size changes.
    """
    predict = TFLitePredictor(content)
    predictions = [predict(images) for images in batches]
    return np.concatenate(predictions) if predictions else np.zeros(0, np.int64)
