"""Results of a `collaborative` recipe run on the example model, made up without TensorFlow.

Thirteen models under `models` (today's five plus clustered, sparse_clustered, cqat, pcqat, pruned_2by4,
pqat_2by4, ptq_dynamic, ptq_float16) and the float reference, with the collaborative recipe's graph. The
figures are plausible for the sample (measured here: PCQAT 8.9 KB zipped at 0.933, PQAT 14.6 KB at 0.934,
QAT 17.0 KB, float about 78 KB); sparse encoding makes the 50%-sparse int8 files larger, as it does here.
"""

from __future__ import annotations

from dataclasses import replace

from fake_engine import STAGE_SECONDS, stage_output

from engine.config import PipelineConfig
from engine.recipe import BUILT_IN
from engine.results import ModelResult, RunResults, TFLiteInfo, WeightSparsity
from engine.stages import Stage

# name: (accuracy, raw bytes, zipped bytes, conv zeros of 108, dense zeros of 20280, unique values a
# channel, sparse-encoded bytes or None)
DEPLOYED = {
    "float": (0.943, 84_840, 77_230, 0, 0, 1_012, None),
    "qat": (0.936, 24_432, 17_012, 0, 325, 231, None),
    "pqat": (0.934, 24_432, 14_596, 54, 10_140, 198, 36_410),
    "ptq": (0.939, 24_880, 14_803, 54, 10_140, 201, 36_820),
    "ptq_dynamic": (0.941, 25_120, 15_420, 54, 10_140, 207, None),
    "ptq_float16": (0.943, 44_310, 29_870, 54, 10_140, 1_004, None),
    "sparse_clustered": (0.931, 24_560, 9_870, 54, 10_140, 16, None),
    "pcqat": (0.933, 24_432, 8_904, 54, 10_140, 16, 36_120),
    "clustered": (0.935, 24_560, 11_230, 0, 0, 16, None),
    "cqat": (0.936, 24_432, 10_950, 0, 81, 16, None),
    "pruned_2by4": (0.938, 24_600, 14_950, 0, 10_140, 203, None),
    "pqat_2by4": (0.937, 24_432, 14_720, 0, 10_140, 197, 33_500),
}
# Keras accuracies of the models the new stages train.
KERAS = {
    "clustered": 0.936,
    "sparse_clustered": 0.932,
    "cqat": 0.937,
    "pcqat": 0.934,
    "pruned_2by4": 0.939,
    "pqat_2by4": 0.938,
}


def _kernels(conv_zeros: int, dense_zeros: int) -> tuple[WeightSparsity, ...]:
    return (
        WeightSparsity("conv2d/kernel (int8)", conv_zeros, 108),
        WeightSparsity("dense/kernel (int8)", dense_zeros, 20280),
    )


def _tflite(name: str) -> TFLiteInfo:
    accuracy, raw, zipped, conv, dense, unique, sparse = DEPLOYED[name]
    return TFLiteInfo(
        raw,
        zipped,
        accuracy,
        _kernels(conv, dense),
        unique_values={"conv2d/kernel (int8)": min(unique, 12 * 9), "dense/kernel (int8)": unique},
        sparse_encoded_bytes=sparse,
    )


def collaborative_results() -> RunResults:
    """Today's eight stages as the fake engine records them, then every branch of the collaborative tree."""
    config = PipelineConfig(data="sample").with_overrides(epochs=2, prune_epochs=2)
    results = RunResults(config=config.to_dict(), versions={"tensorflow": "fake"})
    for stage in Stage:
        results = stage_output(stage, results, ())
    results = replace(results, stage_seconds={s.value: t for s, t in STAGE_SECONDS.items()})
    for name in DEPLOYED:
        model = results.models.get(name) or ModelResult(KERAS.get(name))
        results = results.with_model(name, replace(model, tflite=_tflite(name)))
    return replace(results, recipe=BUILT_IN["collaborative"].to_json())
