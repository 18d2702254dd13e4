"""What an engine process and its viewers say to each other: one JSON object a line, over a Unix socket.

Engine → viewer: the engine's events in the schema of events.jsonl (engine.run_store.event_json), and a few
messages about the engine process itself: WorkerState, History, Refused and Reconfigured.
Viewer → engine: Commands.

No TensorFlow and no UI here: the app, `pqat-tui ps` and the engine process all read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.events import EngineEvent, StageCancelled, StageFailed, StageFinished
from engine.recipe import NAME_PATTERN, plain_name
from engine.results import RunResults
from engine.run_store import event_from_json, event_json
from engine.stages import STAGE_NAMES, Stage, StageName, stage_key

# The commands a viewer may send. Only the viewer that drives the run may send the first five.
RUN, RUN_ALL, CANCEL, RECONFIGURE, SHUTDOWN = "run", "run_all", "cancel", "reconfigure", "shutdown"
DETACH, TAKE_CONTROL = "detach", "take_control"
DRIVING_COMMANDS = frozenset({RUN, RUN_ALL, CANCEL, RECONFIGURE, SHUTDOWN})
COMMANDS = DRIVING_COMMANDS | {DETACH, TAKE_CONTROL}

FINAL_EVENTS = (StageFinished, StageFailed, StageCancelled)


@dataclass(frozen=True)
class Command:
    """`run` (stage), `run_all`, `cancel`, `reconfigure` (config), `take_control`, `detach` (leave it
    running), `shutdown` (stop the running stage; the viewer leaves)."""

    name: str
    stage: Stage | None = None
    config: dict[str, Any] | None = None  # PipelineConfig.to_dict(), for reconfigure


@dataclass(frozen=True)
class Interrupted:
    """A stage the previous engine process of the run left mid-way: ended by a viewer's cancel, or died."""

    stage: Stage
    status: str  # "cancelled" or "failed"
    error: str | None = None


@dataclass(frozen=True)
class WorkerState(EngineEvent):
    """The engine process as one viewer sees it. Sent when the viewer connects, whenever it changes, and
    just before each stage's final event: a viewer reading done stages on that event reads the new ones."""

    results: RunResults
    done: frozenset[Stage] = frozenset()
    stale: frozenset[Stage] = frozenset()
    running: Stage | None = None  # the stage running, or accepted and about to run
    run_all: bool = False  # after this stage, the next pending one runs
    versions: dict[str, str] = field(default_factory=dict)  # empty while TensorFlow loads
    summary: str = ""  # what opening the run folder found
    pid: int = 0
    run_dir: str = ""
    driver: bool = True  # whether this viewer drives the run (the others watch)
    viewers: int = 1
    detached: bool = False
    interrupted: Interrupted | None = None


@dataclass(frozen=True)
class History(EngineEvent):
    """The events of this engine process so far (batch progress: the latest only), sent on connecting."""

    events: tuple[EngineEvent, ...] = ()


@dataclass(frozen=True)
class Refused(EngineEvent):
    command: str
    reason: str  # one line a person can act on


@dataclass(frozen=True)
class Reconfigured(EngineEvent):
    """The answer to `reconfigure`: the done stages the new config made stale."""

    stale: frozenset[Stage] = frozenset()


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


def _stages(stages: Iterable[Stage]) -> list[str]:
    chosen = {plain_name(s) for s in stages}
    # pqat's stages in their order, then any other recipe stage by name.
    return [*(name for name in STAGE_NAMES if name in chosen), *sorted(chosen - set(STAGE_NAMES))]


def _stage(value: Any) -> Stage | StageName:
    """A stage named on the wire: a recipe stage's plain name (engine.recipe.NAME_PATTERN), or ValueError."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a stage name")
    return stage_key(value)


def _stage_set(values: Iterable[str]) -> frozenset[Stage | StageName]:
    return frozenset(_stage(value) for value in values)


def message_json(message: EngineEvent) -> dict[str, Any]:
    """A message as a JSON object: an engine event as events.jsonl has it, or one of the messages above."""
    if isinstance(message, WorkerState):
        interrupted = message.interrupted
        return {
            "event": "WorkerState",
            "results": message.results.to_json(),
            "done": _stages(message.done),
            "stale": _stages(message.stale),
            "running": message.running.value if message.running else None,
            "run_all": message.run_all,
            "versions": dict(message.versions),
            "summary": message.summary,
            "pid": message.pid,
            "run_dir": message.run_dir,
            "driver": message.driver,
            "viewers": message.viewers,
            "detached": message.detached,
            "interrupted": None
            if interrupted is None
            else {"stage": interrupted.stage.value, "status": interrupted.status, "error": interrupted.error},
        }
    if isinstance(message, History):
        return {"event": "History", "events": [event_json(event) for event in message.events]}
    if isinstance(message, Refused):
        return {"event": "Refused", "command": message.command, "reason": message.reason}
    if isinstance(message, Reconfigured):
        return {"event": "Reconfigured", "stale": _stages(message.stale)}
    return event_json(message)


def message_from_json(data: Mapping[str, Any]) -> EngineEvent:
    try:
        name = data.get("event")
        if name == "WorkerState":
            interrupted = data.get("interrupted")
            return WorkerState(
                results=RunResults.from_json(data["results"]),
                done=_stage_set(data.get("done") or ()),
                stale=_stage_set(data.get("stale") or ()),
                running=_stage(data["running"]) if data.get("running") else None,
                run_all=bool(data.get("run_all")),
                versions={str(k): str(v) for k, v in (data.get("versions") or {}).items()},
                summary=str(data.get("summary") or ""),
                pid=int(data.get("pid") or 0),
                run_dir=str(data.get("run_dir") or ""),
                driver=bool(data.get("driver")),
                viewers=int(data.get("viewers") or 0),
                detached=bool(data.get("detached")),
                interrupted=None
                if not interrupted
                else Interrupted(
                    _stage(interrupted["stage"]), str(interrupted["status"]), interrupted.get("error")
                ),
            )
        if name == "History":
            return History(tuple(event_from_json(event) for event in data.get("events") or ()))
        if name == "Refused":
            return Refused(str(data["command"]), str(data["reason"]))
        if name == "Reconfigured":
            return Reconfigured(_stage_set(data.get("stale") or ()))
        return event_from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ProtocolError(f"not a message: {error}") from None


def encode_message(message: EngineEvent) -> bytes:
    return (json.dumps(message_json(message), default=str) + "\n").encode("utf-8")


def decode_message(line: bytes) -> EngineEvent:
    try:
        data = json.loads(line)
    except ValueError as error:
        raise ProtocolError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ProtocolError("not a JSON object")
    return message_from_json(data)


def encode_command(command: Command) -> bytes:
    data: dict[str, Any] = {"command": command.name}
    if command.stage is not None:
        data["stage"] = command.stage.value
    if command.config is not None:
        data["config"] = command.config
    return (json.dumps(data) + "\n").encode("utf-8")


def decode_command(line: bytes) -> Command:
    try:
        data = json.loads(line)
        name = data["command"]
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r}")
        stage = _stage(data["stage"]) if data.get("stage") is not None else None
        if name == RUN and stage is None:
            raise ValueError("run needs a stage")
        config = data.get("config")
        if name == RECONFIGURE and not isinstance(config, dict):
            raise ValueError("reconfigure needs a config")
        return Command(name, stage, config)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ProtocolError(f"not a command: {error}") from None


def for_viewer(state: WorkerState, *, driver: bool, viewers: int) -> WorkerState:
    return replace(state, driver=driver, viewers=viewers)
