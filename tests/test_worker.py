"""The engine process and its viewers, against a scripted fake worker (tests/fake_worker.py): no TensorFlow.

Commands and events, cancel (confirmed within a batch, or by ending a deaf process and starting a new
one), a process that dies, several viewers, detach and shutdown, and the run folder they leave.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_worker import fake_worker_command

from engine.config import PipelineConfig
from engine.events import (
    BatchProgress,
    EngineEvent,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
)
from engine.live import is_zombie, live_worker, read_worker_info, run_status, socket_path
from engine.run_store import LOCK_FILE, WORKER_FILE, RunFolder
from engine.stages import Stage
from engine.wire import FINAL_EVENTS, History, Refused, WorkerState
from engine.worker_link import RunLockedByOther, WorkerLink, WorkerOptions, WorkerStartError, spawn_worker

CONFIG = PipelineConfig(data="sample").with_overrides(epochs=2, prune_epochs=2)


class Inbox:
    """A listener that keeps every message and lets a test wait for one."""

    def __init__(self) -> None:
        self.messages: list[EngineEvent] = []
        self._changed = threading.Condition()

    def __call__(self, message: EngineEvent) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(self, wanted: Callable[[EngineEvent], bool], timeout: float = 15.0) -> EngineEvent:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((m for m in self.messages if wanted(m)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [type(m).__name__ for m in self.messages]
                    raise AssertionError(f"no such message; got {kinds}")
                self._changed.wait(left)

    def of(self, kind: type[EngineEvent]) -> list[EngineEvent]:
        with self._changed:
            return [m for m in self.messages if isinstance(m, kind)]


def ended(stage: Stage, kind: type[EngineEvent] = StageFinished) -> Callable[[EngineEvent], bool]:
    return lambda m: isinstance(m, kind) and m.stage is stage  # type: ignore[attr-defined]


def held(stage: Stage) -> Callable[[EngineEvent], bool]:
    """The fake engine holds a `hold` stage after its second batch, until cancelled."""
    return lambda m: isinstance(m, BatchProgress) and m.stage is stage and m.batch == 2


def engine_exited(link: WorkerLink, timeout: float = 10.0) -> bool:
    """Whether the engine process this link started has exited (and reaped it)."""
    assert link.process is not None
    try:
        link.process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def process_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether a process that is not our child has exited (a zombie waiting for its parent counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if is_zombie(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def open_link(tmp_path: Path) -> Iterator[Callable[..., tuple[WorkerLink, Inbox]]]:
    """Start (or join) the fake engine process of tmp_path/run; every link is closed (stop) at the end."""
    links: list[WorkerLink] = []

    def open_(run_dir: Path | None = None, **script: object) -> tuple[WorkerLink, Inbox]:
        options = WorkerOptions(config=CONFIG, command=fake_worker_command(**script))  # type: ignore[arg-type]
        link = WorkerLink.open(run_dir or tmp_path / "run", options)
        inbox = Inbox()
        link.listen(inbox)
        links.append(link)
        return link, inbox

    yield open_
    for link in links:
        link.close(stop=True)
    for link in links:
        if link.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                link.process.wait(5)


def test_run_all_runs_every_stage_and_sends_the_state_before_each_final_event(open_link) -> None:
    link, inbox = open_link()
    first = link.state
    assert first.driver and first.running is None and not first.done and first.pid != os.getpid()
    assert first.summary.startswith("Fake run in")
    link.run_all()
    inbox.wait_for(ended(Stage.PTQ))
    finals = [m for m in inbox.messages if isinstance(m, FINAL_EVENTS)]
    assert [m.stage for m in finals] == list(Stage)
    assert all(isinstance(m, StageFinished) for m in finals)
    for final in finals:
        before = inbox.messages[inbox.messages.index(final) - 1]
        assert isinstance(before, WorkerState) and final.stage in before.done
        # Run-all goes on: the next stage is already the running one when a stage's final event comes.
        following = list(Stage)[list(Stage).index(final.stage) + 1 :]
        assert before.running is (following[0] if following else None)
    assert isinstance(inbox.of(BatchProgress)[0], BatchProgress)
    assert link.state.done == frozenset(Stage)
    assert link.state.results.models["ptq"].tflite is not None


def test_a_stage_that_cannot_run_yet_fails_and_the_engine_goes_on(open_link) -> None:
    link, inbox = open_link()
    link.run_stage(Stage.CONVERT)
    failed = inbox.wait_for(ended(Stage.CONVERT, StageFailed))
    assert isinstance(failed, StageFailed)
    link.run_stage(Stage.DATA)
    inbox.wait_for(ended(Stage.DATA))


def test_a_second_command_while_a_stage_runs_is_refused(open_link) -> None:
    link, inbox = open_link(hold=(Stage.BASELINE,))
    link.run_all()
    inbox.wait_for(held(Stage.BASELINE))
    link.run_stage(Stage.DATA)
    refused = inbox.wait_for(lambda m: isinstance(m, Refused))
    assert isinstance(refused, Refused) and refused.reason == "Baseline is running; c cancels it."


def test_a_cancel_within_a_batch_keeps_the_engine_process(open_link) -> None:
    link, inbox = open_link(hold=(Stage.BASELINE,))
    pid = link.state.pid
    link.run_all()
    inbox.wait_for(held(Stage.BASELINE))
    link.cancel()
    inbox.wait_for(ended(Stage.BASELINE, StageCancelled))
    assert link.state.pid == pid  # confirmed by the engine: nothing was ended
    assert link.state.done == {Stage.DATA} and not link.state.run_all  # run-all stopped with it
    assert not any("ending the engine process" in m.text for m in inbox.of(LogMessage))  # type: ignore[attr-defined]


def test_a_deaf_stage_is_cancelled_by_replacing_the_engine_process(open_link, tmp_path: Path) -> None:
    link, inbox = open_link(stuck=(Stage.PRUNE,))
    old_pid = link.state.pid
    link.run_all()
    inbox.wait_for(lambda m: isinstance(m, StageStarted) and m.stage is Stage.PRUNE)
    asked = time.monotonic()
    link.cancel()
    inbox.wait_for(ended(Stage.PRUNE, StageCancelled))
    assert time.monotonic() - asked < 10  # not the 60 s the stage would take (the 2 s target: benchmarks/)
    assert process_gone(old_pid)
    inbox.wait_for(lambda m: isinstance(m, WorkerState) and m.pid != old_pid)
    new = link.state
    assert new.done == {Stage.DATA, Stage.BASELINE}  # finished stages kept, the cancelled one left nothing
    assert new.interrupted is not None and new.interrupted.stage is Stage.PRUNE
    assert new.interrupted.status == "cancelled"
    assert read_worker_info(tmp_path / "run").pid == new.pid  # type: ignore[union-attr]
    link.run_stage(Stage.DATA)  # the new process drives on
    inbox.wait_for(lambda m: ended(Stage.DATA)(m) and link.state.pid != old_pid)


def test_a_killed_engine_process_fails_its_stage_with_the_cause(open_link) -> None:
    link, inbox = open_link(crash=(Stage.QAT,))
    old_pid = link.state.pid
    link.run_all()
    failed = inbox.wait_for(ended(Stage.QAT, StageFailed))
    assert isinstance(failed, StageFailed)
    assert failed.error.startswith("the engine process was killed by SIGKILL")
    assert "tensorflow.log" in failed.error
    before = inbox.messages[inbox.messages.index(failed) - 1]
    assert isinstance(before, WorkerState) and before.running is None
    inbox.wait_for(lambda m: isinstance(m, WorkerState) and m.pid != old_pid)
    assert link.state.done == {Stage.DATA, Stage.BASELINE, Stage.PRUNE}
    link.run_stage(Stage.PQAT)  # and the run goes on
    inbox.wait_for(ended(Stage.PQAT))


def test_a_watcher_cannot_drive_until_it_takes_control(open_link) -> None:
    driver, driver_inbox = open_link(hold=(Stage.BASELINE,))
    driver.run_all()
    driver_inbox.wait_for(held(Stage.BASELINE))
    watcher, watcher_inbox = open_link()
    state = watcher.state
    assert not state.driver and state.viewers == 2 and state.running is Stage.BASELINE
    history = watcher_inbox.wait_for(lambda m: isinstance(m, History))
    assert isinstance(history, History)
    kinds = [type(e).__name__ for e in history.events]
    # Batch progress: only the running stage's latest.
    assert kinds == ["StageStarted", "StageFinished", "StageStarted", "BatchProgress"]
    assert history.events[-1] == BatchProgress(Stage.BASELINE, 1, 2, 2, 4, history.events[-1].metrics)  # type: ignore[attr-defined]
    watcher.cancel()
    refused = watcher_inbox.wait_for(lambda m: isinstance(m, Refused))
    assert "Watching" in refused.reason  # type: ignore[attr-defined]
    watcher.take_control()
    driver_inbox.wait_for(lambda m: isinstance(m, WorkerState) and not m.driver)
    watcher_inbox.wait_for(lambda m: isinstance(m, WorkerState) and m.driver)
    watcher.cancel()
    for inbox in (driver_inbox, watcher_inbox):
        inbox.wait_for(ended(Stage.BASELINE, StageCancelled))


def test_the_driver_leaving_makes_a_watcher_the_driver(open_link) -> None:
    first, _ = open_link()
    second, inbox = open_link()
    assert not second.state.driver
    first.close(stop=False)
    inbox.wait_for(lambda m: isinstance(m, WorkerState) and m.driver and m.viewers == 1)


def test_a_detached_engine_finishes_the_run_then_exits(open_link, tmp_path: Path) -> None:
    link, inbox = open_link(batch_s=0.02)
    link.run_all()
    inbox.wait_for(lambda m: isinstance(m, StageStarted) and m.stage is Stage.BASELINE)
    link.close(stop=False)
    run = tmp_path / "run"
    assert live_worker(run) is not None
    assert run_status(run).state == "running"
    assert engine_exited(link, 30)
    status = run_status(run)
    assert status.state == "finished" and status.stages_done == len(Stage)
    assert not (run / WORKER_FILE).exists() and not (run / LOCK_FILE).exists()
    assert not socket_path(run).exists()


def test_shutdown_stops_the_running_stage_and_the_engine_exits(open_link, tmp_path: Path) -> None:
    link, inbox = open_link(hold=(Stage.BASELINE,))
    link.run_all()
    inbox.wait_for(held(Stage.BASELINE))
    link.close(stop=True)
    assert engine_exited(link)
    assert run_status(tmp_path / "run").stages_done == 1  # Data only


def test_shutdown_during_a_deaf_stage_ends_the_engine_process_anyway(open_link, tmp_path: Path) -> None:
    link, inbox = open_link(stuck=(Stage.BASELINE,))
    link.run_all()
    inbox.wait_for(lambda m: isinstance(m, StageStarted) and m.stage is Stage.BASELINE)
    link.close(stop=True)
    assert engine_exited(link)
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_viewer_killed_by_a_hang_up_does_not_stop_the_run(tmp_path: Path) -> None:
    """The SSH drop: the viewer's process dies of SIGHUP, without a word; the run goes on to its end."""
    run = tmp_path / "run"
    code = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from fake_worker import fake_worker_command
