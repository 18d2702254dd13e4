"""The Compare panel with a collaborative run's thirteen models, at 80x24 and 120x40 (snapshots), reached
and scrolled by keyboard; `pytest --snapshot-update tests/test_snapshots_compare.py` after an intended change.
"""

from __future__ import annotations

import pytest
from collab_results import collaborative_results
from fake_engine import FakeEngine, fake_factory
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from pqat_tui.app import PqatApp
from pqat_tui.steps import Step
from pqat_tui.widgets.compare_panel import ComparePanel
from pqat_tui.widgets.panel_deck import PanelDeck

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _app() -> PqatApp:
    engine = FakeEngine(finished=collaborative_results())
    return PqatApp(engine.config, fake_factory(engine))


async def _to_compare(pilot: Pilot) -> None:
    """Wait for the resumed run, then walk the stage list down to Compare with j, as a user would."""
    app = pilot.app
    assert isinstance(app, PqatApp)
    for _ in range(500):
        if app.engine is not None and app.board.all_done():
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("the finished run was not shown")
    for _ in Step:
        if app.selected is Step.COMPARE:
            break
        await pilot.press("j")
    assert app.selected is Step.COMPARE
    app.clear_notifications()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


@pytest.mark.parametrize("size", SIZES)
def test_compare_with_every_collaborative_model(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(_app(), terminal_size=size, run_before=_to_compare)


def test_compare_scrolled_to_the_chart_at_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _to_compare(pilot)
        panel = pilot.app.query_one(ComparePanel)
        chart = pilot.app.query_one("#deployed-chart", Static)
        pilot.app.query_one(PanelDeck).focus()
        while panel.scroll_y < min(chart.virtual_region.y, panel.max_scroll_y):
            await pilot.press("down")  # the arrows scroll the focused panel, a line a press
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=run_before)


async def test_every_figure_is_drawn_whole_at_80x24() -> None:
    """Scrolling is fine, cut digits are not: at 80 columns each part of the panel draws every file's
    figures, and the keys scroll the panel to its end."""
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_compare(pilot)
        panel = app.query_one(ComparePanel)
        width = panel.scrollable_content_region.width
        drawn = ""
        for part in ("#deployed-headlines", "#deployed-chart", "#deployed-table"):
            console = Console(width=width, record=True, color_system=None, legacy_windows=False)
            console.print(app.query_one(part, Static).content)
            drawn += console.export_text()
        assert "…" not in drawn
        for figure in ("8.90", "77.23", "0.9330", "36.12", "8.7x", "−1.0", "PCQAT", "Sparse", "PQAT 2:4"):
            assert figure in drawn
        assert "PCQAT: 8.7x smaller than the float baseline for −1.0 points" in " ".join(drawn.split())
        pilot.app.query_one(PanelDeck).focus()
        await pilot.press("end")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        assert panel.max_scroll_y > 0 and round(panel.scroll_y) == panel.max_scroll_y
