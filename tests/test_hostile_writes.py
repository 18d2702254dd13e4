"""#8 items 1 and 4: a write that fails is a failed stage with its cause in words, never a dead thread.

Every write of the engine goes through engine.writes.open_for_write: the tests refuse writes there (as a
full, read-only or failing disk would), and where this machine allows mounting, on a real small tmpfs too.
The scripted engine (tests/scripted_pipeline.py) is the real PipelineSession and StoredSession with only
TensorFlow's computing replaced, so saving, failing, undoing and resuming are the code users run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hostile import assert_one_line_error, fail_writes, named, remount_read_only, snapshot, tmpfs
from scripted_pipeline import script_the_engine
from test_app import log_text, wait_for

from engine.config import PipelineConfig
from engine.events import EngineEvent, StageFailed, StageFinished
from engine.run_store import RunFolder
from engine.stages import Stage
from engine.stored_session import open_run
from engine.writes import WriteError
from pqat_tui.app import PqatApp
from pqat_tui.cli import main
from pqat_tui.engine_loader import LoadedEngine
from pqat_tui.steps import Step, StepState

ROOT = Path(__file__).resolve().parent.parent
CONFIG = PipelineConfig(data="sample")
CAUSES = [
    (errno.ENOSPC, "no space left on the device"),
    (errno.EACCES, "permission denied"),
    (errno.EROFS, "read-only file system"),
    (errno.EIO, "input/output error"),
]


def _run(session: object, stage: Stage) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    session.run_stage(stage, events.append, threading.Event())  # type: ignore[attr-defined]
    return events


def _statuses(run: Path) -> dict[str, str]:
    manifest = RunFolder(run).read_manifest()
    assert manifest is not None
    return {name: record.status for name, record in manifest.stages.items()}


def _claims_only_whole_files(run: Path) -> None:
    """The manifest's promise: every stage it has as done has its files there, with their recorded hashes."""
    folder = RunFolder(run)
    manifest = folder.read_manifest()
    assert manifest is not None
    for record in manifest.stages.values():
        if record.status == "done":
            assert folder.artifacts_intact(record), record


# --- the engine ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "words"), CAUSES)
def test_a_write_fault_fails_the_stage_with_its_cause_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    run = tmp_path / "run"
    session = open_run(CONFIG, run)
    try:
        fail_writes(monkeypatch, code, named("results.json"))
        events = _run(session, Stage.DATA)
    finally:
        session.close()
    failed = events[-1]
    assert isinstance(failed, StageFailed) and failed.stage is Stage.DATA
    assert failed.error == f"not saved: {run / 'results.json'}: cannot write: {words}"
    assert session.done_stages() == set()  # the commit was undone: nothing claims Data is done
    assert session.results.failures == {"data": failed.error}
    assert _statuses(run) == {"data": "failed"}


def test_a_rerun_that_cannot_be_saved_keeps_the_earlier_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    session = open_run(CONFIG, run)
    try:
        assert isinstance(_run(session, Stage.DATA)[-1], StageFinished)
        before = snapshot(run, leave_out=("run.lock", "events.jsonl"))
        dataset = session.session.dataset
        fail_writes(monkeypatch, errno.ENOSPC, named("results.json"))
        assert isinstance(_run(session, Stage.DATA)[-1], StageFailed)
        assert session.done_stages() == {Stage.DATA} and session.session.dataset is dataset
    finally:
        session.close()
    assert snapshot(run, leave_out=("run.lock", "events.jsonl")) == before
    assert _statuses(run) == {"data": "done"}


@pytest.mark.parametrize("name", ["run.lock", "config.toml", "manifest.json", "results.json"])
def test_every_file_of_a_new_run_goes_through_the_one_write_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    fault = fail_writes(monkeypatch, errno.EROFS, named(name))
    with pytest.raises(WriteError, match=f"{name}: cannot write: read-only file system$"):
        open_run(CONFIG, tmp_path / "run")
    assert fault.refused
    assert not (tmp_path / "run" / "run.lock").exists()  # the lock is never left behind


def test_an_event_log_that_cannot_be_written_fails_the_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = open_run(CONFIG, tmp_path / "run")
    try:
        fail_writes(monkeypatch, errno.EIO, named("events.jsonl"))
        failed = _run(session, Stage.DATA)[-1]
    finally:
        session.close()
    assert isinstance(failed, StageFailed)
    assert failed.error.endswith("events.jsonl: cannot write: input/output error")
    assert session.done_stages() == set()


