"""What a training stage will cost, estimated before it runs, and a warning line when it will be long.

Measure before you warn: `python benchmarks/stage_cost.py` measured these on this project's machine, each
technique in a fresh process with one TensorFlow thread, as CPU seconds (wall time on a shared machine
says more about the neighbours: it ran 3-10x longer here at load average 6-10). The model: a small
MobileNetV2 (alpha 0.35, 32x32x3, 10 classes: 156 layers, 53 conv/dense, 423k parameters, 1.2M
multiply-adds per image). Ratios are to plain training in the same run (12.7 s and 11.4 s in two runs).

| technique           | first step (trace + 1 batch) | later steps (batch 32) | peak memory added |
|---------------------|------------------------------|------------------------|-------------------|
| train (float)       |  12.7 s                      | 0.073 s                | +0.25 GB          |
| QAT                 |  20.7 s  (1.6x train)        | 0.086 s                | +0.37 GB          |
| PQAT                |  20.1 s  (1.6x)              | 0.092 s                | +0.36 GB          |
| cluster             |  17.9 s  (1.4x)              | 0.100 s                | +0.30 GB          |
| prune               |  40.3 s  (3.2x)              | 0.072 s                | +0.70 GB          |
| CQAT                |  66.8 s  (5.9x)              | 0.125 s                | +1.03 GB          |
| PCQAT               |  75.1 s  (6.6x; 69.4 s 5.5x) | 0.145 s                | +1.02 GB          |

A third CQAT run, while the machine swapped at load 8-9, took 169 s and +2.8 GB: the figures are a floor.
On the example's MNIST model (5 layers, 20k parameters) every first step takes 1-2 s. The issue's report
of CQAT on a full MobileNetV2 (alpha 1.0, 3.5M parameters, the same 156 layers): 17 minutes and 11 GB,
15x the time and 11x the memory of alpha 0.35 for 8.4x the parameters. So the cluster-preserving schemes
grow with the weights, not the layer count: their first step as parameters^1.28 and their memory as
parameters^1.11 beyond the measured model (exponents fitted to that one report). Later steps run at
about 1.5 G multiply-adds a second (x3 for the backward pass).

The estimate is a warning, not a promise: it says "long" when a first step will take minutes or a stage
will take more than `LONG_STAGE_S`, or memory will run past `MEMORY_WARNING_BYTES`.
Pure Python: reads a Keras model through duck typing only (layers, `count_params`, output shapes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Seconds per layer of the first training step (trace + one batch) of a plain float model.
TRACE_S_PER_LAYER = 12.0 / 156
# First-step time of each technique relative to plain training, measured as above.
FIRST_STEP_FACTOR = {
    "train": 1.0,
    "qat:default": 1.6,
    "qat:prune_preserve": 1.6,
    "cluster": 1.4,
    "prune": 3.2,
    "qat:cluster_preserve": 5.9,
    "qat:prune_cluster_preserve": 6.6,
}
# Later steps relative to plain training.
STEP_FACTOR = {
    "train": 1.0,
    "qat:default": 1.2,
    "qat:prune_preserve": 1.25,
    "cluster": 1.35,
    "prune": 1.0,
    "qat:cluster_preserve": 1.95,
    "qat:prune_cluster_preserve": 2.25,
}
# Peak memory added by the stage, per parameter of the model.
MEMORY_BYTES_PER_PARAM = {
    "train": 590,
    "qat:default": 870,
    "qat:prune_preserve": 850,
    "cluster": 710,
    "prune": 1650,
    "qat:cluster_preserve": 2440,
    "qat:prune_cluster_preserve": 2410,
}
REFERENCE_PARAMS = 423_018  # the MobileNetV2 the factors were measured on
# Beyond it the cluster-preserving schemes grow faster than the layer count says (the full-size run).
CLUSTER_PRESERVE_TIME_EXPONENT = 1.28
CLUSTER_PRESERVE_MEMORY_EXPONENT = 1.11
MACS_PER_SECOND = 1.5e9
STEP_OVERHEAD_S = 0.005
LONG_FIRST_STEP_S = 60.0
LONG_STAGE_S = 1800.0
MEMORY_WARNING_BYTES = 8e9


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
    time_growth = 1.0
    memory = size.params * MEMORY_BYTES_PER_PARAM.get(technique, 1000)
    if "cluster_preserve" in technique and size.params > REFERENCE_PARAMS:
        scale = size.params / REFERENCE_PARAMS
        time_growth = scale**CLUSTER_PRESERVE_TIME_EXPONENT
        memory = (
            REFERENCE_PARAMS * MEMORY_BYTES_PER_PARAM[technique] * scale**CLUSTER_PRESERVE_MEMORY_EXPONENT
        )
    first_step = TRACE_S_PER_LAYER * size.layers * factor * time_growth
    step = STEP_OVERHEAD_S + 3 * size.macs_per_image * batch_size / MACS_PER_SECOND
    steps = epochs * math.ceil(train_images / batch_size) if train_images else 0
    total = first_step + steps * step * STEP_FACTOR.get(technique, 1.0)
    return CostEstimate(stage, technique, size, first_step, total, int(memory))


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
        f"{_duration(cost.total_s)} in all, {cost.peak_memory_bytes / 1e9:.1f} GB more memory "
        "(estimated from measured figures; see engine/stage_cost.py)"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
