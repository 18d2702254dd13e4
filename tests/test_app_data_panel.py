"""The Data panel on a user's own data: image shape, class names, colour previews (scripted fake engine)."""

from __future__ import annotations

import io

from fake_engine import FakeEngine, colour_dataset, fake_factory
from rich.console import Console
from test_app import wait_for
from test_snapshots import _settle
from textual.pilot import Pilot
from textual.widgets import Static

from pqat_tui.app import PqatApp
from pqat_tui.steps import Step, StepState


def _render(renderable: object, width: int = 100) -> Console:
    console = Console(width=width, record=True, file=io.StringIO(), color_system="truecolor")
    console.print(renderable)
    return console


async def _data_loaded(pilot: Pilot) -> PqatApp:
    app = pilot.app
    assert isinstance(app, PqatApp)
    await wait_for(pilot, lambda: app.engine is not None and not app.busy)
    await pilot.press("n")
    await wait_for(pilot, lambda: app.board.state(Step.DATA) is StepState.DONE and not app.busy)
    app.selected = Step.DATA
    await pilot.pause()
    return app


async def test_the_data_panel_shows_shape_class_names_and_colour_previews() -> None:
    engine = FakeEngine(dataset=colour_dataset())
    app = PqatApp(engine.config, fake_factory(engine))
    async with app.run_test(size=(120, 40)) as pilot:
        await _data_loaded(pilot)
        table = _render(app.query_one("#dataset-table", Static).content).export_text()
        assert "32×32×3 (RGB)" in table and "red:80 green:90 blue:70" in table
        balance = _render(app.query_one("#class-balance", Static).content).export_text()
        assert [line.split("│")[1].strip() for line in balance.splitlines() if "│" in line] == [
            "red",
            "green",
            "blue",
        ]
        previews = _render(app.query_one("#digits", Static).content)
        # Each preview is drawn in its own colours: the red square's cells are red on grey, and so on.
        segments = previews._record_buffer  # noqa: SLF001
        colours = {seg.style.color.get_truecolor() for seg in segments if seg.style and seg.style.color}
        assert {(250, 60, 60), (60, 250, 60), (60, 60, 250), (60, 60, 60)} <= colours, colours
        text = previews.export_text()
        assert text.split("\n")[-2].split() == ["red", "green", "blue"]  # captions under the images


def test_colour_data_panel_snapshot(snap_compare) -> None:
    engine = FakeEngine(dataset=colour_dataset())

    async def run_before(pilot: Pilot) -> None:
        app = await _data_loaded(pilot)
        await _settle(pilot, lambda: not app.busy)

    app = PqatApp(engine.config, fake_factory(engine))
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_reports_and_the_run_summary_show_shape_and_class_names() -> None:
    from engine.results import RunResults
    from pqat_tui.report import build_report, render
    from pqat_tui.tables import run_summary

    results = RunResults(dataset=colour_dataset())
    for fmt in ("txt", "md", "html"):
        text = render(build_report(results), fmt)
        assert "32×32×3 (RGB)" in text and "red:80 green:90 blue:70" in text, fmt
    summary = _render(run_summary(results), width=120).export_text()
    assert "image shape" in summary and "32×32×3 (RGB)" in summary and "green:90" in summary
