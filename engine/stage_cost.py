"""What a training stage will cost, estimated before it runs, and a warning line when it will be long.

Measure before you warn: the figures below were measured on this project's CPU machine (one TensorFlow
thread, niced, load average 1-8 from other work; `python benchmarks/stage_cost.py` measures them again)
with a small MobileNetV2 (alpha 0.35, 32x32x3, 10 classes: 156 layers, 53 conv/dense, 423k parameters,
1.2M multiply-adds per image) and the example's MNIST model (5 layers, 20k parameters):

| technique           | first step (trace + 1 batch) | later steps | peak memory added |
|---------------------|------------------------------|-------------|-------------------|
| train (float)       |   7.5 s                      | 0.18 s      | +0.24 GB          |
| QAT                 |  14.3 s  (1.9x train)        | 0.13 s      | +0.35 GB          |
| PQAT                |  33.9 s  (4.5x)              | 0.36 s      | +0.35 GB          |
| cluster             |  25.7 s  (3.4x)              | 0.19 s      | +0.30 GB          |
| prune               |  81.4 s  (10.8x)             | 0.31 s      | +0.67 GB          |
| CQAT                | 169.9 s  (22.6x)             | 0.45 s      | +1.03 GB          |
| PCQAT               | see CLUSTER_PRESERVE_FACTOR  |             |                   |

On the MNIST model every first step takes under a second. The issue's report of CQAT on a full MobileNetV2
(alpha 1.0, 3.5M parameters, the same 156 layers): 17 minutes and 11 GB, 6x the time of alpha 0.35 for
8.3x the parameters. So the cluster-preserving first step grows with the weights too, about as
parameters^0.85, and its memory about in proportion to them (2.5 KB a parameter: 8.9 GB of the 11).
Steps run at about 0.6 G multiply-adds a second (x3 for the backward pass).

The estimate is a warning, not a promise: it says "long" when a first step will take minutes or a stage
will take more than `LONG_STAGE_S`, or memory will run past `MEMORY_WARNING_BYTES`.
Pure Python: reads a Keras model through duck typing only (layers, `count_params`, output shapes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Seconds per layer of the first training step (trace + one batch) of a plain float model.
TRACE_S_PER_LAYER = 7.5 / 156
# First-step time of each technique relative to plain training, measured as above.
FIRST_STEP_FACTOR = {
    "train": 1.0,
    "qat:default": 1.9,
    "qat:prune_preserve": 4.5,
    "cluster": 3.4,
    "prune": 10.8,
    "qat:cluster_preserve": 22.6,
    "qat:prune_cluster_preserve": 22.6,
}
# Later steps relative to plain training.
STEP_FACTOR = {
    "train": 1.0,
    "qat:default": 0.75,
    "qat:prune_preserve": 2.0,
    "cluster": 1.05,
    "prune": 1.7,
    "qat:cluster_preserve": 2.5,
    "qat:prune_cluster_preserve": 2.5,
}
# Peak memory added by the stage, per parameter of the model.
MEMORY_BYTES_PER_PARAM = {
    "train": 580,
    "qat:default": 840,
    "qat:prune_preserve": 850,
    "cluster": 720,
    "prune": 1640,
    "qat:cluster_preserve": 2550,
    "qat:prune_cluster_preserve": 2550,
}
REFERENCE_PARAMS = 423_018  # the MobileNetV2 the factors were measured on
CLUSTER_PRESERVE_EXPONENT = 0.85  # cost ~ parameters^0.85 beyond it (the full-size figure)
MACS_PER_SECOND = 0.6e9
STEP_OVERHEAD_S = 0.005
LONG_FIRST_STEP_S = 60.0
LONG_STAGE_S = 1800.0
MEMORY_WARNING_BYTES = 8 * 1024**3


@dataclass(frozen=True)
class ModelSize:
    layers: int
    params: int
    macs_per_image: int  # multiply-adds of one forward pass through conv and dense layers


@dataclass(frozen=True)
class CostEstimate:
    stage: str
    technique: str  # "prune", "qat:cluster_preserve", ...
    size: ModelSize
    first_step_s: float
    total_s: float
    peak_memory_bytes: int

    @property
    def long(self) -> bool:
        return (
            self.first_step_s >= LONG_FIRST_STEP_S
            or self.total_s >= LONG_STAGE_S
            or self.peak_memory_bytes >= MEMORY_WARNING_BYTES
        )


def model_size(model: Any) -> ModelSize:
    """Layers, parameters and forward multiply-adds of a Keras model (wrapped layers read through)."""
    macs = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        kernel = getattr(inner, "depthwise_kernel", None)
        if kernel is None:
            kernel = getattr(inner, "kernel", None)
        if kernel is None:
            continue
        weights = math.prod(int(d) for d in kernel.shape)
        try:
            shape = layer.output_shape
        except (AttributeError, RuntimeError):
            shape = None
        spatial = math.prod(int(d) for d in shape[1:-1] if d) if shape and len(shape) > 2 else 1
        macs += weights * spatial
    return ModelSize(len(model.layers), int(model.count_params()), macs)


def technique_key(technique: str, params: dict[str, Any]) -> str:
    """`qat:cluster_preserve` for a QAT stage with that scheme; the technique's name otherwise."""
    return f"qat:{params.get('scheme', 'default')}" if technique == "qat" else technique


def estimate_cost(
    size: ModelSize,
    technique: str,
    *,
    stage: str = "",
    epochs: int = 1,
    batch_size: int = 32,
    train_images: int = 0,
) -> CostEstimate:
    """Seconds for the first step and the whole stage, and peak memory added, from the measured factors."""
    factor = FIRST_STEP_FACTOR.get(technique, 1.0)
    growth = 1.0
    if "cluster_preserve" in technique and size.params > REFERENCE_PARAMS:
        growth = (size.params / REFERENCE_PARAMS) ** CLUSTER_PRESERVE_EXPONENT
    first_step = TRACE_S_PER_LAYER * size.layers * factor * growth
    step = STEP_OVERHEAD_S + 3 * size.macs_per_image * batch_size / MACS_PER_SECOND
    steps = epochs * math.ceil(train_images / batch_size) if train_images else 0
    total = first_step + steps * step * STEP_FACTOR.get(technique, 1.0)
    memory = int(size.params * MEMORY_BYTES_PER_PARAM.get(technique, 1000))
    return CostEstimate(stage, technique, size, first_step, total, memory)


def estimate(model: Any, spec: Any, config: Any, train_images: int) -> CostEstimate:
    """The cost of running recipe stage `spec` (engine.recipe.StageSpec) on `model` with `config`."""
    return estimate_cost(
        model_size(model),
        technique_key(spec.technique, dict(spec.params)),
        stage=spec.name,
        epochs=getattr(config, "epochs", 1),
        batch_size=getattr(config, "batch_size", 32),
        train_images=train_images,
    )


def warning_for(cost: CostEstimate) -> str | None:
    """One line to show before a long stage starts, or None."""
    if not cost.long:
        return None
    return (
        f"{cost.stage or cost.technique} will be long on this model ({cost.size.layers} layers, "
        f"{cost.size.params:,} parameters): about {_duration(cost.first_step_s)} before the first batch, "
        f"{_duration(cost.total_s)} in all, {cost.peak_memory_bytes / 1024**3:.1f} GB more memory "
        "(estimated from measured figures; see engine/stage_cost.py)"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
