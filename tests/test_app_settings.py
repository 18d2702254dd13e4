"""The app with a run folder's engine: stale stages shown as such, and the settings screen (`s`)."""

from __future__ import annotations

from fake_engine import FakeEngine
from test_app import idle, log_text, make_app, run_all_until_held, states, wait_for
from textual.widgets import Input, Static

from engine.stages import Stage
from pqat_tui.screens.settings import SettingsScreen, input_id
from pqat_tui.steps import Step, StepState
from pqat_tui.widgets.stage_list import StageList

AFTER_PRUNE = (Step.PRUNE, Step.QAT, Step.PQAT, Step.CONVERT, Step.EVALUATE, Step.PTQ)


async def test_stale_stages_of_a_resumed_run_are_shown_and_run_next() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        # As a run folder reopened with another sparsity reports itself:
        engine.reconfigure(engine.config.with_overrides(sparsity=0.7))
        app.board.sync(engine.done_stages(), engine.stale_stages())
        app._refresh_everything()  # noqa: SLF001 - what EngineReady does for a resumed run
        await pilot.pause()
        shown = states(app)
        assert [shown[step] for step in AFTER_PRUNE] == [StepState.STALE] * len(AFTER_PRUNE)
        assert shown[Step.BASELINE] is StepState.DONE
        assert app.query_one(StageList).row(Step.PRUNE).label() == "stale"
        title = str(app.query_one("#panel-prune .panel-title", Static).render())
        assert "stale: a setting it reads changed" in title
        await pilot.press("n")
        await wait_for(pilot, lambda: app.board.state(Step.PRUNE) is StepState.DONE and not app.busy)
        assert engine.calls[-1] is Stage.PRUNE
        assert states(app)[Step.QAT] is StepState.PENDING  # its stale output went with the new Prune


async def test_settings_change_makes_the_touched_stages_stale() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        sparsity = app.screen.query_one(f"#{input_id('prune.sparsity')}", Input)
        sparsity.value = "1.2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)  # refused: the message names the value
        assert "prune.sparsity = '1.2': must be a number in [0, 1)" in str(
            app.screen.query_one("#settings-error", Static).render()
        )
        sparsity.value = "0.8"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen))
        assert app.config.prune.sparsity == 0.8 == engine.config.prune.sparsity
        shown = states(app)
        assert [shown[step] for step in AFTER_PRUNE] == [StepState.STALE] * len(AFTER_PRUNE)
        assert shown[Step.DATA] is shown[Step.BASELINE] is StepState.DONE
        assert "Settings changed: prune.sparsity 0.5 → 0.8" in log_text(app)
        assert "Stale now, to run again: Prune, QAT, PQAT, Convert, Evaluate, PTQ" in log_text(app)
        calls = len(engine.calls)
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        assert engine.calls[calls:] == [Stage(step.value) for step in AFTER_PRUNE]


async def test_settings_wait_for_the_running_stage() -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_all_until_held(pilot, app, engine)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)
        await app.run_action("settings")  # from the command palette: says why not
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen)
        engine.release.set()
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen))
        assert all(state is StepState.DONE for state in states(app).values())
