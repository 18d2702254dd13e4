"""`pqat-tui run` with a scripted session: a failed stage skips its downstream, Ctrl-C exits 130."""

from __future__ import annotations

import _thread
import threading
from pathlib import Path

import pytest

import engine.pipeline
import engine.stored_session
from engine.config import PipelineConfig
from engine.events import BatchProgress, EpochEnded, StageCancelled, StageFailed, StageFinished, StageStarted
from engine.protocol import Emit
from engine.results import ModelResult, RunResults
from engine.stages import MODEL_OF_STAGE, Stage
from pqat_tui.cli import main


class FakeSession:
    """Each stage runs two quick epochs, then finishes, fails (`failing`) or waits for Ctrl-C (`hanging`)."""

    failing: frozenset[Stage] = frozenset()
    hanging: Stage | None = None
    stages_run: list[Stage] = []

    def __init__(self, config: PipelineConfig) -> None:
        self._results = RunResults(config=config.to_dict())

    @property
    def results(self) -> RunResults:
        return self._results

    # What `run` asks of the run folder's session (engine.stored_session.StoredSession): nothing kept.
    def done_stages(self) -> set[Stage]:
        return set()

    def summary(self) -> str:
        return "New run (fake)"

    def close(self) -> None:
        pass

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        type(self).stages_run.append(stage)
        emit(StageStarted(stage, epochs=2))
        for epoch in (1, 2):
            emit(BatchProgress(stage, epoch, 2, 10, 10, {"loss": 0.5}))
            emit(EpochEnded(stage, epoch, 2, {"loss": 0.5, "accuracy": 0.9}))
        if stage is self.hanging:
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
            assert stop.wait(10), "the headless command never set the stop event"
            emit(StageCancelled(stage, 0.2))
            return
        if stage in self.failing:
            self._results = RunResults(
                config=self._results.config,
                models=self._results.models,
                failures={**self._results.failures, stage.value: "boom: it broke"},
            )
            emit(StageFailed(stage, 0.1, "boom: it broke"))
            return
        if stage in MODEL_OF_STAGE:
            self._results = self._results.with_model(MODEL_OF_STAGE[stage], ModelResult(keras_accuracy=0.9))
        emit(StageFinished(stage, 0.1, self._results))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeSession]:
    monkeypatch.setattr(engine.pipeline, "PipelineSession", FakeSession)
    monkeypatch.setattr(engine.stored_session, "open_run", lambda config, _dir, **_: FakeSession(config))
    monkeypatch.setattr(FakeSession, "stages_run", [])
    return FakeSession


def test_all_stages_run_in_order_and_exit_0(fake: type[FakeSession], capsys, tmp_path: Path) -> None:
    assert main(["run", "--data", "sample", "--json", str(tmp_path / "r.json")]) == 0
    assert fake.stages_run == list(Stage)
    out = capsys.readouterr().out
    assert "✓ Baseline" in out and "Accuracy on the test set" in out
    assert RunResults.read_json(tmp_path / "r.json").models["baseline"].keras_accuracy == 0.9


def test_failed_stage_skips_its_downstream_and_exits_1(
    fake: type[FakeSession], monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    monkeypatch.setattr(FakeSession, "failing", frozenset({Stage.QAT}))
    assert main(["run", "--data", "sample", "--json", str(tmp_path / "r.json")]) == 1
    # PQAT and PTQ do not read QAT: they still run. Convert needs QAT; Evaluate needs Convert.
    assert fake.stages_run == [Stage.DATA, Stage.BASELINE, Stage.PRUNE, Stage.QAT, Stage.PQAT, Stage.PTQ]
    out = capsys.readouterr().out
    assert "✗ QAT" in out and "boom: it broke" in out
    assert "Skipped because an input failed: Convert, Evaluate" in out
    assert "TensorFlow's log and the tracebacks are in" in out
    assert RunResults.read_json(tmp_path / "r.json").failures == {"qat": "boom: it broke"}


def test_ctrl_c_stops_the_stage_and_exits_130(
    fake: type[FakeSession], monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    monkeypatch.setattr(FakeSession, "hanging", Stage.PRUNE)
    assert main(["run", "--data", "sample", "--json", str(tmp_path / "r.json")]) == 130
    assert fake.stages_run == [Stage.DATA, Stage.BASELINE, Stage.PRUNE]
    out = capsys.readouterr().out
    assert "Interrupted: Prune stopped and nothing of it was kept." in out
    assert not (tmp_path / "r.json").exists()


def test_unusable_json_path_stops_before_the_run(fake: type[FakeSession], capsys, tmp_path: Path) -> None:
    for path, fault in (
        (tmp_path / "missing" / "r.json", f"folder {tmp_path / 'missing'} does not exist"),
        (tmp_path, "is a folder; give a file name"),
    ):
        assert main(["run", "--data", "sample", "--json", str(path)]) == 2
        err = capsys.readouterr().err
        assert err == f"pqat-tui: error: --json {path}: {fault}\n"
    assert fake.stages_run == []