# --- `pqat-tui run` ------------------------------------------------------------------------------------


def test_a_full_disk_mid_run_fails_that_stage_exits_1_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script_the_engine(monkeypatch)
    run = tmp_path / "run"
    fault = fail_writes(monkeypatch, errno.ENOSPC, named("qat.h5"))
    assert main(["run", "--data", "sample", "--run-dir", str(run)]) == 1
    out, err = capsys.readouterr()
    assert_one_line_error(
        err, "QAT failed: not saved:", str(run / "models" / "qat.h5"), "no space left on the device"
    )
    assert "✗ QAT" in out
    assert _statuses(run) == {
        "data": "done",
        "baseline": "done",
        "prune": "done",
        "qat": "failed",
        "pqat": "done",
        "ptq": "done",
    }
    assert not (run / "models" / "qat.h5").exists()  # a file no record names is not left to fill the disk
    _claims_only_whole_files(run)
    finished = snapshot(run)

    fault.active = False  # space again: the finished stages are kept, the rest runs
    assert main(["run", "--resume", str(run)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("kept: its inputs are unchanged") == 5  # Data, Baseline, Prune, PQAT, PTQ
    assert set(_statuses(run).values()) == {"done"}
    for name in ("models/baseline.keras", "models/pruned.keras", "models/pqat.h5", "models/ptq.tflite"):
        assert snapshot(run)[name] == finished[name]


def test_a_disk_full_from_the_start_refuses_the_run_and_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    fail_writes(monkeypatch, errno.ENOSPC, lambda path: True)
    assert main(["run", "--data", "sample"]) == 2
    assert_one_line_error(capsys.readouterr().err, "cannot write: no space left on the device")
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_data_stage_that_cannot_be_saved_exits_2_and_leaves_no_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    fail_writes(monkeypatch, errno.ENOSPC, named("events.jsonl"))
    assert main(["run", "--data", "sample"]) == 2
    assert_one_line_error(capsys.readouterr().err, "events.jsonl: cannot write: no space left on the device")
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_json_file_that_cannot_be_written_is_one_line_and_the_run_folder_keeps_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script_the_engine(monkeypatch)
    run, target = tmp_path / "run", tmp_path / "r.json"
    fail_writes(monkeypatch, errno.ENOSPC, named("r.json"))
    assert main(["run", "--data", "sample", "--run-dir", str(run), "--json", str(target)]) == 2
    assert_one_line_error(
        capsys.readouterr().err, f"--json {target}: cannot write: no space left on the device"
    )
    assert not target.exists()
    results = RunFolder(run).read_results()
    assert results is not None and results.models["pqat"].tflite is not None


def test_a_report_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script_the_engine(monkeypatch)
    report = tmp_path / "report"
    fail_writes(monkeypatch, errno.EROFS, lambda path: path.parent == report)
    assert main(["run", "--data", "sample", "--run-dir", str(tmp_path / "run"), "--report", str(report)]) == 2
    assert_one_line_error(
        capsys.readouterr().err, f"cannot write report into {report}: read-only file system"
    )
    assert list(report.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "words"), [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")]
)
def test_resuming_in_an_unwritable_folder_is_one_line_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, words: str
) -> None:
    run = tmp_path / "run"
    with contextlib.closing(open_run(CONFIG, run)) as session:
        _run(session, Stage.DATA)
    before = snapshot(run)
    fail_writes(monkeypatch, code, lambda path: True)
    assert main(["run", "--resume", str(run)]) == 2
    assert_one_line_error(capsys.readouterr().err, f"{run / 'run.lock'}: cannot write: {words}")
    assert snapshot(run) == before


def test_the_app_in_an_unwritable_run_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pqat_tui.app_command import app_command

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    fail_writes(monkeypatch, errno.EROFS, lambda path: True)
    assert app_command(CONFIG, tmp_path) == 2
    assert_one_line_error(capsys.readouterr().err, "tensorflow.log: cannot write: read-only file system")


# --- the app ------------------------------------------------------------------------------------------


async def test_the_app_shows_a_stage_that_could_not_be_saved_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script_the_engine(monkeypatch)
    session = open_run(CONFIG, tmp_path / "run")
    fail_writes(monkeypatch, errno.ENOSPC, named("pruned.keras"))
    app = PqatApp(CONFIG, lambda config: LoadedEngine(session, {}, session.summary()))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.engine is not None)
            await pilot.press("a")
            await wait_for(pilot, lambda: not app.busy and app.board.state(Step.PRUNE) is StepState.FAILED)
            assert app.board.state(Step.BASELINE) is StepState.DONE
            assert "no space left on the device" in app.errors[Stage.PRUNE]
            assert "Prune failed: not saved:" in log_text(app)
            assert app.is_running  # the app stays up; the worker did not die
    finally:
        session.close()
    assert _statuses(tmp_path / "run") == {"data": "done", "baseline": "done", "prune": "failed"}


