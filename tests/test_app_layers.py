"""The support table in the Baseline panel before training, and per-layer tables of a 150-layer model:
the largest first, the full list one key away (l), a filter typed after / (fake engine, no TensorFlow)."""

from __future__ import annotations

import pytest
from fake_engine import FakeEngine
from large_results import mobilenet_results
from test_app import idle, make_app, wait_for
from textual.pilot import Pilot

from pqat_tui.app import PqatApp
from pqat_tui.steps import Step, StepState
from pqat_tui.widgets.layer_table import LayerFilter, LayerTable
from pqat_tui.widgets.panel_deck import PanelDeck


def panel_text(app: PqatApp, step: Step) -> str:
    table = app.query_one(f"#panel-{step.value} LayerTable", LayerTable)
    lines = app.console.render_lines(table.shown, app.console.options.update_width(200))
    return "\n".join("".join(segment.text for segment in line) for line in lines)


async def _run_all(pilot: Pilot, app: PqatApp) -> None:
    await wait_for(pilot, idle(app))
    await pilot.press("a")
    await wait_for(pilot, lambda: app.board.all_done() and not app.busy, timeout=15)


async def test_the_baseline_panel_shows_the_support_table_before_training() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        before = panel_text(app, Step.BASELINE)
        assert "tfmot checks the model's layers once the data is loaded" in before
        await pilot.press("n")  # Data only: nothing has trained
        await wait_for(pilot, lambda: app.board.state(Step.DATA) is StepState.DONE and not app.busy)
        assert app.board.state(Step.BASELINE) is StepState.PENDING
        text = panel_text(app, Step.BASELINE)
        assert "5 layers, 20,410 · 81.6 KB as float32. tfmot prunes 2 layers" in text
        assert "conv2d" in text and "yes prunes kernel" in text and "— no weights" in text


async def test_a_large_model_shows_its_largest_weights_then_all_of_them_then_a_filtered_few() -> None:
    app = make_app(FakeEngine(model=mobilenet_results()))
    async with app.run_test(size=(120, 40)) as pilot:
        await _run_all(pilot, app)
        app.selected = Step.PRUNE
        await pilot.pause()
        compact = panel_text(app, Step.PRUNE)
        assert "Kernel sparsity by layer type" in compact and "0.0% dense" in compact
        assert "the 12 largest shown; 250 more weights (l lists all, / filters by name)" in compact
        assert compact.index("Conv_1/kernel") < compact.index("block_16_project/kernel")  # largest first
        assert "block_1_expand/kernel" not in compact

        await pilot.press("l")
        full = panel_text(app, Step.PRUNE)
        assert "block_1_expand/kernel" in full and "bn_Conv1/moving_variance" in full
        assert full.index("Conv1/kernel") < full.index("Conv_1/kernel")  # the model's order

        await pilot.press("slash")
        assert app.query_one(f"#panel-{Step.PRUNE.value} {LayerFilter.__name__}", LayerFilter).has_focus
        await pilot.press(*"k_1_", "enter")  # typed keys filter; none of them runs an app action
        await pilot.pause(0.3)  # drawn once typing pauses
        filtered = panel_text(app, Step.PRUNE)
        assert "block_1_expand/kernel" in filtered and "block_16" not in filtered
        assert "Conv_1/kernel" not in filtered and "only the weights matching 'k_1_'" in filtered
        assert not app.busy and app.selected is Step.PRUNE

        await pilot.press("l")  # back to the largest, still filtered
        assert "block_1_expand/kernel" in panel_text(app, Step.PRUNE)
        await pilot.press("slash", "escape")  # escape clears the filter, and cancels nothing
        await pilot.pause(0.3)
        assert "250 more weights" in panel_text(app, Step.PRUNE) and not app.busy
        assert isinstance(app.focused, PanelDeck)  # the arrows scroll the panel again


async def test_the_large_models_support_and_tflite_tables() -> None:
    app = make_app(FakeEngine(model=mobilenet_results()))
    async with app.run_test(size=(120, 40)) as pilot:
        await _run_all(pilot, app)
        support = panel_text(app, Step.BASELINE)
        assert "151 layers, 425,530 · 1.70 MB as float32. tfmot prunes 36 layers" in support
        assert "leaves 17 dense" in support and "Layers by type" in support
        assert "the 12 largest shown; 139 more layers" in support
        tflite = panel_text(app, Step.CONVERT)
        assert "Conv_1/kernel (int8)" in tflite and "143.4 KB" in tflite
        assert "the 12 largest shown; 41 more tensors" in tflite
        app.selected = Step.COMPARE
        await pilot.pause()
        await pilot.press("l")  # no per-layer table here: says so
        await pilot.pause()
        assert not app.busy


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("step", [Step.BASELINE, Step.PRUNE], ids=["baseline", "prune"])
def test_a_large_models_tables_snapshot(snap_compare, step: Step, size: tuple[int, int]) -> None:
    """The 150-layer model's support table and sparsity, scrolled into view under the curves."""
    app = make_app(FakeEngine(model=mobilenet_results()))

    async def run_before(pilot: Pilot) -> None:
        await _run_all(pilot, app)
        app.selected = step
        app.clear_notifications()
        await pilot.pause()
        panel = app.query_one(f"#panel-{step.value}")
        panel.scroll_to_widget(panel.query_one(LayerTable), animate=False, top=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