from engine.config import PipelineConfig
from engine.worker_link import WorkerLink, WorkerOptions
config = PipelineConfig(data="sample").with_overrides(epochs=2, prune_epochs=2)
link = WorkerLink.open({str(run)!r}, WorkerOptions(config=config, command=fake_worker_command(batch_s=0.05)))
link.listen(lambda message: None)
link.run_all()
print("running", flush=True)
time.sleep(60)
"""
    viewer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert viewer.stdout is not None and viewer.stdout.readline().strip() == "running"
    viewer.send_signal(signal.SIGHUP)
    assert viewer.wait(10) == -signal.SIGHUP
    worker = read_worker_info(run)
    assert worker is not None and worker.is_alive()
    assert run_status(run).state == "running"
    assert process_gone(worker.pid, 60)
    assert run_status(run).state == "finished"


def test_a_deep_run_folder_gets_its_socket_elsewhere(open_link, tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5, "run")
    assert len(str(deep / "engine.sock")) > 108
    link, inbox = open_link(deep)
    info = read_worker_info(deep)
    assert info is not None and not info.socket.startswith(str(deep)) and len(info.socket) <= 107
    link.run_stage(Stage.DATA)
    inbox.wait_for(ended(Stage.DATA))


def test_a_run_folder_in_use_or_unusable_is_refused(tmp_path: Path) -> None:
    options = WorkerOptions(config=CONFIG, command=fake_worker_command())
    with RunFolder.open(tmp_path / "held"), pytest.raises(RunLockedByOther, match="in use by pid"):
        spawn_worker(tmp_path / "held", options)
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(WorkerStartError, match="is a file"):
        spawn_worker(tmp_path / "a-file", options)


def test_a_stage_left_running_by_a_dead_engine_process_is_settled_when_the_next_one_opens(
    tmp_path: Path,
) -> None:
    """Cancelled when the viewer ended that process to stop it; failed, with the cause, otherwise."""
    from engine.run_store import RUNNING, EventLog, Manifest, StageRecord, utc_now
    from engine.stored_session import open_run

    def left_running(folder: Path, *stages: Stage) -> None:
        with RunFolder.open(folder) as run:
            records = {s.value: StageRecord(RUNNING, "f", started=utc_now()) for s in stages}
            run.write_manifest(Manifest(created=utc_now(), stages=records))

    left_running(tmp_path / "a", Stage.DATA)
    session = open_run(CONFIG, tmp_path / "a")
    try:
        assert session.settle_interrupted(Stage.DATA) == (Stage.DATA, "cancelled", None)
        assert session.settle_interrupted() is None  # nothing left running
    finally:
        session.close()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["stages"]["data"]["status"] == "cancelled"
    assert EventLog(tmp_path / "a" / "events.jsonl").read()[-1]["event"] == "StageCancelled"

    left_running(tmp_path / "b", Stage.DATA)
    session = open_run(CONFIG, tmp_path / "b")
    try:
        stage, status, error = session.settle_interrupted()  # type: ignore[misc]
    finally:
        session.close()
    assert (stage, status) == (Stage.DATA, "failed") and "engine process ended while it ran" in str(error)
    assert run_status(tmp_path / "b").state == "failed"


def test_a_run_reopened_right_after_stop_and_quit_waits_for_its_engine_to_stop(
    open_link, tmp_path: Path
) -> None:
    from pqat_tui.app_command import _unless_stopping

    run = tmp_path / "run"
    link, inbox = open_link(stuck=(Stage.BASELINE,))  # deaf: it takes the engine 2 s to end itself
    link.run_all()
    inbox.wait_for(lambda m: isinstance(m, StageStarted) and m.stage is Stage.BASELINE)
    link.close(stop=True)
    deadline = time.monotonic() + 5
    while not (info := read_worker_info(run)) or not info.stopping:
        assert time.monotonic() < deadline, "worker.json never said it was stopping"
        time.sleep(0.01)
    assert _unless_stopping(run, info) is None  # stopped: the run is free for the app that reopens it
    assert not (run / LOCK_FILE).exists()


def test_the_app_reads_deployed_files_from_the_run_folder_not_the_engine(open_link, tmp_path: Path) -> None:
    link, inbox = open_link()
    assert link.tflite_model("pqat") is None  # Convert has not run
    link.run_all()
    inbox.wait_for(ended(Stage.PTQ))
    assert link.tflite_model("pqat") is None  # done, but this fake engine wrote no file
    (tmp_path / "run" / "models" / "pqat.tflite").write_bytes(b"TFL3 bytes")
    assert link.tflite_model("pqat") == b"TFL3 bytes"
    assert link.tflite_model("no_such_model") is None
