"""Deployable .tflite variants and what each keeps: post-training quantization (full integer, dynamic range,
float16), TFLite's sparse encoding as a conversion option, and the measures of every deployed file (zeros,
unique values per output channel, the 2:4 block check).

Sparse encoding (`Optimize.EXPERIMENTAL_SPARSITY`) stores sparse kernels compressed. Facts found here
(tfmot 0.8.1, LiteRT 2.3): sparse-encoded int8 files crash XNNPack at the first invoke ("failed to delegate
FULLY_CONNECTED"), so they are evaluated with `OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`; and at 50%
sparsity the encoding makes an int8 file larger (the indices cost more than the zeros saved), at 80%
smaller. Both sizes are reported as they are. The plain file stays the deployed one; the sparse-encoded
file is a second figure beside it.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from engine import conversion
from engine.config import PTQConfig
from engine.data import Dataset
from engine.events import EngineEvent, LogMessage
from engine.fine_tune import stamped
from engine.kernel_checks import BlockCheck, Kernel, check_blocks, unique_values
from engine.measure import (
    TFLITE_BATCH,
    _as_input,
    evaluation_threads,
    layer_names,
    tflite_accuracy,
    zipped_size,
)
from engine.results import TFLiteInfo, WeightSparsity
from engine.training import StageStopped
from engine.weight_structure import tflite_kernels

Emit = Callable[[EngineEvent], None]
PTQ_MODES = ("full_integer", "dynamic", "float16")


@dataclass(frozen=True, eq=False)
class DeployedModel:
    """A .tflite file with its measures; the sparse-encoded variant beside it when one was made."""

    content: bytes
    info: TFLiteInfo  # bytes, zipped bytes, accuracy (once evaluated), zeros per kernel
    unique_values: dict[str, int]  # results' tflite.unique_values: most unique values in one output channel
    blocks: BlockCheck  # the 2:4 check of every kernel (it applies to m:n-pruned models)
    sparse_content: bytes | None = None
    sparse_zipped_bytes: int | None = None
    sparse_accuracy: float | None = None

    @property
    def sparse_encoded_bytes(self) -> int | None:
        """results' tflite.sparse_encoded_bytes: the raw size with sparse encoding, None when not made."""
        return None if self.sparse_content is None else len(self.sparse_content)


def describe_deployed(
    content: bytes,
    name: str,
    model: keras.Model,
    *,
    accuracy: float | None = None,
    sparse_content: bytes | None = None,
) -> DeployedModel:
    """Measure a .tflite file: sizes, zeros, unique values per output channel, 2:4 blocks."""
    kernels = tflite_kernels(content, layer_names(model))
    found = unique_values(kernels)
    return DeployedModel(
        content=content,
        info=TFLiteInfo(
            bytes=len(content),
            zipped_bytes=zipped_size(content, f"{name}.tflite"),
            accuracy=accuracy,
            weight_sparsity=kernel_sparsity(kernels),
            unique_values=found,
            sparse_encoded_bytes=None if sparse_content is None else len(sparse_content),
        ),
        unique_values=found,
        blocks=check_blocks(kernels),
        sparse_content=sparse_content,
        sparse_zipped_bytes=None if sparse_content is None else zipped_size(sparse_content, f"{name}.tflite"),
    )


def with_structure(
    info: TFLiteInfo, content: bytes, model: keras.Model, sparse_bytes: int | None
) -> TFLiteInfo:
    """A converted file's info with what schema 2 adds: unique values per output channel of each kernel,
    and the raw size of its sparse-encoded variant (None when none was made)."""
    kernels = tflite_kernels(content, layer_names(model))
    return replace(info, unique_values=unique_values(kernels), sparse_encoded_bytes=sparse_bytes)


def sparse_encoded(
    model: keras.Model,
    name: str,
    plain_bytes: int,
    emit: Emit,
    stop: threading.Event,
    stage: str,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None = None,
) -> bytes:
    """`model` converted again with TFLite's sparse encoding (its size logged against the plain file's)."""
    if stop.is_set():
        raise StageStopped
    sparse = conversion.convert_keras(model, representative, sparse_encoding=True)
    _log_sparse(name, plain_bytes, sparse, emit, stage)
    return sparse


def kernel_sparsity(kernels: Iterable[Kernel]) -> tuple[WeightSparsity, ...]:
    """Zeros per kernel, as engine.measure counts them (float16 kernels included, read where stored)."""
    return tuple(
        WeightSparsity(k.name, int(np.count_nonzero(k.values == 0)), int(k.values.size)) for k in kernels
    )


def convert_models_stage(
    models: dict[str, keras.Model],
    emit: Emit,
    stop: threading.Event,
    *,
    sparse_encoding: bool = False,
    stage: str = "convert",
) -> dict[str, DeployedModel]:
    """engine.conversion's convert stage (Optimize.DEFAULT) for each model, measured; and with
    `sparse_encoding`, each model converted a second time with sparse encoding."""
    converted = conversion.convert_stage(models, stamped(emit, stage), stop)
    deployed: dict[str, DeployedModel] = {}
    for name, model in models.items():
        sparse = _sparse_variant(
            model, name, len(converted[name].content), sparse_encoding, emit, stop, stage
        )
        deployed[name] = describe_deployed(converted[name].content, name, model, sparse_content=sparse)
    return deployed


