"""The TFLite stages: convert QAT and PQAT, evaluate the converted files, and post-training quantization.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from engine.config import PTQConfig
from engine.data import Dataset
from engine.events import EngineEvent, LogMessage
from engine.input_pipeline import first_training_images, test_arrays
from engine.measure import TFLITE_BATCH, layer_names, tflite_predictions, tflite_weight_sparsity, zipped_size
from engine.results import TFLiteInfo
from engine.stages import Stage
from engine.training import StageStopped, model_input

Emit = Callable[[EngineEvent], None]
_TITLES = {"qat": "QAT", "pqat": "PQAT", "ptq": "PTQ"}


@dataclass(frozen=True, eq=False)
class ConvertedModel:
    content: bytes  # the .tflite flatbuffer
    info: TFLiteInfo


def convert_keras(
    model: keras.Model,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None = None,
    *,
    sparse_encoding: bool = False,
    float16: bool = False,
) -> bytes:
    """TFLiteConverter with Optimize.DEFAULT, as the example converts (plus calibration data for PTQ).

    `from_keras_model` first exports a SavedModel to a temporary folder and converts that: about two
    seconds a model here. Converting the model's traced function directly gives the same operators,
    int8 weights, quantization parameters and outputs in a tenth of the time; the serving signature and
    tensor names the SavedModel route adds are then written in, so the file is the same size as the
    example's and `get_signature_runner()` works on it.

    `sparse_encoding` adds Optimize.EXPERIMENTAL_SPARSITY (sparse kernels stored compressed; see
    engine.tflite_variants); `float16` stores float weights as float16.
    """
    input_name = model.inputs[0].name.split(":")[0]
    spec = tf.TensorSpec(model.inputs[0].shape, model.inputs[0].dtype, name=input_name)
    function = tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    converter.experimental_lower_to_saved_model = False
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if sparse_encoding:
        converter.optimizations.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    if float16:
        converter.target_spec.supported_types = [tf.float16]
    if representative is not None:
        converter.representative_dataset = representative
    with warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": QAT models carry their own ranges.
        warnings.simplefilter("ignore", UserWarning)
        content = converter.convert()
    return with_serving_signature(content, input_name, model.output_names[0])


def with_serving_signature(content: bytes, input_name: str, output_name: str) -> bytes:
    """Add the `serving_default` signature (and its tensor names) that a SavedModel conversion writes."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    if model.signatureDefs:
        return content
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].name = f"serving_default_{input_name}:0".encode()
    graph.tensors[graph.outputs[0]].name = b"StatefulPartitionedCall:0"
    signature = schema.SignatureDefT()
    signature.signatureKey = "serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(input_name, graph.inputs[0])]
    signature.outputs = [_tensor_map(output_name, graph.outputs[0])]
    model.signatureDefs = [signature]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _tensor_map(name: str, index: int) -> schema.TensorMapT:
    mapping = schema.TensorMapT()
    mapping.name = name
    mapping.tensorIndex = int(index)
    return mapping


def describe(content: bytes, name: str, model: keras.Model) -> TFLiteInfo:
    return TFLiteInfo(
        bytes=len(content),
        zipped_bytes=zipped_size(content, f"{name}.tflite"),
        weight_sparsity=tflite_weight_sparsity(content, layer_names(model)),
    )


def convert_stage(
    models: dict[str, keras.Model], emit: Emit, stop: threading.Event
) -> dict[str, ConvertedModel]:
    converted: dict[str, ConvertedModel] = {}
    for name, model in models.items():
        if stop.is_set():
            raise StageStopped
        content = convert_keras(model)
        converted[name] = ConvertedModel(content, describe(content, name, model))
        info = converted[name].info
        emit(
            LogMessage(
                f"{_TITLES.get(name, name)} .tflite: {info.bytes / 1000:.1f} KB, "
                f"{info.zipped_bytes / 1000:.1f} KB zipped",
                stage=Stage.CONVERT,
            )
        )
    if stop.is_set():
        raise StageStopped
    return converted


def evaluate_stage(
    converted: dict[str, ConvertedModel], data: Dataset, emit: Emit, stop: threading.Event
) -> dict[str, ConvertedModel]:
    """The same files with their test accuracy filled in, run batched through the LiteRT interpreter."""
    evaluated: dict[str, ConvertedModel] = {}
    for name, model in converted.items():
        if stop.is_set():
            raise StageStopped
        accuracy = tflite_test_accuracy(model.content, data)
        evaluated[name] = ConvertedModel(model.content, replace(model.info, accuracy=accuracy))
        emit(LogMessage(f"{_TITLES.get(name, name)} .tflite: accuracy {accuracy:.4f}", stage=Stage.EVALUATE))
    return evaluated


def tflite_test_accuracy(content: bytes, data: Dataset) -> float:
    """Top-1 accuracy of a .tflite file on the test split, read through the same pipeline Keras evaluates."""
    labels: list[np.ndarray] = []

    def images() -> Iterator[np.ndarray]:
        for batch_images, batch_labels in test_arrays(data, data.image_shape, TFLITE_BATCH):
            labels.append(batch_labels)
            yield batch_images

    predictions = tflite_predictions(content, images())
    return float(np.mean(predictions == np.concatenate(labels)))


def ptq_stage(
    pruned: keras.Model, data: Dataset, config: PTQConfig, emit: Emit, stop: threading.Event
) -> ConvertedModel:
    """Full-integer post-training quantization of the stripped pruned model, calibrated on training images."""

    def representative() -> Iterator[list[np.ndarray]]:
        for image in first_training_images(data, config.representative_images, model_input(pruned)):
            if stop.is_set():
                return  # ends calibration early; the stage is then abandoned below
            yield [image]

    content = convert_keras(pruned, representative)
    if stop.is_set():
        raise StageStopped
    accuracy = tflite_test_accuracy(content, data)
    info = replace(describe(content, "ptq", pruned), accuracy=accuracy)
    emit(
        LogMessage(
            # The listener names the stage ("PTQ: "): the line says what was made, a full-integer file.
            f"int8 .tflite: {info.bytes / 1000:.1f} KB, {info.zipped_bytes / 1000:.1f} KB zipped, "
            f"accuracy {accuracy:.4f}",
            stage=Stage.PTQ,
        )
    )
    return ConvertedModel(content, info)
