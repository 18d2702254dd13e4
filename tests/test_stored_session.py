"""StoredSession without TensorFlow: what a run folder gives back, what turns stale, and reconfiguring."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engine.config import PipelineConfig
from engine.config_file import with_setting
from engine.events import EngineEvent, StageFailed, StageFinished
from engine.results import DatasetInfo, ModelResult, RunResults
from engine.run_store import (
    DONE,
    Manifest,
    RunFolder,
    RunLockedError,
    StageRecord,
    data_digest,
    stage_fingerprints,
)
from engine.stages import Stage
from engine.stored_session import StoredSession, open_run

CONFIG = PipelineConfig(data="sample")
HELD = (Stage.DATA, Stage.BASELINE, Stage.PRUNE)


def _folder_with_a_finished_prune(path: Path) -> Path:
    """A run folder as a run that stopped after Prune leaves it (model files stand in as bytes)."""
    prints = stage_fingerprints(CONFIG, data_digest(CONFIG.data))
    results = RunResults(
        config=CONFIG.to_dict(),
        dataset=DatasetInfo("sample", 4000, 1000),
        models={"baseline": ModelResult(keras_accuracy=0.9), "pruned": ModelResult(keras_accuracy=0.89)},
        stage_seconds={"data": 0.1, "baseline": 5.0, "prune": 3.0},
    )
    with RunFolder.open(path) as folder:
        manifest = Manifest(created="2026-11-25T00:00:00Z")
        for stage in HELD:
            artifacts = {}
            if stage is Stage.BASELINE:
                artifacts["models/baseline.keras"] = folder.write_artifact("models/baseline.keras", b"b")
            if stage is Stage.PRUNE:
                artifacts["models/pruned.keras"] = folder.write_artifact("models/pruned.keras", b"p")
            manifest = manifest.with_record(stage, StageRecord(DONE, prints[stage], artifacts=artifacts))
        folder.write_manifest(manifest)
        folder.write_results(results)
    return path


def _statuses(path: Path) -> dict[str, str]:
    stages = json.loads((path / "manifest.json").read_text())["stages"]
    return {name: record["status"] for name, record in stages.items()}


def test_unchanged_stages_are_kept_without_loading_anything(tmp_path: Path) -> None:
    path = _folder_with_a_finished_prune(tmp_path / "run")
    session = open_run(CONFIG, path)
    try:
        assert session.done_stages() == set(HELD)
        assert session.stale_stages() == set()
        assert not any(session.session.has_outputs(stage) for stage in HELD)  # read lazily, when needed
        assert session.results.models["pruned"].keras_accuracy == 0.89
        assert session.summary() == f"Resumed {path}: kept Data, Baseline, Prune"
    finally:
        session.close()


def test_a_changed_setting_makes_its_stage_and_downstream_stale(tmp_path: Path) -> None:
    path = _folder_with_a_finished_prune(tmp_path / "run")
    with RunFolder.open(path) as folder:
        session = StoredSession(with_setting(CONFIG, "prune.sparsity", 0.8), folder)
        assert session.done_stages() == {Stage.DATA, Stage.BASELINE}
        assert session.stale_stages() == {Stage.PRUNE}
        assert "pruned" not in session.results.models
        assert _statuses(path)["prune"] == "stale"
        assert "changed since, to run again: Prune" in session.summary()


def test_a_damaged_model_file_makes_its_stage_stale(tmp_path: Path) -> None:
    path = _folder_with_a_finished_prune(tmp_path / "run")
    (path / "models/baseline.keras").write_bytes(b"truncated")
    with RunFolder.open(path) as folder:
        session = StoredSession(CONFIG, folder)
        assert session.done_stages() == {Stage.DATA}
        assert session.stale_stages() == {Stage.BASELINE, Stage.PRUNE}


def test_reconfigure_drops_only_what_the_change_touches(tmp_path: Path) -> None:
    path = _folder_with_a_finished_prune(tmp_path / "run")
    with RunFolder.open(path) as folder:
        session = StoredSession(CONFIG, folder)
        assert session.reconfigure(with_setting(CONFIG, "qat.epochs", 2)) == set()  # QAT has not run
        assert session.done_stages() == set(HELD)
        changed = session.reconfigure(with_setting(CONFIG, "prune.frequency", 10))
        assert changed == {Stage.PRUNE}
        assert session.done_stages() == {Stage.DATA, Stage.BASELINE}
        assert session.stale_stages() == {Stage.PRUNE}
        assert session.session.config.prune.frequency == 10
        assert "frequency = 10" in (path / "config.toml").read_text()
        assert _statuses(path) == {"data": "done", "baseline": "done", "prune": "stale"}
        # The seed also orders an image folder's files: the Data stage too.
        assert session.reconfigure(with_setting(CONFIG, "seed", 3)) == {Stage.DATA, Stage.BASELINE}
        assert session.done_stages() == set()


def test_a_stage_that_cannot_read_its_inputs_fails_cleanly(tmp_path: Path) -> None:
    path = _folder_with_a_finished_prune(tmp_path / "run")
    with RunFolder.open(path) as folder:
        session = StoredSession(CONFIG, folder)
        (path / "models/pruned.keras").unlink()  # gone after the folder was opened
        events: list[EngineEvent] = []
        session.run_stage(Stage.QAT, events.append, threading.Event())
        assert isinstance(events[-1], StageFailed)
        assert "could not load an earlier stage's output" in events[-1].error
        assert not any(isinstance(e, StageFinished) for e in events)


def test_the_data_stage_runs_and_is_recorded(tmp_path: Path) -> None:
    with RunFolder.open(tmp_path / "run") as folder:
        session = StoredSession(CONFIG, folder)
        events: list[EngineEvent] = []
        session.run_stage(Stage.DATA, events.append, threading.Event())
        assert isinstance(events[-1], StageFinished)
        assert events[-1].results.dataset is not None and events[-1].results.dataset.train == 4000
    assert _statuses(tmp_path / "run") == {"data": "done"}
    logged = [json.loads(line)["event"] for line in (tmp_path / "run/events.jsonl").read_text().splitlines()]
    assert logged[0] == "StageStarted" and logged[-1] == "StageFinished"


def test_open_run_refuses_a_folder_in_use(tmp_path: Path) -> None:
    first = open_run(CONFIG, tmp_path / "run")
    try:
        with pytest.raises(RunLockedError, match="in use by pid"):
            open_run(CONFIG, tmp_path / "run")
    finally:
        first.close()
    open_run(CONFIG, tmp_path / "run").close()
