"""Every panel pinned at 80x24 and 120x40 (`pytest --snapshot-update` after an intended change).

The scripted fake engine makes each screen deterministic; no clock or ETA is ever drawn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from fake_engine import FakeEngine, fake_factory
from textual.pilot import Pilot

from engine.stages import Stage
from pqat_tui.app import PqatApp
from pqat_tui.steps import Step

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def _settle(pilot: Pilot, condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("the app did not reach the expected state")
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def _after_run_all(select: Step) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, PqatApp)
        await _settle(pilot, lambda: app.engine is not None)
        await pilot.press("a")
        await _settle(pilot, lambda: app.board.all_done() and not app.busy)
        app.selected = select
        app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("step", list(Step), ids=[s.value for s in Step])
def test_each_panel_after_a_full_run(snap_compare, step: Step, size: tuple[int, int]) -> None:
    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine))
    assert snap_compare(app, terminal_size=size, run_before=_after_run_all(step))


@pytest.mark.parametrize("size", SIZES)
def test_start_screen_before_any_stage(snap_compare, size: tuple[int, int]) -> None:
    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine))

    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot, lambda: app.engine is not None)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_baseline_while_training(snap_compare, size: tuple[int, int]) -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, PqatApp)
        await _settle(pilot, lambda: app.engine is not None)
        await pilot.press("a")
        await _settle(pilot, engine.holding.is_set)
        await asyncio.sleep(0.1)  # the held batch's progress message arrives
        await pilot.pause()

    app = PqatApp(engine.config, fake_factory(engine))
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_failed_stage(snap_compare, size: tuple[int, int]) -> None:
    engine = FakeEngine(fail={Stage.QAT: "QAT diverged: loss is NaN at epoch 1"})
    app = PqatApp(engine.config, fake_factory(engine))

    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot, lambda: app.engine is not None)
        await pilot.press("a")
        await _settle(pilot, lambda: bool(app.errors) and not app.busy)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, size: tuple[int, int]) -> None:
    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine))

    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot, lambda: app.engine is not None)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_settings_screen_with_an_invalid_value(snap_compare, size: tuple[int, int]) -> None:
    from textual.widgets import Input

    from pqat_tui.screens.settings import SettingsScreen, input_id

    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine))

    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot, lambda: app.engine is not None)
        await pilot.press("s")
        await _settle(pilot, lambda: isinstance(app.screen, SettingsScreen))
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor is drawn or not depending on timing
        seed = app.screen.query_one(f"#{input_id('seed')}", Input)
        seed.value = "-1"
        await _settle(pilot, lambda: seed.has_class("-invalid"))

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_stages_stale_after_a_settings_change(snap_compare, size: tuple[int, int]) -> None:
    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine))

    async def run_before(pilot: Pilot) -> None:
        await _after_run_all(Step.PRUNE)(pilot)
        app._settings_saved(engine.config.with_overrides(sparsity=0.8))  # noqa: SLF001 - as the screen saves
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("part", ["per-class", "confusion", "changed-images"])
def test_evaluate_panel_parts(snap_compare, part: str, size: tuple[int, int]) -> None:
    """Evaluate scrolled to each of its parts (its top, the latency, is the full-run snapshot's)."""
    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine))

    async def run_before(pilot: Pilot) -> None:
        await _after_run_all(Step.EVALUATE)(pilot)
        if part == "changed-images":
            await pilot.press("right_square_bracket")  # the second picture first
        panel = app.query_one(f"#panel-{Step.EVALUATE.value}")
        panel.scroll_to_widget(panel.query_one(f"#{part}"), animate=False, top=True)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_inspector_on_the_pqat_file(snap_compare, size: tuple[int, int]) -> None:
    from textual.widgets import Static

    from pqat_tui.screens.inspect import InspectScreen

    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine))

    async def run_before(pilot: Pilot) -> None:
        await _after_run_all(Step.EVALUATE)(pilot)
        await pilot.press("i")
        await _settle(pilot, lambda: isinstance(app.screen, InspectScreen))
        text = app.screen.query_one("#inspect-text", Static)
        await _settle(pilot, lambda: "Reading" not in str(text.content))

    assert snap_compare(app, terminal_size=size, run_before=run_before)
