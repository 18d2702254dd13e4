"""The TFLite stages: convert QAT and PQAT, evaluate the converted files, and post-training quantization.

Convert also converts the float baseline without optimization: the reference (`models.float`) that the
deployed files' latency and changed predictions are measured against. Evaluate gives every file its
accuracy per class, confusion matrix, the test images whose prediction differs from the float reference's,
and its latency, timed in a fresh process (engine.latency). PTQ does the same for its own file.

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

from engine.classification import Evaluation, evaluate
from engine.config import PTQConfig
from engine.data import Dataset
from engine.events import EngineEvent, LogMessage
from engine.input_pipeline import first_training_images, test_arrays
from engine.latency import PROBE_IMAGES, LatencySettings, format_ms, measure_latency, speed_versus
from engine.measure import TFLITE_BATCH, layer_names, tflite_weight_sparsity, zipped_size
from engine.results import TFLiteInfo
from engine.stages import Stage
from engine.tflite_run import TFLitePredictor
from engine.training import StageStopped, model_input

Emit = Callable[[EngineEvent], None]
# The float baseline converted without optimization: what each deployed file is compared with.
FLOAT = "float"
_TITLES = {FLOAT: "Float", "qat": "QAT", "pqat": "PQAT", "ptq": "PTQ"}


@dataclass(frozen=True, eq=False)
class ConvertedModel:
    content: bytes  # the .tflite flatbuffer
    info: TFLiteInfo


def convert_keras(
    model: keras.Model,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None = None,
    *,
    optimize: bool = True,
    sparse_encoding: bool = False,
    float16: bool = False,
) -> bytes:
    """TFLiteConverter with Optimize.DEFAULT, as the example converts (plus calibration data for PTQ);
    with `optimize` false, a plain float conversion (the reference).

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
    converter.optimizations = [tf.lite.Optimize.DEFAULT] if optimize else []
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
    """Each model converted with optimization, but FLOAT (the baseline), which is converted as it is."""
    converted: dict[str, ConvertedModel] = {}
    for name, model in models.items():
        if stop.is_set():
            raise StageStopped
        content = convert_keras(model, optimize=name != FLOAT)
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
    converted: dict[str, ConvertedModel],
    data: Dataset,
    emit: Emit,
    stop: threading.Event,
    latency: LatencySettings | None = None,
) -> dict[str, ConvertedModel]:
    """The same files with accuracy (overall and per class), changed predictions and latency filled in.

    The float reference is evaluated first, so that the others can be compared with its predictions and
    its speed. The stop event is honoured between models and between their evaluation and timing.
    """
    names = sorted(converted, key=lambda name: name != FLOAT)
    evaluated: dict[str, ConvertedModel] = {}
    baseline: Evaluation | None = None
    for name in names:
        model = converted[name]
        result = evaluate_tflite(model.content, data, stop, baseline.predictions if baseline else None)
        if name == FLOAT:
            baseline = result
        info = _measured(model.info, result, model.content, data, stop, latency)
        evaluated[name] = ConvertedModel(model.content, info)
        emit(LogMessage(_summary(name, info, evaluated.get(FLOAT)), stage=Stage.EVALUATE))
    return evaluated


def evaluate_tflite(
    content: bytes, data: Dataset, stop: threading.Event, baseline: np.ndarray | None = None
) -> Evaluation:
    """A .tflite file's predictions on the test set, batch by batch; StageStopped when `stop` is set."""
    if stop.is_set():
        raise StageStopped
    batches = test_arrays(data, data.image_shape, TFLITE_BATCH)  # streamed, as Keras evaluates
    evaluation = evaluate(TFLitePredictor(content), batches, data.num_classes, baseline)
    if stop.is_set():
        raise StageStopped
    return evaluation


def _measured(
    info: TFLiteInfo,
    evaluation: Evaluation,
    content: bytes,
    data: Dataset,
    stop: threading.Event,
    settings: LatencySettings | None,
) -> TFLiteInfo:
    sample = next(test_arrays(data, data.image_shape, PROBE_IMAGES), (np.zeros((0,)), None))[0]
    latency = measure_latency(content, sample, stop, settings)
    if latency is None or stop.is_set():
        raise StageStopped
    return replace(
        info,
        accuracy=evaluation.accuracy,
        classes=evaluation.classes,
        changed=evaluation.changed,
        latency=latency,
    )


def _summary(name: str, info: TFLiteInfo, reference: ConvertedModel | None, title: str = "") -> str:
    """One log line: accuracy, latency (and how it compares with float), changed predictions."""
    parts = [f"{title or _TITLES.get(name, name) + ' .tflite'}: accuracy {info.accuracy:.4f}"]
    if info.latency is not None:
        one = info.latency.threads_1.p50_ms
        text = f"{format_ms(one)} an image at 1 thread"
        reference_latency = reference.info.latency if reference and name != FLOAT else None
        if reference_latency is not None:
            text += f", {speed_versus(one, reference_latency.threads_1.p50_ms)}"
        all_cores = info.latency.threads_all
        if all_cores.threads > 1:
            text += f"; {format_ms(all_cores.p50_ms)} at {all_cores.threads} threads"
        parts.append(text)
    if info.changed is not None:
        parts.append(f"vs float: {info.changed.fixed} fixed, {info.changed.broken} broken")
    return " · ".join(parts)


def ptq_stage(
    pruned: keras.Model,
    data: Dataset,
    config: PTQConfig,
    emit: Emit,
    stop: threading.Event,
    *,
    baseline: keras.Model | None = None,
    latency: LatencySettings | None = None,
) -> ConvertedModel:
    """Full-integer post-training quantization of the stripped pruned model, calibrated on training images,
    then evaluated as Evaluate does (against the float `baseline`, converted here once more, when given)."""

    def representative() -> Iterator[list[np.ndarray]]:
        for image in first_training_images(data, config.representative_images, model_input(pruned)):
            if stop.is_set():
                return  # ends calibration early; the stage is then abandoned below
            yield [image]

    content = convert_keras(pruned, representative)
    if stop.is_set():
        raise StageStopped
    reference = (
        None if baseline is None else evaluate_tflite(convert_keras(baseline, optimize=False), data, stop)
    )
    evaluation = evaluate_tflite(content, data, stop, reference.predictions if reference else None)
    info = _measured(describe(content, "ptq", pruned), evaluation, content, data, stop, latency)
    # One line, and the listener names the stage ("PTQ: "): it says what was made, a full-integer file.
    sizes = f"{info.bytes / 1000:.1f} KB, {info.zipped_bytes / 1000:.1f} KB zipped"
    emit(LogMessage(_summary("ptq", info, None, title=f"int8 .tflite ({sizes})"), stage=Stage.PTQ))
    return ConvertedModel(content, info)
