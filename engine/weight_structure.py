"""What a model's kernels keep, read from the Keras model and again from the deployed .tflite file: unique
values per output channel and the m:n block check (engine.kernel_checks does the counting).

Kernels are read as (out, ..., in), as tfmot's `weights_rearrange` lays them out for `sparsity_m_by_n`:
Keras Conv2D kernels (h, w, in, out) and Dense (in, out) are transposed to the layout TFLite stores.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter

from engine.kernel_checks import DEPTHWISE, BlockCheck, Kernel, check_blocks, unique_values
from engine.measure import _tflite_tensor_label, weight_name, weight_ops

KERNEL_NAMES = ("kernel", "depthwise_kernel")
# The axis of a TFLite weight tensor that holds output channels (CONV_2D: [out, h, w, in], FULLY_CONNECTED:
# [out, in], DEPTHWISE_CONV_2D: [1, h, w, out]).
_TFLITE_OUT_AXIS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3}
# Ops that only change a constant's storage on its way to a weight input: float16 weights reach the conv
# through DEQUANTIZE; follow them back to the stored tensor.
_PASS_THROUGH_OPS = {"DEQUANTIZE"}


# --- Reading kernels --------------------------------------------------------------------------------------


def keras_kernels(model: keras.Model) -> tuple[Kernel, ...]:
    """Every conv and dense kernel of a Keras model, named as engine.measure names weights (`dense/kernel`).

    A wrapped layer is read through its wrapper's variables: tfmot's quantize wrapper replaces the layer's
    `kernel` attribute by a computed tensor, but keeps the kernel variable, which cluster-preserving QAT
    keeps at the centroids' values (its `ori_weights_vars_tf` and centroids are not kernels).
    """
    found: list[Kernel] = []
    for layer in model.layers:
        owner = layer.layer if isinstance(layer, keras.layers.Wrapper) else layer
        for variable in layer.weights:
            short = variable.name.split("/")[-1].split(":")[0]
            if short in KERNEL_NAMES:
                values = np.asarray(variable.numpy())
                found.append(Kernel(weight_name(owner.name, variable.name), *_keras_layout(owner, values)))
    return tuple(found)


def _keras_layout(layer: Any, values: np.ndarray) -> tuple[np.ndarray, str]:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        # (h, w, in, multiplier): every (in, multiplier) pair is one output channel.
        return np.moveaxis(values.reshape(*values.shape[:-2], -1), -1, 0), DEPTHWISE
    if values.ndim == 2:  # Dense: (in, out)
        return values.T, "dense"
    if isinstance(layer, keras.layers.Conv2DTranspose):  # (h, w, out, in)
        return np.moveaxis(values, -2, 0), "conv"
    return np.moveaxis(values, -1, 0), "conv"  # (..., in, out) -> (out, ..., in)


def tflite_kernels(content: bytes, layer_names: Iterable[str] = ()) -> tuple[Kernel, ...]:
    """The weight tensors of every conv and fully connected op of a .tflite file, as stored.

    Labels follow engine.measure's (`dense/kernel (int8)`). Weights stored as float16 are read from the
    constant their DEQUANTIZE op reads. A sparse-encoded file (`Optimize.EXPERIMENTAL_SPARSITY`) stores
    kernels compressed: measure the plain file instead.
    """
    interpreter = Interpreter(model_content=content)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 - no public op listing
    producer = {int(out): op for op in ops for out in op["outputs"]}
    known = sorted(set(layer_names), key=len, reverse=True)
    found: list[Kernel] = []
    for position, op, index, weight in weight_ops(ops):
        while index in producer and producer[index]["op_name"] in _PASS_THROUGH_OPS:
            index = int(producer[index]["inputs"][0])
        details = tensors.get(index)
        if details is None or index in producer:
            continue  # computed at run time (a DENSIFY of a sparse-encoded kernel, say): nothing stored
        values = np.asarray(interpreter.get_tensor(index))
        label = _tflite_tensor_label(details["name"], op["op_name"], position, known, values.dtype, weight)
        kind = DEPTHWISE if op["op_name"] == "DEPTHWISE_CONV_2D" else "conv" if values.ndim == 4 else "dense"
        found.append(Kernel(label, np.moveaxis(values, _TFLITE_OUT_AXIS[op["op_name"]], 0), kind))
    return tuple(found)


# --- Measures -------------------------------------------------------------------------------------------


def keras_unique_values(model: keras.Model) -> dict[str, int]:
    return unique_values(keras_kernels(model))


def tflite_unique_values(content: bytes, layer_names: Iterable[str] = ()) -> dict[str, int]:
    return unique_values(tflite_kernels(content, layer_names))


def keras_block_check(model: keras.Model, m: int = 2, n: int = 4) -> BlockCheck:
    return check_blocks(keras_kernels(model), m, n)


def tflite_block_check(content: bytes, layer_names: Iterable[str] = (), m: int = 2, n: int = 4) -> BlockCheck:
    return check_blocks(tflite_kernels(content, layer_names), m, n)