def evaluate_deployed_stage(
    deployed: dict[str, DeployedModel],
    data: Dataset,
    emit: Emit,
    stop: threading.Event,
    *,
    stage: str = "evaluate",
) -> dict[str, DeployedModel]:
    """Test accuracy of every file (engine.conversion's evaluate stage), and of each sparse-encoded file."""
    plain = {name: conversion.ConvertedModel(d.content, d.info) for name, d in deployed.items()}
    evaluated = conversion.evaluate_stage(plain, data, stamped(emit, stage), stop)
    result: dict[str, DeployedModel] = {}
    for name, model in deployed.items():
        sparse_accuracy = None
        if model.sparse_content is not None:
            if stop.is_set():
                raise StageStopped
            sparse_accuracy = sparse_tflite_accuracy(model.sparse_content, data.x_test, data.y_test)
            emit(LogMessage(f"{name} sparse-encoded .tflite: accuracy {sparse_accuracy:.4f}", stage=stage))  # type: ignore[arg-type]
        result[name] = replace(model, info=evaluated[name].info, sparse_accuracy=sparse_accuracy)
    return result


def ptq_variant_stage(
    model: keras.Model,
    data: Dataset,
    config: PTQConfig,
    emit: Emit,
    stop: threading.Event,
    *,
    mode: str = "full_integer",
    sparse_encoding: bool = False,
    name: str = "ptq",
    stage: str = "ptq",
) -> DeployedModel:
    """Post-training quantization of a float Keras model, evaluated.

    `full_integer` is engine.conversion's PTQ stage (int8 weights and activations, calibrated on training
    images); `dynamic` quantizes the weights to int8 and leaves activations float (Optimize.DEFAULT with no
    calibration data); `float16` stores the weights as float16.
    """
    if mode not in PTQ_MODES:
        raise ValueError(f"unknown PTQ mode {mode!r} (allowed: {', '.join(PTQ_MODES)})")
    representative = None
    if mode == "full_integer":
        converted = conversion.ptq_stage(model, data, config, stamped(emit, stage), stop)
        content, accuracy = converted.content, converted.info.accuracy
        representative = calibration(data, config, stop)
    else:
        content = conversion.convert_keras(model, float16=mode == "float16")
        if stop.is_set():
            raise StageStopped
        accuracy = tflite_accuracy(content, data.x_test, data.y_test)
    sparse = None
    if sparse_encoding:
        sparse = conversion.convert_keras(
            model, representative, sparse_encoding=True, float16=mode == "float16"
        )
    deployed = describe_deployed(content, name, model, accuracy=accuracy, sparse_content=sparse)
    if mode != "full_integer":  # engine.conversion's PTQ stage logged its own line
        info = deployed.info
        emit(
            LogMessage(
                f"{name} .tflite: {info.bytes / 1000:.1f} KB, {info.zipped_bytes / 1000:.1f} KB zipped, "
                f"accuracy {accuracy:.4f}",
                stage=stage,  # type: ignore[arg-type]
            )
        )
    if sparse is not None:
        _log_sparse(name, len(content), sparse, emit, stage)
        if stop.is_set():
            raise StageStopped
        deployed = replace(deployed, sparse_accuracy=sparse_tflite_accuracy(sparse, data.x_test, data.y_test))
    return deployed


def calibration(
    data: Dataset, config: PTQConfig, stop: threading.Event
) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The representative dataset full-integer PTQ calibrates on: the first training images, one a batch."""
    images = data.x_train[: config.representative_images]

    def representative() -> Iterator[list[np.ndarray]]:
        for image in images:
            if stop.is_set():
                return
            yield [image[np.newaxis]]

    return representative


def _sparse_variant(
    model: keras.Model,
    name: str,
    plain_bytes: int,
    wanted: bool,
    emit: Emit,
    stop: threading.Event,
    stage: str,
) -> bytes | None:
    if not wanted:
        return None
    return sparse_encoded(model, name, plain_bytes, emit, stop, stage)


def _log_sparse(name: str, plain_bytes: int, sparse: bytes, emit: Emit, stage: str) -> None:
    change = "smaller" if len(sparse) < plain_bytes else "larger"
    emit(
        LogMessage(
            f"{name} sparse-encoded .tflite: {len(sparse) / 1000:.1f} KB raw, {change} than the plain "
            f"{plain_bytes / 1000:.1f} KB",
            stage=stage,  # type: ignore[arg-type]
        )
    )


def sparse_tflite_accuracy(content: bytes, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of a sparse-encoded file, run by TFLite's builtin kernels without XNNPack.

    XNNPack (the default delegate) refuses sparse-encoded int8 kernels at the first invoke, so the file runs
    on the builtin kernels, which read the encoding. Fed in equal batches, as engine.measure feeds files.
    """
    interpreter = Interpreter(
        model_content=content,
        num_threads=evaluation_threads(),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    input_details = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    batch = math.ceil(len(images) / math.ceil(len(images) / TFLITE_BATCH))
    correct = 0
    allocated = -1
    for start in range(0, len(images), batch):
        chunk = _as_input(images[start : start + batch], input_details)
        if len(chunk) != allocated:
            interpreter.resize_tensor_input(
                input_details["index"], [len(chunk), *chunk.shape[1:]], strict=False
            )
            interpreter.allocate_tensors()
            allocated = len(chunk)
        interpreter.set_tensor(input_details["index"], chunk)
        interpreter.invoke()
        predictions = np.argmax(interpreter.get_tensor(output_index), axis=1)
        correct += int(np.count_nonzero(predictions == labels[start : start + batch]))
    return correct / len(images)
