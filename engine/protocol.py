"""The shape every engine has, the real TensorFlow one and the scripted fakes the UI tests use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.events import EngineEvent
from engine.results import RunResults
from engine.stages import Stage

if TYPE_CHECKING:
    from engine.config import PipelineConfig
    from engine.wire import WorkerState

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


class EngineRefused(Exception):
    """An engine host said no to a command (a stage runs, this viewer only watches...): one line to show."""


@runtime_checkable
class EngineLink(Protocol):
    """The app's handle on a PipelineEngine run by a host (engine.host): in an engine process of its own
    (engine.worker_link.WorkerLink) or, for the scripted fakes of the tests, in a thread (LocalLink).

    Commands return at once; what happens comes back as events through the listener, in order: the engine's
    own events, and engine.wire's WorkerState (sent before each stage's final event), History and Refused.
    """

    @property
    def state(self) -> WorkerState:
        """The host's latest WorkerState (done, stale and running stages, results, who drives)."""
        ...

    @property
    def can_detach(self) -> bool:
        """Whether the engine may go on after the app quits (it runs in a process of its own)."""
        ...

    def listen(self, listener: Callable[[EngineEvent], None]) -> None:
        """Deliver every message to `listener` from now on, those that came before it first."""
        ...

    def run_stage(self, stage: Stage) -> None: ...

    def run_all(self) -> None:
        """Run every pending stage in turn (after the running one, if one runs); a failure stops it."""
        ...

    def cancel(self) -> None:
        """Stop the running stage within a batch (or end the engine process if it does not) and run-all."""
        ...

    def reconfigure(self, config: PipelineConfig) -> set[Stage]:
        """Use `config` from now on; returns the done stages it made stale. EngineRefused while one runs."""
        ...

    def take_control(self) -> None:
        """Drive the run from this viewer; the one that drove it watches."""
        ...

    def tflite_model(self, name: str) -> bytes | None:
        """The .tflite file of deployed model `name` (for the Inspector), or None before it is made."""
        ...

    def close(self, *, stop: bool = True) -> None:
        """Leave: `stop` cancels the running stage and run-all; otherwise the engine goes on without us."""
        ...
