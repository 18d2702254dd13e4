"""The app by keyboard alone at 80x24: focus, scrolling every panel to its end, the log, the settings."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fake_engine import FakeEngine, fake_factory
from rich.console import Console
from rich.text import Text
from test_app import idle, make_app, run_all_until_held, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, Static

from engine.events import LogMessage
from engine.results import DatasetInfo
from engine.stages import Stage
from pqat_tui.app import PqatApp
from pqat_tui.screens.settings import SettingsScreen
from pqat_tui.steps import Step, StepState
from pqat_tui.widgets.log_pane import LogPane
from pqat_tui.widgets.panel_deck import PanelDeck
from pqat_tui.widgets.stage_list import StageList
from pqat_tui.widgets.stage_panel import StagePanel

SMALL = (80, 24)
NUMBER_CUT = re.compile(r"\d…|…\d")
# A row of a panel's table at 80x24: its label and first figures (the screenshot's text drops some blanks).
WHOLE_ROWS = {
    Step.PRUNE: r"dense/kernel[\s│]*(20,280[\s│]*)?50\.0%",  # with or without the weight count
    Step.PTQ: r"PTQ[\s│]*24\.88[\s│]*14\.80",
    Step.CONVERT: r"PQAT[\s│]*24\.43[\s│]*14\.60",
    Step.COMPARE: r"Baseline[\s│]*0\.9450|Keras\s*acc[\s│]*0\.9450",  # a row a model, or a column
}


def screen_text(app: PqatApp) -> str:
    """What the screen shows, as text: the compositor's full frame, as export_screenshot draws it, but as
    plain text (making the SVG took a third of this file's time)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))  # noqa: SLF001 - what the screen shows
    return console.export_text()


async def settle(pilot: Pilot) -> None:
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def full_run(pilot: Pilot, app: PqatApp) -> None:
    await wait_for(pilot, idle(app))
    await pilot.press("a")
    await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
    app.clear_notifications()


def shown_panel(app: PqatApp) -> StagePanel:
    return app.query_one(f"#panel-{app.selected.value}", StagePanel)


def reading(app: PqatApp) -> bool:
    """The panels have the focus (their deck holds it), and the one shown is the selected stage's."""
    deck = app.query_one(PanelDeck)
    return app.focused is deck and deck.shown is shown_panel(app)


async def test_every_panel_scrolls_to_its_last_line_by_keyboard_at_80x24() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await full_run(pilot, app)
        await pilot.press(*["k"] * len(Step))  # back to Data, with the keys a person uses
        assert app.selected is Step.DATA
        overflowing = []
        for index, step in enumerate(Step):
            if index:
                await pilot.press("j")
            await settle(pilot)
            panel = shown_panel(app)
            assert app.selected is step and reading(app), step  # the arrows scroll the new stage's panel
            if panel.max_scroll_y:
                overflowing.append(step)
            seen = screen_text(app)
            await pilot.press("end")
            await settle(pilot)
            assert panel.scroll_y == panel.max_scroll_y, step
            seen += screen_text(app)
            await pilot.press("home")
            await settle(pilot)
            assert panel.scroll_y == 0, step
            pages = -(-panel.max_scroll_y // max(panel.scrollable_content_region.height - 1, 1))
            for _ in range(pages + 1):  # PageDown, a page at a time, reaches it too, and shows every line
                await pilot.press("pagedown")
                await settle(pilot)
                seen += screen_text(app)
            assert panel.scroll_y == panel.max_scroll_y, step
            assert not NUMBER_CUT.search(seen), step  # no figure is cut, e.g. the PTQ panel's TFLite table
            if step in WHOLE_ROWS:  # and the rows keep their names beside their figures
                assert re.search(WHOLE_ROWS[step], seen), step
        await pilot.press("home", "down", "down")
        await settle(pilot)
        assert app.selected is Step.COMPARE and shown_panel(app).scroll_y == 2  # arrows scroll, not select
        # At 80x24 most panels are taller than their window: the test above really scrolled.
        assert {Step.DATA, Step.BASELINE, Step.PRUNE, Step.COMPARE} <= set(overflowing)


async def test_ctrl_d_and_ctrl_u_move_half_a_page() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await full_run(pilot, app)
        app.selected = Step.PRUNE
        await settle(pilot)
        panel = shown_panel(app)
        half = panel.scrollable_content_region.height // 2
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert panel.scroll_y == min(half, panel.max_scroll_y) > 0
        await pilot.press("ctrl+u")
        await settle(pilot)
        assert panel.scroll_y == 0


async def test_tab_cycles_the_focus_and_the_stage_list_takes_the_arrows() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await full_run(pilot, app)
        app.selected = Step.DATA
        await settle(pilot)
        stage_list, log = app.query_one(StageList), app.query_one(LogPane)
        assert reading(app)
        await pilot.press("tab")
        assert app.focused is log
        await pilot.press("tab")
        assert app.focused is stage_list
        await pilot.press("down", "down")
        assert app.selected is Step.PRUNE
        await pilot.press("end")
        assert app.selected is Step.COMPARE
        await pilot.press("home", "enter")
        assert app.selected is Step.DATA and reading(app)
        await pilot.press("shift+tab")
        assert app.focused is stage_list
        # j/k choose a stage wherever the focus is, the log included.
        await pilot.press("shift+tab", "j")
        assert app.focused is log and app.selected is Step.BASELINE


async def test_the_focused_area_has_a_bright_border_the_others_a_dark_one() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, idle(app))
        stage_list, log, panel = app.query_one(StageList), app.query_one(LogPane), shown_panel(app)
        assert reading(app)
        focused_colour = panel.styles.border_top[1]
        assert stage_list.styles.border_top[1] == log.styles.border_top[1] != focused_colour
        await pilot.press("tab")
        await settle(pilot)
        assert log.styles.border_top[1] == focused_colour != panel.styles.border_top[1]
        await pilot.click("#panel-data", offset=(10, 3))  # a click in a panel: the deck takes the focus back
        await settle(pilot)
        assert reading(app) and panel.styles.border_top[1] == focused_colour


def _log_fits(log: LogPane) -> None:
    width = log.scrollable_content_region.width
    assert all(line.cell_length <= width for line in log.lines)
    assert log.virtual_size.width <= width  # no horizontal scrollbar
    assert not log.show_horizontal_scrollbar


async def test_log_lines_wrap_to_the_pane_and_again_on_resize() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await full_run(pilot, app)
        long = "Baseline epoch 2/10: loss 0.1834  accuracy 0.9466  val_loss 0.2013  val_accuracy 0.9512"
        app._log(long)  # noqa: SLF001 - as the app logs an epoch
        await settle(pilot)
        log = app.query_one(LogPane)
        _log_fits(log)
        assert _last_lines(log, 2).endswith("val_accuracy 0.9512")  # the value at the end is in view
        narrow_lines = len(log.lines)
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        _log_fits(log)
        assert len(log.lines) < narrow_lines  # wrapped again, wider
        assert _last_lines(log, 1) == long


def _last_lines(log: LogPane, count: int) -> str:
    """The last `count` screen lines of the log as one line of text (wrapping joined up again)."""
    return " ".join(line.text.strip() for line in log.lines[-count:])


async def test_log_scrolls_by_keyboard_when_focused() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await full_run(pilot, app)
        log = app.query_one(LogPane)
        await pilot.press("tab")
        assert app.focused is log and log.max_scroll_y > 0
        await pilot.press("home")
        await settle(pilot)
        assert log.scroll_y == 0
        await pilot.press("end")
        await settle(pilot)
        assert log.scroll_y == log.max_scroll_y


async def open_settings(pilot: Pilot, app: PqatApp) -> list[Input]:
    await wait_for(pilot, idle(app))
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
    await settle(pilot)
    return list(app.screen.query(Input))


async def test_settings_arrows_move_between_fields_and_the_focused_one_stands_out() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        fields = await open_settings(pilot, app)
        assert app.focused is fields[0]
        focused_row, other_row = fields[0].parent, fields[1].parent
        assert focused_row is not None and other_row is not None
        assert focused_row.styles.background != other_row.styles.background  # not one shade of grey
        assert fields[0].styles.background != fields[1].styles.background
        await pilot.press("down", "down")
        assert app.focused is fields[2]
        await pilot.press("up")
        assert app.focused is fields[1]
        await pilot.press("up", "shift+tab")  # from the first field, back round to the last one
        assert app.focused is fields[-1]
        before = fields[-1].value
        await pilot.press("end", "7", "7")  # typed text lands in the field that has the focus
        assert fields[-1].value == before + "77"
        # tab, shift+tab and the arrows stop at every field and nowhere else (never the invisible list).
        assert app.screen.focus_chain == fields
        await pilot.press("tab")
        assert app.focused is fields[0]  # from the last field, round to the first
        await pilot.press("up", "up")
        assert app.focused is fields[-2]
        await pilot.press("escape")


async def test_settings_help_is_not_cut_at_80_columns() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await open_settings(pilot, app)
        for help_label in app.screen.query(".settings-help"):
            text = str(help_label.render())
            rendered = "".join(
                help_label.render_line(y).text for y in range(help_label.content_region.height + 2)
            )
            words = text.split()
            assert words and " ".join(rendered.split()).endswith(words[-1]), text


async def test_cancelling_a_rerun_keeps_the_selection() -> None:
    engine = FakeEngine(hold=[Stage.PRUNE])
    engine.release.set()
    app = make_app(engine)
    async with app.run_test(size=SMALL) as pilot:
        await full_run(pilot, app)
        assert app.selected is Step.COMPARE
        engine.release.clear()
        engine.holding.clear()
        app.selected = Step.PRUNE
        await pilot.press("r")
        await wait_for(pilot, engine.holding.is_set)
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.busy)
        assert app.board.state(Step.PRUNE) is StepState.CANCELLED
        assert app.selected is Step.PRUNE


