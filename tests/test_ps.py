"""`pqat-tui ps`, `attach` and `run --detach` from the command line, over run folders (no TensorFlow)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_worker import fake_worker_command

import engine.worker_link
from engine.events import StageStarted
from engine.live import WorkerInfo, list_runs, read_preview, run_status, write_worker_info
from engine.run_store import (
    DONE,
    FAILED,
    RUNNING,
    EventLog,
    Manifest,
    RunFolder,
    StageRecord,
)
from engine.stages import Stage
from pqat_tui.cli import main
from pqat_tui.ps_command import ps_table


def make_run(folder: Path, statuses: dict[Stage, str], created: str = "2026-11-20T10:00:00Z") -> Path:
    records = {
        stage.value: StageRecord(status, "f", error="boom: it broke" if status == FAILED else None)
        for stage, status in statuses.items()
    }
    with RunFolder.open(folder) as run:
        run.write_manifest(Manifest(created=created, stages=records))
        run.events.append(StageStarted(next(iter(statuses)), epochs=2))
    return folder


def all_stages(status: str = DONE) -> dict[Stage, str]:
    return {stage: status for stage in Stage}


def test_each_state_of_a_run_folder(tmp_path: Path) -> None:
    finished = make_run(tmp_path / "finished", all_stages())
    failed = make_run(tmp_path / "failed", {Stage.DATA: DONE, Stage.BASELINE: FAILED})
    stale = make_run(tmp_path / "stale", {Stage.DATA: DONE, Stage.BASELINE: RUNNING})
    stopped = make_run(tmp_path / "stopped", {Stage.DATA: DONE})
    assert run_status(finished).state == "finished" and run_status(finished).detail == "8/8 stages"
    assert run_status(failed).state == "failed" and run_status(failed).detail == "Baseline: boom: it broke"
    assert run_status(stale).state == "stale" and "Baseline was running" in run_status(stale).detail
    assert run_status(stopped).state == "stopped" and run_status(stopped).detail == "1/8 stages done"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    assert run_status(tmp_path / "bad").state == "unreadable"


def test_a_run_with_a_live_engine_process_is_running_with_its_progress(tmp_path: Path) -> None:
    run = make_run(tmp_path / "live", {Stage.DATA: DONE, Stage.BASELINE: RUNNING})
    info = WorkerInfo(os.getpid(), socket.gethostname(), "/nowhere.sock", "2026-11-20T10:00:01Z")
    progress = {"stage": "baseline", "epoch": 2, "epochs": 10, "batch": 45, "batches": 90}
    write_worker_info(run, dataclasses.replace(info, **progress))
    status = run_status(run)
    assert status.state == "running" and status.pid == os.getpid()
    assert status.detail == "Baseline 2/10 50% · 0 viewers"
    data = status.to_json()
    assert data["progress"] == {"epoch": 2, "epochs": 10, "batch": 45, "batches": 90}
    assert data["stage"] == "baseline"
    # A dead process's worker.json is not a live run: the manifest decides.
    write_worker_info(run, dataclasses.replace(info, pid=2**22 + 12345))
    assert run_status(run).state == "stale"


def test_ps_lists_the_runs_as_a_table_and_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "runs" / "b", {Stage.DATA: DONE}, created="2026-11-21T10:00:00Z")
    make_run(tmp_path / "runs" / "a", all_stages(), created="2026-11-20T10:00:00Z")
    assert main(["ps"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RUN", "STATE", "PID", "STARTED", "LAST", "EVENT", "DETAIL"]
    assert lines[1].split()[:2] == ["runs/a", "finished"] and lines[2].split()[:2] == ["runs/b", "stopped"]
    assert "Data started" in lines[2]
    assert main(["ps", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(entry["folder"], entry["state"], entry["stages_done"]) for entry in listed] == [
        ("runs/a", "finished", 8),
        ("runs/b", "stopped", 1),
    ]
    assert listed[0]["last_event"]["event"] == "StageStarted"
    assert main(["ps", "runs/b"]) == 0  # one run folder
    assert "runs/b" in capsys.readouterr().out


def test_ps_with_no_runs_says_so_and_a_missing_folder_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["ps"]) == 0
    assert capsys.readouterr().out == "No runs in runs/.\n"
    assert main(["ps", "nowhere"]) == 2
    assert capsys.readouterr().err == "pqat-tui: error: nowhere: no such folder\n"


def test_a_long_table_is_cut_to_the_terminal_width() -> None:
    statuses = list_runs(Path("nowhere"))
    assert ps_table(statuses) == ps_table([])
    folder = Path("runs/" + "x" * 200)
    table = ps_table([run_status(folder)], width=60)
    assert all(len(line) <= 60 for line in table.splitlines())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["attach"], "no run to resume under runs/"),
        (["attach", "not-a-run"], "not-a-run: not a pqat-tui run folder"),
        (["run", "--detach", "--json", "r.json"], "--detach with --json"),
    ],
)
def test_attach_and_detach_refuse_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-run").mkdir()
    monkeypatch.setitem(sys.modules, "pqat_tui.app_command", None)  # the app must not open
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pqat-tui: error: ") and err.count("\n") == 1 and expected in err


def test_run_detach_returns_at_once_and_the_run_goes_on_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine.worker_link, "WORKER_COMMAND", fake_worker_command(batch_s=0.01))
    assert main(["run", "--detach", "--data", "sample", "--run-dir", "runs/bg"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Running in the background (engine process ") and "pqat-tui attach runs/bg" in out
    deadline = time.monotonic() + 30
    while run_status(Path("runs/bg")).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_status(Path("runs/bg")).state == "finished"
    preview = read_preview(Path("runs/bg"))
    assert preview is not None and preview.done == frozenset(Stage)
    # The same folder again: its engine process has gone, the run is resumed (and has nothing left to do).
    assert main(["run", "--detach", "--run-dir", "runs/bg"]) == 0


def test_the_engine_process_ignores_the_terminal_hang_up(tmp_path: Path) -> None:
    """It runs in a session of its own: no controlling terminal, and SIGHUP ignored besides."""
    options = engine.worker_link.WorkerOptions(command=fake_worker_command(hold=(Stage.BASELINE,)))
    link = engine.worker_link.WorkerLink.open(tmp_path / "run", options)
    try:
        pid = link.state.pid
        assert os.getsid(pid) == pid  # the leader of its own session
        os.kill(pid, 1)  # SIGHUP
        time.sleep(0.3)
        assert link.process is not None and link.process.poll() is None
    finally:
        link.close(stop=True)
        assert link.process is not None
        link.process.wait(10)


def test_events_log_is_what_ps_reads_last(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", {Stage.DATA: DONE})
    EventLog(run / "events.jsonl").append(StageStarted(Stage.PRUNE, epochs=3))
    status = run_status(run)
    assert status.last_event is not None and status.last_event["stage"] == "prune"
    done = subprocess.run(
        [sys.executable, "-m", "pqat_tui", "ps", str(run)], capture_output=True, text=True, cwd=tmp_path
    )
    assert "Prune started" in done.stdout