# --- a real full disk ----------------------------------------------------------------------------------


def test_a_real_full_tmpfs_fails_a_stage_and_resume_finishes_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Model files of 100 KB on a 320 KB disk: somewhere after the third the disk is full.
    script_the_engine(monkeypatch, model_size=100_000)
    with tmpfs(tmp_path / "disk", "320k") as disk:
        run = disk / "run"
        assert main(["run", "--data", "sample", "--run-dir", str(run)]) == 1
        out, err = capsys.readouterr()
        assert_one_line_error(err, "no space left on the device", str(disk))
        assert "failed" in _statuses(run).values()
        _claims_only_whole_files(run)
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        assert main(["run", "--resume", str(run)]) == 0
        capsys.readouterr()
        assert set(_statuses(run).values()) == {"done"}
        _claims_only_whole_files(run)


def test_a_real_read_only_tmpfs_refuses_a_resume_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        run = disk / "run"
        with contextlib.closing(open_run(CONFIG, run)) as session:
            _run(session, Stage.DATA)
        before = snapshot(run)
        remount_read_only(disk)
        assert main(["run", "--resume", str(run)]) == 2
        assert_one_line_error(capsys.readouterr().err, "run.lock: cannot write: read-only file system")
        assert snapshot(run) == before


@pytest.mark.slow
def test_real_pipeline_on_a_real_full_tmpfs_exits_non_zero_naming_the_cause(tmp_path: Path) -> None:
    """The issue's case, as a user meets it: `pqat-tui run` on a disk that fills up (TensorFlow, ~30 s)."""
    with tmpfs(tmp_path / "disk", "512k") as disk:
        run = disk / "run"
        finished = subprocess.run(
            [sys.executable, "-m", "pqat_tui", "run", "--data", "sample", "--run-dir", str(run),
             "--epochs", "1", "--prune-epochs", "1", "--set", "baseline.batch_size=128"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert finished.returncode == 1, finished.stdout[-2000:]
        assert_one_line_error(finished.stderr, "no space left on the device")
        statuses = _statuses(run)
        assert statuses["data"] == statuses["baseline"] == "done" and "failed" in statuses.values()
        _claims_only_whole_files(run)
        json.loads((run / "results.json").read_text())  # whole, never half-written


def test_an_event_log_replaced_by_a_fifo_fails_the_stage_instead_of_hanging(tmp_path: Path) -> None:
    run = tmp_path / "run"
    session = open_run(CONFIG, run)
    try:
        os.mkfifo(run / "events.jsonl")  # nobody reads it: a blocking open would wait forever
        failed = _run(session, Stage.DATA)[-1]
    finally:
        session.close()
    assert isinstance(failed, StageFailed)
    assert failed.error.endswith("events.jsonl: cannot write: it is a named pipe (FIFO) no process reads")


@pytest.mark.parametrize("prefix", ["pqat-tui-model-", "pqat-tui-run-"])
def test_a_full_temporary_folder_is_one_line_and_leaves_no_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    """TensorFlow's log goes to a temporary folder: a full /tmp stops the command before any stage."""
    import tempfile

    real = tempfile.mkdtemp

    def mkdtemp(*args: object, **kwargs: object) -> str:
        if kwargs.get("prefix") == prefix:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    assert main(["run", "--data", "sample"]) == 2
    assert_one_line_error(
        capsys.readouterr().err, f"{tempfile.gettempdir()}: cannot write: no space left on the"
    )
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []
