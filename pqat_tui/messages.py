"""Messages the app's worker threads post to the event loop: each wraps one plain engine value."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from engine.events import BatchProgress, EngineEvent
from engine.protocol import EngineLink


class EngineEventPosted(Message):
    """One message from the engine (an engine event, or engine.wire's WorkerState, History, Refused),
    posted from the thread that reads the engine's link."""

    def __init__(self, event: EngineEvent) -> None:
        super().__init__()
        self.event = event

    @staticmethod
    def wrap(event: EngineEvent) -> EngineEventPosted:
        if isinstance(event, BatchProgress):
            return ProgressPosted(event)
        return EngineEventPosted(event)


class ProgressPosted(EngineEventPosted):
    """Batch progress: a newer one makes an older, still queued one worthless, so it replaces it."""

    event: BatchProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressPosted) and message.event.stage == self.event.stage


class EngineReady(Message):
    def __init__(self, engine: EngineLink, versions: dict[str, str], summary: str = "") -> None:
        super().__init__()
        self.engine = engine
        self.versions = versions
        self.summary = summary


class EngineLoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class ReportExported(Message):
    def __init__(self, folder: Path, files: tuple[Path, ...]) -> None:
        super().__init__()
        self.folder = folder
        self.files = files


class ReportExportFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