async def test_the_running_figure_names_the_epoch() -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])
    app = make_app(engine)
    async with app.run_test(size=SMALL) as pilot:
        await run_all_until_held(pilot, app, engine)
        await wait_for(pilot, lambda: app.query_one(StageList).row(Step.BASELINE).label() != "running")
        assert app.query_one(StageList).row(Step.BASELINE).label() == "ep 1/2 · 50%"
        rendered = str(app.query_one(StageList).render())
        assert "Baseline" in rendered and "ep 1/2" in rendered
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.busy)


async def test_engine_log_lines_do_not_repeat_the_stage_name() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, idle(app))
        from pqat_tui.messages import EngineEventPosted

        app.post_message(EngineEventPosted.wrap(LogMessage("int8 .tflite: 24.9 KB", stage=Stage.PTQ)))
        await settle(pilot)
        assert "PTQ: int8 .tflite: 24.9 KB" in app.query_one(LogPane).text


async def test_header_names_the_data_model_and_run_folder() -> None:
    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine), run_dir=Path("runs/2026-11-25T17-30-00Z"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, idle(app))
        header = str(app.query_one("#header", Static).render())
        assert header == "data sample · model example CNN · run runs/2026-11-25T17-30-00Z/"
    app = PqatApp(engine.config, fake_factory(engine), model="my_model.keras")
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, idle(app))
        assert "model my_model.keras · run not saved" in str(app.query_one("#header", Static).render())


@pytest.mark.parametrize("source", ["mnist", "fashion_mnist"])
async def test_offline_fallback_says_the_sample_is_in_use(source: str) -> None:
    from dataclasses import replace

    from pqat_tui.tables import dataset_table

    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, idle(app))
        info = DatasetInfo(
            source=source,
            train=4000,
            test=1000,
            note=f"{source} could not be downloaded; using the bundled sample of real MNIST digits instead.",
            loaded_from="/site-packages/pqat_tui/assets/mnist-sample.npz",
        )
        app.results = replace(app.results, dataset=info)
        app._refresh_everything()  # noqa: SLF001 - as a finished Data stage does
        await settle(pilot)
        expected = f"sample (offline stand-in for {source})"
        assert f"data {expected}" in str(app.query_one("#header", Static).render())
        table = dataset_table(info)
        assert isinstance(table.columns[1]._cells[0], Text)
        assert table.columns[1]._cells[0].plain == expected


def test_a_damaged_run_folder_leaves_the_header_to_the_engine(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    engine = FakeEngine()
    app = PqatApp(engine.config, fake_factory(engine), run_dir=tmp_path)  # does not raise
    assert app.session.model is None and app.session.run_dir == tmp_path
