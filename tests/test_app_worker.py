"""The app over an engine process of its own (the scripted fake worker, no TensorFlow), driven with Pilot:
cancel that ends a deaf engine process, a killed one, detach and attach, watchers, quitting, a resumed run
painted before its engine is up."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path

from fake_engine import FakeEngine, fake_factory
from fake_worker import fake_worker_command
from test_app import idle, log_text, states, wait_for
from textual.widgets import Input, Static

from engine.config import PipelineConfig
from engine.events import EngineEvent, StageStarted
from engine.live import live_worker, read_preview, run_status
from engine.protocol import Emit
from engine.stages import Stage
from engine.worker_link import CANCEL_GRACE_S, WorkerOptions
from pqat_tui.app import PqatApp
from pqat_tui.engine_loader import LoadedEngine, worker_engine_factory
from pqat_tui.screens.quit_dialog import QuitScreen
from pqat_tui.screens.settings import SettingsScreen, input_id
from pqat_tui.steps import Step, StepState

CONFIG = PipelineConfig(data="sample").with_overrides(epochs=2, prune_epochs=2)


def worker_app(run_dir: Path, **script: object) -> PqatApp:
    options = WorkerOptions(command=fake_worker_command(**script))  # type: ignore[arg-type]
    return PqatApp(CONFIG, worker_engine_factory(run_dir, options))


def engine_exited(app: PqatApp, timeout: float = 15.0) -> bool:
    process = app.engine.process  # type: ignore[union-attr]
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def notices(app: PqatApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_the_app_runs_every_stage_in_the_engine_process(tmp_path: Path) -> None:
    app = worker_app(tmp_path / "run")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app), timeout=15)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy, timeout=30)
        assert all(state is StepState.DONE for state in states(app).values())
        assert app.selected is Step.COMPARE
        assert "PQAT kept 50.0% sparsity" in str(app.query_one("#conclusions", Static).render())
        assert "Engine process started" in log_text(app)
        await pilot.press("q")  # nothing runs: quits at once, and the engine process with it
        await wait_for(pilot, lambda: not app.is_running)
    assert engine_exited(app)


async def test_cancel_of_a_deaf_stage_replaces_the_engine_process_and_keeps_the_finished_stages(
    tmp_path: Path,
) -> None:
    app = worker_app(tmp_path / "run", stuck=(Stage.PRUNE,))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app), timeout=15)
        first_pid = app.engine_state.pid  # type: ignore[union-attr]
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.running is Stage.PRUNE, timeout=15)
        await pilot.pause(0.2)
        await pilot.press("c")
        await wait_for(pilot, lambda: app.board.state(Step.PRUNE) is StepState.CANCELLED, timeout=10)
        assert not app.busy
        assert f"Prune: did not stop within {CANCEL_GRACE_S:.1f} s" in log_text(app)
        await wait_for(pilot, lambda: app.engine_state.pid != first_pid, timeout=10)  # type: ignore[union-attr]
        assert states(app)[Step.BASELINE] is StepState.DONE and states(app)[Step.DATA] is StepState.DONE
        await pilot.press("n")  # the new engine process takes commands
        await wait_for(pilot, lambda: app.board.running is Stage.PRUNE)
        app.engine.close(stop=True)  # type: ignore[union-attr]


async def test_a_killed_engine_process_is_a_failed_stage_and_the_app_goes_on(tmp_path: Path) -> None:
    app = worker_app(tmp_path / "run", crash=(Stage.QAT,))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app), timeout=15)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.state(Step.QAT) is StepState.FAILED and not app.busy, 20)
        error = str(app.query_one("#panel-qat .panel-error", Static).render())
        assert "the engine process was killed by SIGKILL" in error and "tensorflow.log" in error
        app.selected = Step.PQAT
        await wait_for(pilot, lambda: app.engine_state.done == {Stage.DATA, Stage.BASELINE, Stage.PRUNE})  # type: ignore[union-attr]
        await pilot.press("r")
        await wait_for(pilot, lambda: app.board.state(Step.PQAT) is StepState.DONE and not app.busy, 20)
        await pilot.press("q")


async def test_d_leaves_the_run_going_and_attach_watches_it_then_takes_control(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = worker_app(run, hold=(Stage.BASELINE,))
    async with first.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(first), timeout=15)
        await pilot.press("a")
        await wait_for(pilot, lambda: first.board.running is Stage.BASELINE)
        await pilot.pause(0.3)  # the held batch
        await pilot.press("d")
        await wait_for(pilot, lambda: not first.is_running)
    assert first.detached
    assert live_worker(run) is not None and run_status(run).state == "running"

    second = worker_app(run)  # `pqat-tui attach`: the live engine process is joined, not started
    async with second.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: second.engine is not None, timeout=15)
        await wait_for(pilot, lambda: "— live —" in log_text(second))
        assert second.board.running is Stage.BASELINE and second.busy
        assert second.selected is Step.BASELINE
        assert states(second)[Step.DATA] is StepState.DONE
        log = log_text(second)
        assert "— the run so far —" in log and "Baseline started (2 epochs)" in log
        assert second.engine_state.driver  # type: ignore[union-attr]  # the only viewer drives
        third = worker_app(run)
        async with third.run_test(size=(120, 40)) as watcher:
            await wait_for(watcher, lambda: third.engine is not None, timeout=15)
            assert not third.engine_state.driver  # type: ignore[union-attr]
            assert "Watching" in str(third.query_one("#status", Static).render()) or third.busy
            await watcher.press("c")
            assert "Watching: another viewer drives this run. t takes control." in notices(third)
            await watcher.press("t")
            await wait_for(watcher, lambda: third.engine_state.driver)  # type: ignore[union-attr]
            await wait_for(pilot, lambda: "Another viewer took control." in notices(second))
            await watcher.press("c")
            await wait_for(watcher, lambda: third.board.state(Step.BASELINE) is StepState.CANCELLED)
            await wait_for(pilot, lambda: second.board.state(Step.BASELINE) is StepState.CANCELLED)
            await watcher.press("q")
            await wait_for(watcher, lambda: not third.is_running)
        assert live_worker(run) is not None  # a watcher's quit never stops the run
        await pilot.press("q")
        await wait_for(pilot, lambda: not second.is_running)
    assert engine_exited(first)


async def test_quit_stop_ends_the_stage_and_the_engine_process(tmp_path: Path) -> None:
    app = worker_app(tmp_path / "run", hold=(Stage.BASELINE,))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app), timeout=15)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.running is Stage.BASELINE)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert not app.detached
    assert engine_exited(app)
    assert run_status(tmp_path / "run").stages_done == 1


class GatedEngine(FakeEngine):
    """Each stage waits at its start until its gate opens (or it is stopped)."""

    def __init__(self) -> None:
        super().__init__()
        self.gates = {stage: threading.Event() for stage in Stage}
        self.gates[Stage.DATA].set()

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        def gated(event: EngineEvent) -> None:
            emit(event)
            if isinstance(event, StageStarted):
                while not (self.gates[stage].is_set() or stop.is_set()):
                    time.sleep(0.01)

        super().run_stage(stage, gated, stop)


async def test_the_quit_dialog_names_the_stage_running_now() -> None:
    engine = GatedEngine()
    app = PqatApp(engine.config, fake_factory(engine))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.running is Stage.BASELINE)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        question = app.screen.query_one("#confirm-question", Static)
        assert str(question.render()).startswith("Baseline is running.")
        assert not app.screen.query("#detach")  # an engine inside the app cannot go on without it
        engine.gates[Stage.BASELINE].set()  # Baseline finishes; run-all starts Prune while the dialog is open
        await wait_for(pilot, lambda: app.board.running is Stage.PRUNE)
        await pilot.pause()
        assert str(question.render()).startswith("Prune is running.")
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, QuitScreen))
        assert app.is_running and app.busy
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.busy)


async def test_a_resumed_run_is_painted_before_its_engine_is_up(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = worker_app(run)
    async with first.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(first), timeout=15)
        await pilot.press("a")
        await wait_for(pilot, lambda: first.board.all_done() and not first.busy, timeout=30)
        await pilot.press("q")
    assert engine_exited(first)

    never = threading.Event()

    def slow_engine(config: PipelineConfig) -> LoadedEngine:
        never.wait(30)  # TensorFlow and the engine process take their time
        raise RuntimeError("not needed")

    preview = read_preview(run)
    assert preview is not None
    app = PqatApp(CONFIG, slow_engine, preview=preview)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.engine is None
        assert all(state is StepState.DONE for state in states(app).values())
        assert "Loading TensorFlow" in str(app.query_one("#status", Static).render())
        app.selected = Step.COMPARE
        await wait_for(pilot, lambda: bool(app.query("#conclusions")))
        assert "PQAT kept 50.0% sparsity" in str(app.query_one("#conclusions", Static).render())
        never.set()
        with contextlib.suppress(Exception):
            await pilot.press("q")


async def test_settings_change_in_the_engine_process_makes_the_touched_stages_stale(tmp_path: Path) -> None:
    app = worker_app(tmp_path / "run")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app), timeout=15)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy, timeout=30)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one(f"#{input_id('prune.sparsity')}", Input).value = "0.8"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen))
        assert app.engine_state.stale >= {Stage.PRUNE, Stage.PTQ}  # type: ignore[union-attr]
        assert states(app)[Step.PRUNE] is StepState.STALE and states(app)[Step.BASELINE] is StepState.DONE
        assert "Stale now, to run again: Prune, QAT, PQAT, Convert, Evaluate, PTQ" in log_text(app)
        await pilot.press("q")
