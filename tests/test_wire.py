"""The engine process's protocol: every event and message round-trips through the schema of events.jsonl."""

from __future__ import annotations

import json
import math

import pytest
from fake_engine import stage_output

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
from engine.results import EpochMetrics, RunResults
from engine.run_store import event_from_json, event_json
from engine.stages import Stage
from engine.wire import (
    Command,
    History,
    Interrupted,
    ProtocolError,
    Reconfigured,
    Refused,
    WorkerState,
    decode_command,
    decode_message,
    encode_command,
    encode_message,
)


def full_results() -> RunResults:
    results = RunResults(config={"data": "sample"}, versions={"tensorflow": "2.21.0"})
    history = (EpochMetrics(1, {"loss": 0.5, "accuracy": 0.9}),)
    for stage in Stage:
        results = stage_output(stage, results, history)
    return results


EVENTS: list[EngineEvent] = [
    StageStarted(Stage.BASELINE, epochs=3),
    StageStarted(Stage.CONVERT),
    BatchProgress(Stage.PRUNE, 1, 3, 17, 422, {"loss": 0.25, "accuracy": 0.875}),
    EpochEnded(Stage.QAT, 1, 1, {"loss": 0.1, "accuracy": 0.9, "val_loss": 0.2, "val_accuracy": 0.95}),
    LogMessage("Loading TensorFlow…", stage=Stage.BASELINE),
    LogMessage("a note with no stage", level="warning"),
    StageFinished(Stage.PTQ, 3.25, full_results()),
    StageFailed(Stage.QAT, 1.5, "QAT diverged: loss is NaN"),
    StageCancelled(Stage.PQAT, 0.75),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_its_json_line(event: EngineEvent) -> None:
    line = json.dumps(event_json(event))
    assert event_from_json(json.loads(line)) == event
    assert decode_message(encode_message(event)) == event


def test_event_json_names_the_event_and_the_time() -> None:
    data = event_json(StageStarted(Stage.PRUNE, epochs=3))
    assert data["event"] == "StageStarted" and data["stage"] == "prune" and data["epochs"] == 3
    assert data["time"].endswith("Z")


def test_a_logged_stage_finished_reads_back_with_empty_results() -> None:
    data = event_json(StageFinished(Stage.DATA, 0.5, full_results()))
    del data["results"]  # as events.jsonl keeps it
    assert event_from_json(data) == StageFinished(Stage.DATA, 0.5, RunResults())


def test_nan_metrics_survive() -> None:
    event = decode_message(encode_message(EpochEnded(Stage.QAT, 1, 1, {"loss": math.nan})))
    assert isinstance(event, EpochEnded) and math.isnan(event.metrics["loss"])


@pytest.mark.parametrize(
    "message",
    [
        WorkerState(
            results=full_results(),
            done=frozenset({Stage.DATA, Stage.BASELINE}),
            stale=frozenset({Stage.PRUNE}),
            running=Stage.QAT,
            run_all=True,
            versions={"tensorflow": "2.21.0"},
            summary="Resumed runs/x: kept Data, Baseline",
            pid=4242,
            run_dir="runs/x",
            driver=False,
            viewers=2,
            detached=True,
            interrupted=Interrupted(Stage.QAT, "failed", "the engine process was killed by SIGKILL"),
        ),
        WorkerState(results=RunResults()),
        History((StageStarted(Stage.DATA), LogMessage("hello"), BatchProgress(Stage.BASELINE, 1, 1, 2, 3))),
        Refused("run", "Watching: another viewer drives this run; t takes control."),
        Reconfigured(frozenset({Stage.PRUNE, Stage.QAT})),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_protocol_message_round_trips(message: EngineEvent) -> None:
    assert decode_message(encode_message(message)) == message


@pytest.mark.parametrize(
    "command",
    [
        Command("run", Stage.PRUNE),
        Command("run_all"),
        Command("cancel"),
        Command("reconfigure", config={"data": "sample", "prune": {"sparsity": 0.7}}),
        Command("take_control"),
        Command("detach"),
        Command("shutdown"),
    ],
    ids=lambda c: c.name,
)
def test_every_command_round_trips(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


@pytest.mark.parametrize(
    "line",
    [b"not json\n", b"[1, 2]\n", b'{"event": "Nonsense"}\n', b'{"event": "StageStarted"}\n'],
)
def test_a_line_that_is_no_message_is_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_message(line)


@pytest.mark.parametrize(
    "line",
    [b'{"command": "format_disk"}', b'{"command": "run"}', b'{"command": "reconfigure"}', b"{}", b"x"],
)
def test_a_line_that_is_no_command_is_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_command(line)


def test_recipe_stages_cross_the_wire_by_name() -> None:
    from engine.stages import stage_key

    cqat = stage_key("cqat")
    state = WorkerState(
        results=RunResults(), done=frozenset({Stage.DATA, cqat}), running=stage_key("cluster"), run_all=True
    )
    back = decode_message(encode_message(state))
    assert back == state
    assert back.running.title == "Cluster"  # type: ignore[union-attr]
    assert decode_command(encode_command(Command("run", cqat))) == Command("run", cqat)
    with pytest.raises(ProtocolError):
        decode_command(b'{"command": "run", "stage": "../x"}')
