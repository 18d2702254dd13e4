"""Pruning beyond a constant sparsity: tfmot's `PolynomialDecay` schedule and structured m:n (2:4) sparsity.

The constant schedule stays engine.training.prune_stage (the PQAT example's). Both stages here fine-tune a
copy of the model with `UpdatePruningStep` and return the stripped model, as that one does.
Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import tensorflow_model_optimization as tfmot
import tf_keras as keras

from engine.collab_config import PruneScheduleConfig
from engine.data import Dataset
from engine.events import EngineEvent, LogMessage
from engine.fine_tune import fine_tune
from engine.training import TrainedModel, copy_model
from engine.weight_structure import keras_block_check

Emit = Callable[[EngineEvent], None]
# What 2:4 sparse hardware accelerates; tfmot accepts any m < n.
M_BY_N = (2, 4)


def training_steps(data: Dataset, config: PruneScheduleConfig) -> int:
    """Optimizer steps of the fine-tune: Keras holds out the validation split, then batches the rest."""
    kept = math.floor(data.info.train * (1 - config.validation_split))
    return config.epochs * math.ceil(kept / config.batch_size)


def polynomial_schedule(config: PruneScheduleConfig, steps: int) -> tfmot.sparsity.keras.PolynomialDecay:
    """PolynomialDecay from `initial_sparsity` at `begin_step` to `final_sparsity` at `end_step`.

    `end_step` 0 is the last step of fine-tuning (pruning_with_keras: ceil(images / batch) * epochs).
    """
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=config.initial_sparsity,
        final_sparsity=config.final_sparsity,
        begin_step=config.begin_step,
        end_step=config.end_step or steps,
        frequency=config.frequency,
    )


def prune_polynomial_stage(
    baseline: keras.Model,
    data: Dataset,
    config: PruneScheduleConfig,
    emit: Emit,
    stop: threading.Event,
    stage: str = "prune",
) -> TrainedModel:
    """Magnitude pruning whose sparsity rises from initial to final along tfmot's PolynomialDecay."""
    steps = training_steps(data, config)
    trained = _prune(
        baseline, data, config, {"pruning_schedule": polynomial_schedule(config, steps)}, emit, stop, stage
    )
    kernels = trained.result.kernel_sparsity()
    total = sum(w.total for w in kernels)
    reached = sum(w.zeros for w in kernels) / total if total else 0.0
    if reached < config.final_sparsity - 0.01:
        end = config.end_step or steps
        emit(
            LogMessage(
                f"Pruned kernels are {reached:.1%} zeros, short of the final {config.final_sparsity:.0%}: "
                f"{steps} training steps, end_step {end}, masks updated every {config.frequency} "
                "(lower frequency or end_step, or add epochs)",
                level="warning",
                stage=stage,  # type: ignore[arg-type]
            )
        )
    return trained


def prune_m_by_n_stage(
    baseline: keras.Model,
    data: Dataset,
    config: PruneScheduleConfig,
    emit: Emit,
    stop: threading.Event,
    stage: str = "prune_2by4",
    m_by_n: tuple[int, int] = M_BY_N,
) -> TrainedModel:
    """Structured pruning: m zeros in every block of n consecutive input weights (tfmot's sparsity_m_by_n).

    tfmot computes the mask once, at the first step, and keeps it while fine-tuning recovers accuracy. The
    stripped model is checked block by block; a kernel tfmot leaves dense (1 input channel) is exempt.
    """
    trained = _prune(baseline, data, config, {"sparsity_m_by_n": m_by_n}, emit, stop, stage)
    check = keras_block_check(trained.model, *m_by_n)
    emit(LogMessage(check.summary(), level="info" if check.ok else "warning", stage=stage))  # type: ignore[arg-type]
    return trained


def _prune(
    baseline: keras.Model,
    data: Dataset,
    config: PruneScheduleConfig,
    pruning_params: dict[str, Any],
    emit: Emit,
    stop: threading.Event,
    stage: str,
) -> TrainedModel:
    # prune_low_magnitude wraps the layers it is given: prune a copy, never the caller's model.
    pruned = tfmot.sparsity.keras.prune_low_magnitude(copy_model(baseline), **pruning_params)
    return fine_tune(
        pruned,
        data,
        config,
        stage,
        emit,
        stop,
        callbacks=(tfmot.sparsity.keras.UpdatePruningStep(),),
        strip=tfmot.sparsity.keras.strip_pruning,
    )
