"""`pqat-tui run --report DIR` with a scripted session: every format written, a failed run's too."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

import engine.pipeline
import engine.stored_session
from engine.config import PipelineConfig
from engine.events import StageFailed, StageFinished, StageStarted
from engine.protocol import Emit
from engine.results import RunResults
from engine.stages import Stage
from pqat_tui.cli import main
from pqat_tui.report.export import REPORT_FILES

FIXTURE = Path(__file__).parent / "data" / "sample_results.json"
QAT_ERROR = "ResourceExhaustedError: out of memory"


class ScriptedSession:
    """Stands in for PipelineSession: each stage finishes at once with the recorded results, or fails."""

    failing: frozenset[Stage] = frozenset()
    stages_run: list[Stage] = []

    def __init__(self, config: PipelineConfig) -> None:
        self._results = RunResults.read_json(FIXTURE)

    @property
    def results(self) -> RunResults:
        return self._results

    # What `run` asks of the run folder's session (engine.stored_session.StoredSession): nothing kept.
    def done_stages(self) -> set[Stage]:
        return set()

    def summary(self) -> str:
        return "New run (scripted)"

    def close(self) -> None:
        pass

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        type(self).stages_run.append(stage)
        emit(StageStarted(stage))
        if stage in self.failing:
            failures = {**self._results.failures, stage.value: QAT_ERROR}
            self._results = replace(self._results.without("qat", stages=(stage.value,)), failures=failures)
            emit(StageFailed(stage, 0.1, QAT_ERROR))
        else:
            emit(StageFinished(stage, 0.1, self._results))


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> type[ScriptedSession]:
    monkeypatch.setattr(engine.pipeline, "PipelineSession", ScriptedSession)
    monkeypatch.setattr(engine.stored_session, "open_run", lambda config, _dir, **_: ScriptedSession(config))
    monkeypatch.setattr(ScriptedSession, "stages_run", [])
    return ScriptedSession


def test_run_writes_the_report_in_every_format(tmp_path: Path, scripted: type[ScriptedSession]) -> None:
    folder = tmp_path / "reports" / "sample"
    assert main(["run", "--data", "sample", "--report", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(REPORT_FILES.values())
    assert "PQAT kept 50.0% sparsity, QAT kept 1.6%." in (folder / "report.md").read_text()


def test_failed_run_still_writes_its_report(
    tmp_path: Path, scripted: type[ScriptedSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ScriptedSession, "failing", frozenset({Stage.QAT}))
    folder = tmp_path / "report"
    assert main(["run", "--data", "sample", "--report", str(folder)]) == 1
    md = (folder / "report.md").read_text()
    assert f"| QAT | failed | — | {QAT_ERROR} |" in md
    assert "Partial run:" in md and "failed: QAT" in md
    assert RunResults.read_json(folder / "results.json").failures == {"qat": QAT_ERROR}


def test_unusable_report_folder_stops_before_the_run(
    tmp_path: Path, scripted: type[ScriptedSession], capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--data", "sample", "--report", str(blocker / "report")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pqat-tui: error: cannot create report folder") and err.count("\n") == 1
    assert scripted.stages_run == []
