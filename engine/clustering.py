"""Weight clustering: `cluster_weights` of a trained model, fine-tuned and stripped, and its
sparsity-preserving form for a pruned model (`preserve_sparsity=True`: the zeros stay one of the clusters).

Defaults come from tfmot's clustering_example and cqat_example (see engine.collab_config).
Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import tensorflow_model_optimization as tfmot
import tf_keras as keras

from engine.collab_config import ClusterConfig
from engine.data import Dataset
from engine.events import EngineEvent, LogMessage
from engine.fine_tune import fine_tune
from engine.training import TrainedModel, copy_model
from engine.weight_structure import keras_unique_values

Emit = Callable[[EngineEvent], None]


def centroid_initialization(name: str) -> tfmot.clustering.keras.CentroidInitialization:
    """`kmeans_plus_plus` -> CentroidInitialization.KMEANS_PLUS_PLUS (the config's spelling)."""
    return tfmot.clustering.keras.CentroidInitialization[name.upper()]


def cluster_stage(
    model: keras.Model,
    data: Dataset,
    config: ClusterConfig,
    emit: Emit,
    stop: threading.Event,
    *,
    preserve_sparsity: bool = False,
    stage: str = "cluster",
) -> TrainedModel:
    """Cluster every kernel to `number_of_clusters` values, fine-tune, strip; the stripped model is kept.

    With `preserve_sparsity`, zero weights stay zero (tfmot fixes the centroid nearest zero at 0 and masks
    the zeros' gradients), so a pruned model keeps its sparsity as well.
    """
    clustered = tfmot.clustering.keras.cluster_weights(
        copy_model(model),  # cluster_weights wraps the layers it is given: never the caller's
        number_of_clusters=config.number_of_clusters,
        cluster_centroids_init=centroid_initialization(config.centroid_init),
        preserve_sparsity=preserve_sparsity,
    )
    trained = fine_tune(
        clustered, data, config, stage, emit, stop, strip=tfmot.clustering.keras.strip_clustering
    )
    kept = keras_unique_values(trained.model)
    shown = ", ".join(f"{name} {count}" for name, count in kept.items())
    emit(
        LogMessage(
            f"unique values per output channel (at most {config.number_of_clusters}): {shown}",
            stage=stage,  # type: ignore[arg-type]
        )
    )
    return trained
