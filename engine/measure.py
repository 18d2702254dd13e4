"""What the example measures, and what it does not: per-weight sparsity, zipped sizes, and the zeros and
accuracy of the weights inside a .tflite file, read back with the LiteRT interpreter.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from collections.abc import Iterable

import numpy as np
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter

from engine.results import WeightSparsity

# The TFLite operators that hold a model's weights, and which of their inputs is the weight tensor.
WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1}
# Largest batch for TFLite evaluation: big enough that per-invoke overhead vanishes, small enough that
# the activations stay in cache. Batches are made equal in size, so the interpreter is set up once.
TFLITE_BATCH = 256


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
    """The names of a model's layers, a wrapped layer by its own name (`conv2d`, not `quant_conv2d`)."""
    return tuple(
        layer.layer.name if isinstance(layer, keras.layers.Wrapper) else layer.name for layer in model.layers
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
    for position, op in enumerate(interpreter._get_ops_details()):  # noqa: SLF001 - no public op listing
        weight_input = WEIGHT_OPS.get(op["op_name"])
        if weight_input is None or len(op["inputs"]) <= weight_input:
            continue
        index = int(op["inputs"][weight_input])
        details = tensors.get(index)
        if details is None:
            continue
        values = interpreter.get_tensor(index)
        name = _tflite_tensor_label(details["name"], op["op_name"], position, known, values.dtype)
        found.append(WeightSparsity(name, int(np.count_nonzero(values == 0)), int(values.size)))
    return tuple(found)


def _tflite_tensor_label(
    tensor_name: str, op_name: str, position: int, layer_names: list[str], dtype: np.dtype
) -> str:
    parts = [part.removeprefix("quant_") for chunk in tensor_name.split(";") for part in chunk.split("/")]
    for layer in layer_names:
        if layer in parts:
            return f"{layer}/kernel ({np.dtype(dtype).name})"
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
    interpreter = Interpreter(model_content=content, num_threads=evaluation_threads())
    input_details = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    input_index = input_details["index"]
    image_shape = [int(n) for n in input_details["shape"][1:]]
    predictions: list[np.ndarray] = []
    allocated = -1
    for images in batches:
        chunk = _as_input(np.reshape(images, [len(images), *image_shape]), input_details)
        if len(chunk) != allocated:
            interpreter.resize_tensor_input(input_index, [len(chunk), *image_shape], strict=False)
            interpreter.allocate_tensors()
            allocated = len(chunk)
        interpreter.set_tensor(input_index, chunk)
        interpreter.invoke()
        predictions.append(np.argmax(interpreter.get_tensor(output_index), axis=1))
    return np.concatenate(predictions) if predictions else np.zeros(0, np.int64)


def evaluation_threads() -> int:
    """Every CPU this process may use: a batch splits across threads, a single image hardly does."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, 8))


def _as_input(images: np.ndarray, details: dict) -> np.ndarray:
    """Float images as the model's input type: unchanged for float inputs, quantized for int8/uint8 ones."""
    dtype = details["dtype"]
    if np.issubdtype(dtype, np.floating):
        return images.astype(dtype, copy=False)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(images / scale + zero_point), info.min, info.max).astype(dtype)
