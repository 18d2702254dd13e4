"""Quantization-aware training that preserves what earlier stages made: tfmot's collaborative schemes.

`prune_preserve` (PQAT) keeps zeros; `cluster_preserve` (CQAT) keeps each kernel's clusters;
`prune_cluster_preserve` (PCQAT) keeps both. `default` is plain QAT, which keeps neither. The PQAT example's
QAT and PQAT stages stay engine.training's; this module adds the cluster-preserving ones.
Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import tensorflow_model_optimization as tfmot
import tf_keras as keras

from engine.config import TrainConfig
from engine.data import Dataset
from engine.events import EngineEvent
from engine.fine_tune import fine_tune
from engine.training import TrainedModel, copy_model

Emit = Callable[[EngineEvent], None]
SCHEMES = ("default", "prune_preserve", "cluster_preserve", "prune_cluster_preserve")


def quantize_scheme(scheme: str) -> tfmot.quantization.keras.QuantizeScheme:
    """tfmot's QuantizeScheme for a recipe's `scheme` parameter.

    tfmot's `Default8BitClusterPreserveQuantizeScheme()` preserves sparsity unless told otherwise; CQAT
    passes `preserve_sparsity=False` so that it is cluster-preserving only, as its name says.
    """
    combine = tfmot.experimental.combine
    if scheme == "default":
        return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()
    if scheme == "prune_preserve":
        return combine.Default8BitPrunePreserveQuantizeScheme()
    if scheme == "cluster_preserve":
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False)
    if scheme == "prune_cluster_preserve":
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
    raise ValueError(f"unknown quantization scheme {scheme!r} (allowed: {', '.join(SCHEMES)})")


def quantize_aware_stage(
    model: keras.Model,
    data: Dataset,
    config: TrainConfig,
    emit: Emit,
    stop: threading.Event,
    *,
    scheme: str,
    stage: str,
) -> TrainedModel:
    """QAT of a copy of `model` under `scheme` (the cqat_example / pcqat_example: 1 epoch, batch 128)."""
    annotated = tfmot.quantization.keras.quantize_annotate_model(copy_model(model))
    quantized = tfmot.quantization.keras.quantize_apply(annotated, quantize_scheme(scheme))
    return fine_tune(quantized, data, config, stage, emit, stop)
