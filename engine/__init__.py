"""The pqat-tui engine: the PQAT pipeline with no user interface in it.

Importing this package is cheap and never imports TensorFlow, textual, rich or pqat_tui: the modules
exported here (stages, config, events, results) are plain Python. TensorFlow is imported only by the
modules that run the pipeline, when a session is created.
"""

from __future__ import annotations

from engine.config import PipelineConfig, PruneConfig, PTQConfig, TrainConfig
from engine.events import (
    BatchProgress,
    EngineEvent,
    EpochEnded,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
)
from engine.results import (
    DatasetInfo,
    EpochMetrics,
    ModelResult,
    RunResults,
    TFLiteInfo,
    WeightSparsity,
)
from engine.stages import MODEL_OF_STAGE, STAGE_INPUTS, Stage, downstream_of, missing_inputs

__all__ = [
    "MODEL_OF_STAGE",
    "STAGE_INPUTS",
    "BatchProgress",
    "DatasetInfo",
    "EngineEvent",
    "EpochEnded",
    "EpochMetrics",
    "LogMessage",
    "ModelResult",
    "PTQConfig",
    "PipelineConfig",
    "PruneConfig",
    "RunResults",
    "Stage",
    "StageCancelled",
    "StageFailed",
    "StageFinished",
    "StageStarted",
    "TFLiteInfo",
    "TrainConfig",
    "WeightSparsity",
    "downstream_of",
    "missing_inputs",
]
