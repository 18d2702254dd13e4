"""`EngineHost`: runs one PipelineEngine's stages, one at a time, on commands that may come from any thread.

The host is what an engine process (engine.worker) serves to its viewers, and what `LocalLink` runs in a
thread for the app's scripted test engines. It owns the run-all sequence, so that a run goes on to its end
with no viewer left; a stage that fails or is cancelled ends the sequence.

Everything the host says goes through one `publish` callback, in order, under one lock: the engine's events,
and a WorkerState whenever the host's state changes, always just before a stage's final event, so that a
listener handling that event already holds the done stages and results it left behind.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable

from engine.config import PipelineConfig
from engine.events import EngineEvent, LogMessage, StageFailed, StageFinished, one_line_error
from engine.protocol import EngineRefused, PipelineEngine
from engine.recipe import PQAT, Recipe, plain_name
from engine.stages import Stage, StageName, stage_key
from engine.wire import FINAL_EVENTS, Refused, WorkerState

Publish = Callable[[EngineEvent], None]


class EngineHost:
    def __init__(
        self,
        engine: PipelineEngine,
        publish: Publish,
        *,
        versions: dict[str, str] | None = None,
        summary: str = "",
    ) -> None:
        self.engine = engine
        self.summary = summary
        self._publish = publish
        self._versions = dict(versions or {})
        # One lock for the state and for publishing: what listeners receive is in the order it happened.
        self._lock = threading.Condition(threading.RLock())
        self._next: Stage | None = None  # accepted, not yet begun
        self._running: Stage | None = None  # accepted or running
        self._run_all = False
        self._stop = threading.Event()
        self._closed = False
        self._results = engine.results
        self._done: frozenset[Stage] = frozenset()
        self._stale: frozenset[Stage] = frozenset()
        self._take_snapshot()

    # --- what listeners see ------------------------------------------------------------------------------

    @property
    def lock(self) -> threading.Condition:
        """Held while publishing: hold it to send a newcomer the state and history with nothing between."""
        return self._lock

    @property
    def running(self) -> Stage | None:
        return self._running

    @property
    def busy(self) -> bool:
        return self._running is not None

    def state(self) -> WorkerState:
        with self._lock:
            return WorkerState(
                results=self._results,
                done=self._done,
                stale=self._stale,
                running=self._running,
                run_all=self._run_all,
                versions=dict(self._versions),
                summary=self.summary,
                pid=os.getpid(),
            )

    def publish_state(self) -> None:
        with self._lock:
            self._publish(self.state())

    def publish(self, event: EngineEvent) -> None:
        with self._lock:
            self._publish(event)

    def set_versions(self, versions: dict[str, str]) -> None:
        """TensorFlow has loaded (in the background): listeners learn its version."""
        with self._lock:
            self._versions = dict(versions)
            self.publish_state()

    # --- commands ----------------------------------------------------------------------------------------

    def run_stage(self, stage: Stage) -> str | None:
        """Accept `stage` to run next; the reason why not, or None."""
        with self._lock:
            refusal = self._refusal()
            if refusal is not None:
                return refusal
            if plain_name(stage) not in self._recipe():
                return f"{plain_name(stage)!r} is not a stage of recipe {self._recipe().name!r}"
            self._accept(stage_key(stage, self._recipe()))
            self.publish_state()
        return None

    def run_all(self) -> str | None:
        """Run every pending stage in turn: now, or after the running one. The reason why not, or None."""
        with self._lock:
            if self._closed:
                return "the engine is shutting down"
            if self._running is None:
                pending = self._next_pending()
                if pending is None:
                    return "Every stage is done; r re-runs the selected one."
                self._accept(pending)
            self._run_all = True
            self.publish_state()
        return None

    def cancel(self) -> None:
        """Stop the running stage within a batch (the engine's stop event) and the run-all sequence."""
        with self._lock:
            self._run_all = False
            if self._running is not None:
                self._stop.set()
            self.publish_state()

    def reconfigure(self, config: PipelineConfig) -> set[Stage]:
        """The engine's `reconfigure` (a StoredSession's), between stages only; EngineRefused otherwise."""
        with self._lock:
            if self._running is not None:
                raise EngineRefused(f"Settings change between stages: {self._running.title} is running.")
            reconfigure = getattr(self.engine, "reconfigure", None)
            if reconfigure is None:
                raise EngineRefused("This engine cannot change its settings.")
            try:
                changed = set(reconfigure(config))
            except Exception as error:  # the run folder refused the new config (a full disk): nothing changed
                raise EngineRefused(str(error) or one_line_error(error)) from None
            self._take_snapshot()
            self.publish_state()
        return changed

    def close(self) -> None:
        """Stop the running stage and let `serve` return."""
        with self._lock:
            self._closed = True
            self._run_all = False
            self._stop.set()
            self._lock.notify_all()

    def wake(self) -> None:
        """Make `serve` ask its `idle` callback again now."""
        with self._lock:
            self._lock.notify_all()

    # --- the stage thread ----------------------------------------------------------------------------------

    def serve(self, idle: Callable[[], bool] = lambda: False) -> None:
        """Run accepted stages in this thread until `close`, or until `idle()` is true while nothing runs."""
        while True:
            with self._lock:
                while self._next is None and not self._closed:
                    if self._running is None and idle():
                        return
                    self._lock.wait(0.2)
                if self._closed:
                    return
                stage, self._next = self._next, None
                stop = self._stop
            self._run(stage, stop)

    def _run(self, stage: Stage, stop: threading.Event) -> None:
        started = time.monotonic()
        ended = False

        def emit(event: EngineEvent) -> None:
            nonlocal ended
            with self._lock:
                if isinstance(event, FINAL_EVENTS) and event.stage is stage and not ended:
                    ended = True
                    self._stage_ended(finished=isinstance(event, StageFinished))
                self._publish(event)

        try:
            self.engine.run_stage(stage, emit, stop)
        except Exception as error:  # the protocol says it never raises; if it does, the run goes on
            emit(LogMessage(traceback.format_exc().rstrip(), "error", stage))
            emit(StageFailed(stage, time.monotonic() - started, f"internal error: {one_line_error(error)}"))
        if not ended:
            emit(
                StageFailed(
                    stage, time.monotonic() - started, "internal error: the stage ended without a word"
                )
            )

    def _stage_ended(self, *, finished: bool) -> None:
        """Under the lock, on a stage's final event: the new state, published before the event itself."""
        self._take_snapshot()
        self._running = None
        if not finished or self._closed:
            self._run_all = False
        if self._run_all:
            pending = self._next_pending()
            if pending is None:
                self._run_all = False
            else:
                self._accept(pending)
        self._publish(self.state())

    # --- helpers -------------------------------------------------------------------------------------------

    def _refusal(self) -> str | None:
        if self._closed:
            return "the engine is shutting down"
        if self._running is not None:
            return f"{self._running.title} is running; c cancels it."
        return None

    def _accept(self, stage: Stage) -> None:
        self._running = stage
        self._next = stage
        self._stop = threading.Event()
        self._lock.notify_all()

    def _recipe(self) -> Recipe:
        """The engine's recipe (an engine from before recipes runs `pqat`'s stages)."""
        return getattr(self.engine, "recipe", None) or PQAT

    def _next_pending(self) -> Stage | StageName | None:
        pending = self._recipe().first_pending(self._done)
        return None if pending is None else stage_key(pending, self._recipe())

    def _take_snapshot(self) -> None:
        """Read the engine's results and done stages, in the stage thread or between stages only."""
        self._results = self.engine.results
        self._done = frozenset(self.engine.done_stages())
        stale_stages = getattr(self.engine, "stale_stages", None)
        self._stale = frozenset(stale_stages()) if stale_stages is not None else frozenset()


class Relay:
    """Messages to one listener, in order; those that come before there is a listener wait for it."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock  # the link's own: its state and what it delivers change together
        self._listener: Callable[[EngineEvent], None] | None = None
        self._waiting: list[EngineEvent] = []

    def listen(self, listener: Callable[[EngineEvent], None]) -> None:
        with self._lock:
            self._listener = listener
            waiting, self._waiting = self._waiting, []
            for message in waiting:
                listener(message)

    def deliver(self, message: EngineEvent) -> None:
        with self._lock:
            if self._listener is None:
                self._waiting.append(message)
            else:
                self._listener(message)


class LocalLink:
    """An EngineLink to an engine in this process, served by an EngineHost in a daemon thread.

    The app's scripted test engines run this way; the real engine runs in a process of its own
    (engine.worker_link.WorkerLink), which is what lets it be detached.
    """

    can_detach = False

    def __init__(
        self, engine: PipelineEngine, *, versions: dict[str, str] | None = None, summary: str = ""
    ) -> None:
        self._lock = threading.RLock()
        self._relay = Relay(self._lock)
        self._host = EngineHost(engine, self._deliver, versions=versions, summary=summary)
        self._state = self._host.state()
        threading.Thread(target=self._host.serve, name="pqat-engine", daemon=True).start()

    @property
    def state(self) -> WorkerState:
        return self._state

    def listen(self, listener: Callable[[EngineEvent], None]) -> None:
        self._relay.listen(listener)

    def _deliver(self, message: EngineEvent) -> None:
        with self._lock:
            if isinstance(message, WorkerState):
                self._state = message
            self._relay.deliver(message)

    def run_stage(self, stage: Stage) -> None:
        self._refused("run", self._host.run_stage(stage))

    def run_all(self) -> None:
        self._refused("run_all", self._host.run_all())

    def cancel(self) -> None:
        self._host.cancel()

    def reconfigure(self, config: PipelineConfig) -> set[Stage]:
        return self._host.reconfigure(config)

    def take_control(self) -> None:
        """A lone viewer always drives."""

    def tflite_model(self, name: str) -> bytes | None:
        read = getattr(self._host.engine, "tflite_model", None)
        return read(name) if read is not None else None

    def close(self, *, stop: bool = True) -> None:
        if stop:
            self._host.cancel()
        self._host.close()

    def _refused(self, command: str, reason: str | None) -> None:
        if reason is not None:
            self._deliver(Refused(command, reason))
