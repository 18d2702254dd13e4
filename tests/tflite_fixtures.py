""".tflite files made for the tests with LiteRT's schema module, no TensorFlow: fast, and ours to commit.

`tiny_classifier()` is a real model the LiteRT interpreter runs: a float input of 8 values, one fully
connected layer (4x8 float weights, half of them zero) and 4 logits. It also carries an int8 tensor with
per-channel quantization (not used by any operator) and, with `custom_op`, an operator no runtime here knows,
as a vendor's NPU file would.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

INPUT_SIZE = 8
CLASSES = 4


def _tensor(name: str, shape: list[int], dtype: int, buffer: int, quantization=None) -> schema.TensorT:
    tensor = schema.TensorT()
    tensor.name = name
    tensor.shape = shape
    tensor.type = dtype
    tensor.buffer = buffer
    tensor.quantization = quantization
    return tensor


def _buffer(data: np.ndarray | None = None) -> schema.BufferT:
    buffer = schema.BufferT()
    if data is not None:
        buffer.data = list(np.ascontiguousarray(data).tobytes())
    return buffer


def _code(builtin: int, custom: str | None = None) -> schema.OperatorCodeT:
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.customCode = custom
    code.version = 1
    return code


def tiny_classifier(
    *, custom_op: bool = False, seed: int = 0, description: str = "pqat-tui test model", name: str = "input"
) -> bytes:
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(CLASSES, INPUT_SIZE)).astype(np.float32)
    weights[:, ::2] = 0.0  # half the weights are zero, as after pruning
    bias = np.arange(CLASSES, dtype=np.float32) / 10
    quantized = rng.integers(-127, 128, size=(3, INPUT_SIZE)).astype(np.int8)
    scales = schema.QuantizationParametersT()
    scales.scale = [0.01, 0.02, 0.04]
    scales.zeroPoint = [0, 0, 0]
    scales.quantizedDimension = 0
    activation = schema.QuantizationParametersT()
    activation.scale = [0.5]
    activation.zeroPoint = [-3]

    graph = schema.SubGraphT()
    graph.tensors = [
        _tensor(name, [1, INPUT_SIZE], schema.TensorType.FLOAT32, 0),
        _tensor("dense/kernel", [CLASSES, INPUT_SIZE], schema.TensorType.FLOAT32, 1),
        _tensor("dense/bias", [CLASSES], schema.TensorType.FLOAT32, 2),
        _tensor("logits", [1, CLASSES], schema.TensorType.FLOAT32, 0),
        _tensor("int8/per_channel", [3, INPUT_SIZE], schema.TensorType.INT8, 3, scales),
        _tensor("int8/activation", [1, INPUT_SIZE], schema.TensorType.INT8, 0, activation),
    ]
    graph.inputs = [0]
    graph.outputs = [3]
    dense = schema.OperatorT()
    dense.opcodeIndex = 0
    dense.inputs = [0, 1, 2]
    dense.outputs = [3]
    dense.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    dense.builtinOptions = schema.FullyConnectedOptionsT()
    graph.operators = [dense]
    codes = [_code(schema.BuiltinOperator.FULLY_CONNECTED)]
    if custom_op:
        vendor = schema.OperatorT()
        vendor.opcodeIndex = 1
        vendor.inputs = [3]
        vendor.outputs = [5]
        graph.operators.append(vendor)
        codes.append(_code(schema.BuiltinOperator.CUSTOM, "vendor-npu"))
    graph.name = "main"

    model = schema.ModelT()
    model.version = 3
    model.description = description
    model.operatorCodes = codes
    model.subgraphs = [graph]
    model.buffers = [_buffer(), _buffer(weights), _buffer(bias), _buffer(quantized)]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tiny_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The dense layer's weights and bias of `tiny_classifier(seed=seed)`, to check predictions against."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(CLASSES, INPUT_SIZE)).astype(np.float32)
    weights[:, ::2] = 0.0
    return weights, np.arange(CLASSES, dtype=np.float32) / 10
