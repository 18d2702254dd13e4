"""The app driven headlessly with Pilot over the scripted fake engine: no TensorFlow, a few seconds."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from fake_engine import FakeEngine, fake_factory
from textual.pilot import Pilot
from textual.widgets import Static

from engine.stages import Stage
from pqat_tui.app import PqatApp
from pqat_tui.screens.confirm import ConfirmScreen
from pqat_tui.screens.help import HelpScreen
from pqat_tui.steps import Step, StepState
from pqat_tui.widgets.log_pane import LogPane
from pqat_tui.widgets.stage_list import StageList


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    # Generous: a passing test never waits it out, and two-core boxes shared with other jobs are slow.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
    await pilot.pause()


async def run_all_until_held(pilot: Pilot, app: PqatApp, engine: FakeEngine) -> None:
    """Start a run of every stage and wait until `engine` holds its held stage mid-training."""
    await wait_for(pilot, idle(app))
    await pilot.press("a")
    await wait_for(pilot, engine.holding.is_set)


def make_app(engine: FakeEngine, ready: threading.Event | None = None) -> PqatApp:
    return PqatApp(engine.config, fake_factory(engine, ready))


def states(app: PqatApp) -> dict[Step, StepState]:
    return {step: app.board.state(step) for step in Step}


def log_text(app: PqatApp) -> str:
    return app.query_one(LogPane).text


def idle(app: PqatApp) -> Callable[[], bool]:
    return lambda: app.engine is not None and not app.busy


async def test_n_steps_through_the_stages_one_at_a_time() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.board.state(Step.DATA) is StepState.DONE and not app.busy)
        assert states(app)[Step.BASELINE] is StepState.PENDING
        assert app.query_one(StageList).row(Step.DATA).label() == "4,000 img"
        await pilot.press("space")
        await wait_for(pilot, lambda: app.board.state(Step.BASELINE) is StepState.DONE and not app.busy)
        assert engine.calls == [Stage.DATA, Stage.BASELINE]
        assert app.selected is Step.BASELINE
        assert app.query_one(StageList).row(Step.BASELINE).label() == "acc 0.945"
        assert "Test accuracy (Keras) 0.9450" in str(app.query_one("#panel-baseline .final", Static).render())
        assert "Baseline epoch 2/2" in log_text(app)


async def test_a_runs_every_stage_and_ends_on_compare() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        assert engine.calls == list(Stage)
        assert all(state is StepState.DONE for state in states(app).values())
        assert app.selected is Step.COMPARE
        conclusions = str(app.query_one("#conclusions", Static).render())
        assert "PQAT kept 50.0% sparsity, QAT kept 1.6%." in conclusions
        assert "PQAT is 14% smaller zipped than QAT" in conclusions
        await pilot.press("n")  # nothing left: says so, runs nothing
        await pilot.pause()
        assert engine.calls == list(Stage)


async def test_rerun_makes_the_downstream_stages_pending() -> None:
    engine = FakeEngine(hold=[Stage.PRUNE])
    engine.release.set()
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        engine.release.clear()
        engine.holding.clear()
        app.selected = Step.PRUNE
        await pilot.press("r")
        await wait_for(pilot, engine.holding.is_set)
        await pilot.pause(0.05)
        during = states(app)
        assert during[Step.PRUNE] is StepState.RUNNING
        for step in (Step.QAT, Step.PQAT, Step.CONVERT, Step.EVALUATE, Step.PTQ, Step.COMPARE):
            assert during[step] is StepState.PENDING, step
        assert during[Step.BASELINE] is StepState.DONE
        engine.release.set()
        await wait_for(pilot, idle(app))
        after = states(app)
        assert after[Step.PRUNE] is StepState.DONE
        assert after[Step.QAT] is StepState.PENDING
        assert app.board.next_stage() is Stage.QAT


async def test_cancel_stops_the_stage_and_the_run_all() -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_all_until_held(pilot, app, engine)
        assert app.busy
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.busy)
        assert app.board.state(Step.BASELINE) is StepState.CANCELLED
        assert engine.calls == [Stage.DATA, Stage.BASELINE]  # run-all stopped too
        assert app.query_one(StageList).row(Step.BASELINE).label() == "cancelled"
        assert "Baseline cancelled" in log_text(app)
        # It can run again afterwards.
        engine.release.set()
        await pilot.press("n")
        await wait_for(pilot, lambda: app.board.state(Step.BASELINE) is StepState.DONE and not app.busy)


async def test_escape_also_cancels() -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("n", "n")
        await wait_for(pilot, engine.holding.is_set)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.busy)
        assert app.board.state(Step.BASELINE) is StepState.CANCELLED


async def test_quit_while_running_asks_then_stops_the_engine_and_exits() -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_all_until_held(pilot, app, engine)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # changed their mind: keeps training
        await pilot.pause()
        assert app.busy and app.is_running
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0
    assert app.board.state(Step.BASELINE) is StepState.CANCELLED
    assert engine.calls == [Stage.DATA, Stage.BASELINE]


async def test_quit_when_idle_exits_at_once() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_a_blocked_stage_says_what_it_needs() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("j", "j", "j", "j", "j")  # Convert
        assert app.selected is Step.CONVERT
        await pilot.press("r")
        await pilot.pause()
        assert engine.calls == []
        messages = [n.message for n in app._notifications]
        assert "Convert needs QAT and PQAT first." in messages
        await pilot.press("k", "k", "k", "k")  # Baseline
        await pilot.press("r")
        await pilot.pause()
        assert "Baseline needs Data first." in [n.message for n in app._notifications]
        assert engine.calls == []


async def test_a_failing_stage_shows_its_error_and_the_app_stays_usable() -> None:
    engine = FakeEngine(fail={Stage.QAT: "QAT diverged: loss is NaN at epoch 1"})
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.state(Step.QAT) is StepState.FAILED and not app.busy)
        assert engine.calls == [Stage.DATA, Stage.BASELINE, Stage.PRUNE, Stage.QAT]  # run-all stopped
        assert app.selected is Step.QAT
        error = app.query_one("#panel-qat .panel-error", Static)
        assert error.display
        assert "QAT diverged: loss is NaN at epoch 1" in str(error.render())
        assert "QAT failed: QAT diverged" in log_text(app)
        assert app.query_one(StageList).row(Step.QAT).label() == "failed"
        # Still usable: PQAT does not need QAT, so it runs from its row.
        await pilot.press("j")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.board.state(Step.PQAT) is StepState.DONE and not app.busy)
        # And the next pending stage is the failed one again.
        assert app.board.next_stage() is Stage.QAT


async def test_an_early_key_waits_for_tensorflow_to_load() -> None:
    engine = FakeEngine()
    ready = threading.Event()
    app = make_app(engine, ready)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Loading TensorFlow" in str(app.query_one("#status", Static).render())
        await pilot.press("n")
        await pilot.pause(0.1)
        assert engine.calls == []
        ready.set()
        await wait_for(pilot, lambda: app.board.state(Step.DATA) is StepState.DONE and not app.busy)
        assert engine.calls == [Stage.DATA]


async def test_an_engine_that_cannot_load_is_reported_and_the_app_stays_up() -> None:
    def broken(config: object) -> object:
        raise ImportError("No module named 'tensorflow'")

    app = PqatApp(FakeEngine().config, broken)  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.engine_error is not None)
        assert "No module named 'tensorflow'" in log_text(app)
        await pilot.press("n")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_help_screen_opens_and_closes() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_progress_messages_replace_stale_ones() -> None:
    from engine.events import BatchProgress
    from pqat_tui.messages import EngineEventPosted

    older = EngineEventPosted.wrap(BatchProgress(Stage.BASELINE, 1, 2, 1, 4, {}))
    newer = EngineEventPosted.wrap(BatchProgress(Stage.BASELINE, 1, 2, 2, 4, {}))
    other = EngineEventPosted.wrap(BatchProgress(Stage.PRUNE, 1, 2, 2, 4, {}))
    assert older.can_replace(newer)
    assert not older.can_replace(other)


async def test_every_binding_has_an_id_and_is_in_the_command_palette() -> None:
    from pqat_tui.commands import PipelineCommands
    from pqat_tui.keymap import APP_BINDINGS

    assert all(binding.id for binding in APP_BINDINGS)
    app = make_app(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        provider = PipelineCommands(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert len(titles) == len(APP_BINDINGS)
        hits = [hit async for hit in provider.search("run every remaining")]
        assert hits
        await hits[0].command()
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_resize_reflows_between_narrow_and_wide(size: tuple[int, int]) -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        wide = size[0] >= 110
        assert app.screen.has_class("-wide") is wide
        await pilot.resize_terminal(*((80, 24) if wide else (130, 40)))
        await pilot.pause()
        assert app.screen.has_class("-wide") is not wide
