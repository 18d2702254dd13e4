"""PipelineSession behaviour that needs no TensorFlow: missing inputs, stop before start, stderr redirect."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from engine.config import PipelineConfig
from engine.events import EngineEvent, StageCancelled, StageFailed, StageFinished, StageStarted
from engine.pipeline import PipelineSession
from engine.stages import Stage
from engine.tf_runtime import redirect_native_stderr


def test_stage_with_missing_inputs_fails_naming_them() -> None:
    session = PipelineSession(PipelineConfig(data="sample"))
    events: list[EngineEvent] = []
    session.run_stage(Stage.CONVERT, events.append, threading.Event())
    assert isinstance(events[0], StageStarted)
    assert isinstance(events[-1], StageFailed)
    assert events[-1].error == "needs the output of QAT, PQAT: run them first"
    assert session.results.failures == {"convert": events[-1].error}
    events.clear()
    session.run_stage(Stage.PRUNE, events.append, threading.Event())
    assert isinstance(events[-1], StageFailed) and "Baseline" in events[-1].error


def test_session_results_carry_config_and_versions() -> None:
    config = PipelineConfig(data="sample", seed=7)
    results = PipelineSession(config).results
    assert results.config == config.to_dict()
    assert {"python", "tensorflow", "tf_keras", "tfmot", "litert", "platform"} <= set(results.versions)


def test_data_stage_and_stop_before_start() -> None:
    session = PipelineSession(PipelineConfig(data="sample"))
    stop = threading.Event()
    stop.set()
    events: list[EngineEvent] = []
    session.run_stage(Stage.DATA, events.append, stop)
    assert isinstance(events[-1], StageCancelled)
    assert session.done_stages() == set() and session.results.dataset is None
    events.clear()
    session.run_stage(Stage.DATA, events.append, threading.Event())
    assert isinstance(events[-1], StageFinished)
    assert events[-1].results.dataset is not None and events[-1].results.dataset.train == 4000
    assert session.done_stages() == {Stage.DATA}


def test_bad_data_fails_the_data_stage_with_the_message(tmp_path: Path) -> None:
    session = PipelineSession(PipelineConfig(data=str(tmp_path / "nothing.npz")))
    events: list[EngineEvent] = []
    session.run_stage(Stage.DATA, events.append, threading.Event())
    assert isinstance(events[-1], StageFailed)
    assert events[-1].error == f"{tmp_path / 'nothing.npz'}: no such file"


def test_redirect_native_stderr_captures_descriptor_2(tmp_path: Path) -> None:
    log = tmp_path / "native.log"
    before = os.fstat(2)
    with redirect_native_stderr(log):
        os.write(2, b"from C++\n")
    assert log.read_bytes() == b"from C++\n"
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
