"""The real engine (a PipelineSession in a StoredSession over a real run folder), TensorFlow scripted out.

Only the computing is replaced: each stage's outputs are the recorded figures of tests/fake_engine.py, a
model file is `model_size` bytes of filler. Everything else is the code a user runs: the stage's error
handling, committing, saving through engine.writes, the manifest, resuming. So the write-fault tests exercise
the real path in a fraction of a second.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from fake_engine import stage_output

from engine import pipeline
from engine.results import TFLiteInfo
from engine.stages import MODEL_OF_STAGE, Stage


@dataclass(frozen=True)
class ScriptedConverted:
    """Stands in for engine.conversion.ConvertedModel (which imports TensorFlow)."""

    content: bytes
    info: TFLiteInfo


def script_the_engine(monkeypatch: pytest.MonkeyPatch, model_size: int = 2_000) -> None:
    """Make PipelineSession compute scripted outputs; Data still loads the real sample (no TensorFlow)."""
    real_compute = pipeline.PipelineSession._compute

    def compute(self: pipeline.PipelineSession, name: str, emit: Any, stop: threading.Event) -> Any:
        stage = Stage(name)  # the session passes stage names (str)
        if stage is Stage.DATA:
            return real_compute(self, stage, emit, stop)
        after = stage_output(stage, self.results, ())
        models = {
            name: model for name, model in after.models.items() if self.results.models.get(name) != model
        }
        if stage in (Stage.CONVERT, Stage.EVALUATE):
            converted = {
                name: ScriptedConverted(b"tflite " + name.encode(), after.models[name].tflite)
                for name in ("qat", "pqat")
            }
            return pipeline._Outputs(converted=converted, models=models)  # type: ignore[arg-type]
        if stage is Stage.PTQ:
            ptq = ScriptedConverted(b"tflite ptq", after.models["ptq"].tflite)
            return pipeline._Outputs(converted={"ptq": ptq}, models=models)  # type: ignore[dict-item]
        return pipeline._Outputs(keras_model=f"{MODEL_OF_STAGE[stage]} model", models=models)

    artifacts = ModuleType("engine.artifacts")
    artifacts.model_bytes = lambda model, suffix: (f"{model}{suffix}\n".encode() * model_size)[:model_size]
    artifacts.load_model = lambda path: f"model read from {path.name}"
    conversion = ModuleType("engine.conversion")
    conversion.ConvertedModel = ScriptedConverted
    monkeypatch.setattr(pipeline.PipelineSession, "_compute", compute)
    monkeypatch.setattr(pipeline, "load_tensorflow", lambda: {"tensorflow": "scripted"})
    monkeypatch.setattr(pipeline, "is_loaded", lambda: True)
    monkeypatch.setattr("engine.tf_runtime.load_tensorflow", lambda: {"tensorflow": "scripted"})
    monkeypatch.setitem(sys.modules, "engine.artifacts", artifacts)
    monkeypatch.setitem(sys.modules, "engine.conversion", conversion)
