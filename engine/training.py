"""The training stages of the PQAT example, as plain functions: baseline, prune, QAT and PQAT.

Each takes typed inputs, emits events through `emit`, honours `stop`, and returns a `TrainedModel`. None
mutates its input model: tfmot's wrappers share the layers they wrap, so every stage trains a copy.
Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from engine.classification import evaluate
from engine.config import PruneConfig, TrainConfig
from engine.data import Dataset
from engine.events import BatchProgress, EngineEvent, EpochEnded, LogMessage
from engine.input_pipeline import EVAL_BATCH, test_arrays, test_batches, training_batches
from engine.layer_support import (
    default_scheme,
    is_kernel,
    layers_left_dense,
    parameter_count,
    prune_layerwise,
    prune_preserving_scheme,
    quantize_layerwise,
    unwrapped,
)
from engine.measure import keras_weight_sparsity
from engine.results import ClassAccuracy, EpochMetrics, ModelResult
from engine.stages import Stage

Emit = Callable[[EngineEvent], None]
# Ten progress events a second at most: a screen redraws no faster, and each costs a tensor-to-float sync.
PROGRESS_INTERVAL_S = 0.1


class StageStopped(Exception):
    """The stop event was set: the stage is abandoned and its partial output dropped."""


@dataclass(frozen=True, eq=False)
class TrainedModel:
    model: keras.Model  # what later stages read (for pruning, the stripped model)
    result: ModelResult


def build_model(image_shape: tuple[int, int, int] = (28, 28, 1), classes: int = 10) -> keras.Model:
    """The model the baseline trains by default: the example's for 28x28 grey images, else a small CNN sized
    to the input (see engine.default_model)."""
    from engine.default_model import build_default_model

    return build_default_model(image_shape, classes)


def copy_model(model: keras.Model) -> keras.Model:
    """A model with the same layers (and names) and its own copy of the weights."""
    copied = keras.models.clone_model(model)
    copied.set_weights(model.get_weights())
    return copied


def compile_model(model: keras.Model, learning_rate: float, from_logits: bool = True) -> None:
    """Adam and sparse cross-entropy, on logits (the example's) or on probabilities (`from_logits` false)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        # Not the string "accuracy": after an .h5 round trip Keras may resolve it to categorical accuracy.
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def outputs_logits(model: keras.Model) -> bool:
    """False when the model's output layer ends in a softmax (`keras.applications` models do, by default).

    Such a model is trained as it is, on a cross-entropy of probabilities, rather than stripped of its
    softmax: its .tflite files then give what the user's model gives. Accuracy is an argmax either way.
    """
    output = unwrapped(model.get_layer(model.output_names[0]))
    if isinstance(output, keras.layers.Softmax):
        return False
    activation = getattr(output, "activation", None)
    return getattr(activation, "__name__", None) != "softmax"


def _floats(logs: dict[str, Any] | None) -> dict[str, float]:
    return {key: float(value) for key, value in (logs or {}).items()}


class ProgressCallback(keras.callbacks.Callback):
    """The one bridge from Keras to the listener: throttled batch progress, every epoch, and the stop event.

    Logs stay tensors until an event is actually sent (`_supports_tf_logs`), so batches that are not reported
    cost no device sync. A set stop event raises out of `fit` at the end of the current batch, before
    validation runs, so nothing of the epoch is kept.
    """

    def __init__(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        super().__init__()
        self._supports_tf_logs = True
        self.stage, self.emit, self.stop = stage, emit, stop
        self.epoch = 0
        self.epochs = 0
        self.batches = 0
        self.last_report = 0.0
        self.history: list[EpochMetrics] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epochs = int(self.params.get("epochs") or 0)
        self.batches = int(self.params.get("steps") or 0)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch + 1
        self._check_stop()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._check_stop()
        now = time.monotonic()
        if now - self.last_report >= PROGRESS_INTERVAL_S or batch + 1 == self.batches:
            self.last_report = now
            self.emit(
                BatchProgress(self.stage, self.epoch, self.epochs, batch + 1, self.batches, _floats(logs))
            )

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._check_stop()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        metrics = _floats(logs)
        self.history.append(EpochMetrics(epoch + 1, metrics))
        self.emit(EpochEnded(self.stage, epoch + 1, self.epochs, metrics))

    def _check_stop(self) -> None:
        if self.stop.is_set():
            self.model.stop_training = True
            raise StageStopped


def _fit(
    model: keras.Model,
    data: Dataset,
    config: TrainConfig,
    stage: Stage,
    emit: Emit,
    stop: threading.Event,
    extra_callbacks: tuple[keras.callbacks.Callback, ...] = (),
) -> tuple[EpochMetrics, ...]:
    progress = ProgressCallback(stage, emit, stop)
    # Each stage shuffles in its own order; a recipe's stages are named by plain strings.
    stream = str(getattr(stage, "value", stage))
    train, validation = training_batches(
        data, config.batch_size, config.validation_split, model_input(model), stream
    )
    model.fit(
        train,
        validation_data=validation,
        epochs=config.epochs,
        callbacks=[progress, *extra_callbacks],
        verbose=0,
    )
    if stop.is_set():
        raise StageStopped
    return tuple(progress.history)


def evaluate_accuracy(model: keras.Model, data: Dataset) -> float:
    _, accuracy = model.evaluate(test_batches(data, model_input(model), EVAL_BATCH), verbose=0)
    return float(accuracy)


def model_input(model: keras.Model) -> tuple[int | None, ...]:
    """One image's shape as the model takes it (its input shape without the batch axis)."""
    return tuple(model.inputs[0].shape[1:])


def _trained(
    model: keras.Model,
    data: Dataset,
    history: tuple[EpochMetrics, ...],
    compiled: keras.Model | None = None,
    params: int | None = None,
) -> TrainedModel:
    """The model later stages read, with its accuracy (of `compiled`, when that is the one compiled)."""
    return TrainedModel(
        model,
        ModelResult(
            keras_accuracy=evaluate_accuracy(compiled or model, data),
            sparsity=keras_weight_sparsity(model),
            history=history,
            params=parameter_count(model) if params is None else params,
            classes=keras_class_accuracy(compiled or model, data),
        ),
    )


def keras_class_accuracy(model: keras.Model, data: Dataset) -> ClassAccuracy:
    """Accuracy per class and the confusion matrix of a Keras model on the test set."""

    def predict(images: np.ndarray) -> np.ndarray:
        return np.argmax(model.predict_on_batch(images), axis=-1)

    batches = test_arrays(data, model_input(model), EVAL_BATCH)  # streamed, as evaluate_accuracy reads them
    return evaluate(predict, batches, data.num_classes).classes


def baseline_stage(
    data: Dataset,
    config: TrainConfig,
    emit: Emit,
    stop: threading.Event,
    model: keras.Model | None = None,
    train: bool = True,
) -> TrainedModel:
    """The example's model trained from scratch, or a user's `model` fine-tuned (or only evaluated)."""
    model = build_model(data.image_shape, data.num_classes) if model is None else model
    compile_model(model, config.learning_rate, outputs_logits(model))
    history = _fit(model, data, config, Stage.BASELINE, emit, stop) if train else ()
    return _trained(model, data, history)


def prune_stage(
    baseline: keras.Model, data: Dataset, config: PruneConfig, emit: Emit, stop: threading.Event
) -> TrainedModel:
    """Magnitude pruning to a constant sparsity, fine-tuned; returns the stripped model later stages read.

    Layer by layer: the layers tfmot cannot prune stay dense and are named, rather than failing the stage.
    """
    schedule = tfmot.sparsity.keras.ConstantSparsity(
        config.sparsity, begin_step=config.begin_step, frequency=config.frequency
    )
    pruning = prune_layerwise(copy_model(baseline), pruning_schedule=schedule)
    left_dense = layers_left_dense(pruning)
    if left_dense:
        emit(LogMessage(_left_dense_line(pruning.model, left_dense), level="warning", stage=Stage.PRUNE))
    pruned = pruning.model
    compile_model(pruned, config.learning_rate, outputs_logits(baseline))
    history = _fit(pruned, data, config, Stage.PRUNE, emit, stop, (tfmot.sparsity.keras.UpdatePruningStep(),))
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    # The wrapped model computes with the same (masked) weights; only it is compiled, as in the example.
    trained = _trained(stripped, data, history, compiled=pruned)
    trained = TrainedModel(stripped, replace(trained.result, layers_left_dense=left_dense))
    _warn_if_short_of_target(trained.result, data, config, emit)
    return trained


def _left_dense_line(model: keras.Model, names: tuple[str, ...], shown: int = 6) -> str:
    """`Left dense (tfmot does not prune them): 17 layers, 17 DepthwiseConv2D: block_1_depthwise, …`."""
    types = {unwrapped(layer).name: type(unwrapped(layer)).__name__ for layer in model.layers}
    kinds = Counter(types[name] for name in names)
    counted = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    listed = ", ".join(names[:shown]) + (f", … ({len(names) - shown} more)" if len(names) > shown else "")
    plural = "layers" if len(names) > 1 else "layer"
    return f"Left dense (tfmot does not prune them): {len(names)} {plural} ({counted}): {listed}"


def _warn_if_short_of_target(result: ModelResult, data: Dataset, config: PruneConfig, emit: Emit) -> None:
    """tfmot updates the masks only every `frequency` steps: a short fine-tune may never prune at all."""
    kernels = result.kernel_sparsity()
    total = sum(w.total for w in kernels)
    reached = sum(w.zeros for w in kernels) / total if total else 0.0
    if reached >= config.sparsity - 0.005:
        return
    steps_per_epoch = math.ceil(
        math.floor(data.info.train * (1 - config.validation_split)) / config.batch_size
    )
    steps = config.epochs * steps_per_epoch
    emit(
        LogMessage(
            f"Pruned kernels are {reached:.1%} zeros, short of the {config.sparsity:.0%} target: "
            f"{steps} training steps, masks updated every {config.frequency} from step {config.begin_step} "
            "(lower prune.frequency or add prune epochs)",
            level="warning",
            stage=Stage.PRUNE,
        )
    )


def qat_stage(
    pruned: keras.Model,
    data: Dataset,
    config: TrainConfig,
    emit: Emit,
    stop: threading.Event,
    left_dense: tuple[str, ...] = (),
) -> TrainedModel:
    """Plain quantization-aware training of the pruned model: shows what QAT does to its zeros.

    `left_dense`: the layers pruning left dense (their kernels are not held to the sparsity target).
    """
    return _quantized_training(pruned, data, config, emit, stop, Stage.QAT, default_scheme(), left_dense)


def pqat_stage(
    pruned: keras.Model,
    data: Dataset,
    config: TrainConfig,
    emit: Emit,
    stop: threading.Event,
    left_dense: tuple[str, ...] = (),
) -> TrainedModel:
    """Pruning-preserving QAT: the quantization scheme keeps the pruned weights at zero."""
    scheme = prune_preserving_scheme()
    return _quantized_training(pruned, data, config, emit, stop, Stage.PQAT, scheme, left_dense)


def _quantized_training(
    pruned: keras.Model,
    data: Dataset,
    config: TrainConfig,
    emit: Emit,
    stop: threading.Event,
    stage: Stage,
    scheme: object,
    left_dense: tuple[str, ...],
) -> TrainedModel:
    """quantize_apply with `scheme` on the layers tfmot can quantize (the others stay float), fine-tuned.

    A pruned layer left float is trained as floats, so it does not keep its zeros: it joins `left_dense`.
    """
    quantization = quantize_layerwise(copy_model(pruned), scheme)
    left_float = tuple(layer.name for layer in pruned.layers if layer.name in quantization.left_float)
    if left_float:
        reasons = "; ".join(
            f"{name} ({quantization.left_float[name].removeprefix('left float: ')})" for name in left_float
        )
        emit(LogMessage(f"Left float (tfmot cannot quantize them): {reasons}", level="warning", stage=stage))
    model = quantization.model
    compile_model(model, config.learning_rate, outputs_logits(pruned))
    history = _fit(model, data, config, stage, emit, stop)
    # The quantized model's parameters are the pruned model's: quantizer ranges are not counted.
    trained = _trained(model, data, history, params=parameter_count(pruned))
    lost = tuple(name for name in left_float if name not in left_dense and _has_kernel(pruned, name))
    result = replace(trained.result, layers_left_dense=(*left_dense, *lost), layers_left_float=left_float)
    return TrainedModel(model, result)


def _has_kernel(model: keras.Model, name: str) -> bool:
    return any(is_kernel(weight.name) for weight in model.get_layer(name).weights)


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeds, so a stage run twice with one seed gives the same numbers.

    On CPU this is enough: runs in separate processes give bit-identical weights without
    `tf.config.experimental.enable_op_determinism()`, which would only swap in other kernels (different,
    equally repeatable numbers) and, being process-wide, cannot be undone for a user's other work.
    """
    keras.utils.set_random_seed(seed)
    np.random.seed(seed)
