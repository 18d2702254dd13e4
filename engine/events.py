"""What the engine tells its listener. Plain frozen values, safe to hand from a worker thread to a UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.stages import Stage

if TYPE_CHECKING:
    from engine.results import RunResults


@dataclass(frozen=True)
class EngineEvent:
    """Base of every event: `emit(event)` is the engine's only way to talk."""


@dataclass(frozen=True)
class StageStarted(EngineEvent):
    stage: Stage
    epochs: int = 0  # 0 for stages that do not train


@dataclass(frozen=True)
class BatchProgress(EngineEvent):
    """Throttled (about ten a second): a listener may drop all but the latest."""

    stage: Stage
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, batches done in this epoch
    batches: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEnded(EngineEvent):
    stage: Stage
    epoch: int  # 1-based
    epochs: int
    metrics: dict[str, float] = field(default_factory=dict)  # loss, accuracy, val_loss, val_accuracy


@dataclass(frozen=True)
class LogMessage(EngineEvent):
    text: str
    level: str = "info"  # "info", "warning" or "error"
    stage: Stage | None = None


@dataclass(frozen=True)
class StageFinished(EngineEvent):
    stage: Stage
    seconds: float
    results: RunResults  # the whole run's results, this stage's included


@dataclass(frozen=True)
class StageFailed(EngineEvent):
    stage: Stage
    seconds: float
    error: str  # one line a person can act on


def one_line_error(error: BaseException, limit: int = 200) -> str:
    """An exception as StageFailed.error wants it: its type and message on one line, at most `limit` long."""
    text = " ".join(str(error).split())
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class StageCancelled(EngineEvent):
    """The stage stopped because the stop event was set; it left no partial output behind."""

    stage: Stage
    seconds: float
