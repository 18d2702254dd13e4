"""Fine-tuning as the collaborative techniques share it: compile, fit through the one progress bridge,
measure, and events stamped with the recipe stage that runs.

The techniques' modules (pruning_schedules, clustering, collab_qat) call engine.training's helpers only
through here, so a change to how training feeds data (tf.data) lands in one place.
Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import tf_keras as keras

from engine.config import TrainConfig
from engine.data import Dataset
from engine.events import EngineEvent
from engine.training import TrainedModel, _fit, _trained

Emit = Callable[[EngineEvent], None]


def compile_for_fine_tuning(model: keras.Model, learning_rate: float) -> None:
    """Adam and the example's loss, with the accuracy metric named by class.

    The string "accuracy" lets Keras guess the metric from the loss; after an .h5 round trip it can guess
    categorical accuracy, which scores correct sparse-label predictions as 0.106. Named `accuracy` so the
    logs keep the keys the app shows (`accuracy`, `val_accuracy`).
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def fine_tune(
    model: keras.Model,
    data: Dataset,
    config: TrainConfig,
    stage: str,
    emit: Emit,
    stop: threading.Event,
    *,
    callbacks: tuple[keras.callbacks.Callback, ...] = (),
    strip: Callable[[keras.Model], keras.Model] | None = None,
) -> TrainedModel:
    """Compile and fit `model`; later stages read it, or `strip(model)` (tfmot's wrappers taken off).

    Accuracy is that of the fitted (compiled) model, which computes with the same weights as the stripped
    one. Raises engine.training.StageStopped when `stop` is set.
    """
    compile_for_fine_tuning(model, config.learning_rate)
    history = _fit(model, data, config, stage, emit, stop, callbacks)  # type: ignore[arg-type]
    if strip is None:
        return _trained(model, data, history)
    return _trained(strip(model), data, history, compiled=model)


def stamped(emit: Emit, stage: str) -> Emit:
    """`emit`, with every event that names a stage naming `stage` instead.

    Lets a recipe stage reuse a stage function written for one enum stage (engine.training.prune_stage logs
    as Stage.PRUNE) under its own name (`prune_2by4`).
    """

    def forward(event: EngineEvent) -> None:
        if getattr(event, "stage", None) not in (None, stage):
            event = dataclasses.replace(event, stage=stage)  # type: ignore[type-var]
        emit(event)

    return forward
