"""How the app gets its engine: a factory it calls in a background thread, so the first paint never waits.

Tests pass a factory that returns a scripted fake; the default one imports TensorFlow (3–7 s) and builds
the real pipeline session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.config import PipelineConfig
from engine.protocol import PipelineEngine


@dataclass(frozen=True)
class LoadedEngine:
    engine: PipelineEngine
    versions: dict[str, str]  # library versions worth a log line, e.g. {"tensorflow": "2.21.0"}


EngineFactory = Callable[[PipelineConfig], LoadedEngine]


def load_real_engine(config: PipelineConfig) -> LoadedEngine:
    """Import TensorFlow and create the pipeline session. Blocking: call it from a worker thread."""
    from engine.tf_runtime import load_tensorflow

    versions = load_tensorflow()
    from engine.pipeline import PipelineSession

    return LoadedEngine(PipelineSession(config), versions)
