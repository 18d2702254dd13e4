"""The shape every engine has, the real TensorFlow one and the scripted fakes the UI tests use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from engine.events import EngineEvent
from engine.results import RunResults
from engine.stages import Stage

Emit = Callable[[EngineEvent], None]


class PipelineEngine(Protocol):
    @property
    def results(self) -> RunResults:
        """Everything computed so far."""
        ...

    def done_stages(self) -> set[Stage]:
        """Stages whose output is in hand (their downstream can run)."""
        ...

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        """Run one stage, blocking, in the caller's thread.

        Emits StageStarted, progress, then exactly one of StageFinished, StageFailed or StageCancelled; never
        raises for a failure of the stage itself. Running a stage again drops the outputs of every stage
        downstream of it. Setting `stop` ends training within one batch and leaves no partial output.
        """
        ...
