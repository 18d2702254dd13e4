"""What keeps keys quick while a stage trains (benchmarks/responsiveness.py times them): a stage switch moves
no focus, the footer is not rebuilt for the same keys, full garbage collections are kept out of key presses,
and live charts are not redrawn when nothing on them would change."""

from __future__ import annotations

import gc

from fake_engine import FakeEngine
from test_app import idle, make_app, run_all_until_held, wait_for
from textual.widgets._footer import FooterKey

from engine.events import BatchProgress, EpochEnded, StageStarted
from engine.stages import Stage
from pqat_tui import heap
from pqat_tui.app import PqatApp
from pqat_tui.steps import Step, StepState
from pqat_tui.widgets.compare_panel import ComparePanel
from pqat_tui.widgets.layer_table import LayerTable
from pqat_tui.widgets.panel_deck import PanelDeck
from pqat_tui.widgets.training_panel import TrainingPanel


def footer_keys(app: PqatApp) -> dict[str, FooterKey]:
    return {key.action: key for key in app.query(FooterKey)}


async def test_switching_stages_moves_no_focus_and_the_footer_is_kept_for_the_same_keys() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        deck = app.query_one(PanelDeck)
        keys_before = footer_keys(app)
        assert app.focused is deck and keys_before
        for key in "jjjk":
            await pilot.press(key)
            await pilot.pause()
            assert app.focused is deck  # the deck holds the focus for every panel
            assert deck.shown is not None and deck.shown.id == f"panel-{app.selected.value}"
        assert app.selected is Step.PRUNE
        await pilot.press("tab")  # a focus change refreshes the bindings: the same keys, so no rebuild
        await pilot.pause()
        assert app.focused is not deck
        assert footer_keys(app) == keys_before  # the very same widgets: not recomposed


async def test_the_footer_is_rebuilt_when_its_keys_do_change() -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        idle_keys = footer_keys(app)
        await pilot.press("a")  # running: cancel becomes possible, settings do not
        await wait_for(pilot, engine.holding.is_set)
        await wait_for(pilot, lambda: footer_keys(app)["cancel"] is not idle_keys["cancel"])
        engine.release.set()
        await wait_for(pilot, idle(app))


async def test_the_command_line_app_freezes_its_heap_once_built() -> None:
    engine = FakeEngine()
    app = PqatApp(engine.config, make_app(engine).engine_factory, settle_heap=True)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, idle(app))
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_settle_collects_the_garbage_then_freezes_what_is_left() -> None:
    class Node:
        pass

    cycle = Node()
    cycle.me = cycle  # type: ignore[attr-defined] - garbage only a collection frees
    collected = []
    gc.callbacks.append(lambda phase, info: collected.append(info["collected"]) if phase == "stop" else None)
    del cycle
    try:
        heap.settle()
        assert sum(collected) >= 1 and gc.get_freeze_count() > 0
    finally:
        gc.callbacks.pop()
        gc.unfreeze()


async def test_live_charts_are_redrawn_only_when_their_point_moves_a_dot() -> None:
    engine = FakeEngine(hold=[Stage.BASELINE])
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_all_until_held(pilot, app, engine)
        panel = app.query_one("#panel-baseline", TrainingPanel)
        drawn: list[int] = []
        original = panel._draw_charts  # noqa: SLF001 - counting the dearest part of a live update
        panel._draw_charts = lambda *args: (drawn.append(1), original(*args))  # type: ignore[method-assign]
        panel.training_started(StageStarted(Stage.BASELINE, 100))
        # 100 epochs of 113 batches: a 1/200 step of the x axis is half an epoch, about 56 batches.
        for batch in range(1, 114):
            panel.batch_progress(BatchProgress(Stage.BASELINE, 1, 100, batch, 113, {"loss": 0.5}))
        assert panel.progress.batch == 113  # the bars and figures follow every message
        assert len(drawn) == 3  # empty at the start, the first point, then half an epoch on
        panel.epoch_ended(EpochEnded(Stage.BASELINE, 1, 100, {"loss": 0.4, "val_loss": 0.45}))
        assert len(drawn) == 4  # an epoch's end is always drawn
        engine.release.set()
        await wait_for(pilot, idle(app))


async def test_a_layer_table_is_fitted_again_on_show_only_at_a_new_width() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        app.selected = Step.PRUNE
        table = app.query_one("#panel-prune LayerTable", LayerTable)
        await wait_for(pilot, lambda: 0 < table.content_region.width == table._drawn_width)  # noqa: SLF001 - its first fit
        fitted: list[int] = []
        original = table._redraw  # noqa: SLF001 - counting the fits
        table._redraw = lambda: (fitted.append(table.content_region.width), original())  # type: ignore[method-assign]
        for step in (Step.DATA, Step.PRUNE, Step.QAT, Step.PRUNE):
            app.selected = step
            await pilot.pause()
        assert fitted == []  # shown again at the width it was fitted to
        await pilot.resize_terminal(100, 40)
        await wait_for(pilot, lambda: bool(fitted))
        assert fitted[-1] == table.content_region.width < 100


async def test_a_panel_is_redrawn_only_when_what_it_draws_from_changed() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        panel = app.query_one(ComparePanel)
        drawn: list[StepState] = []
        original = panel.update_body
        panel.update_body = lambda results, state: (drawn.append(state), original(results, state))  # type: ignore[method-assign]
        app._refresh_everything()  # noqa: SLF001 - what every piece of engine news triggers
        assert drawn == []  # the same results, state and error
        panel.redraw_next_time()
        app._refresh_everything()  # noqa: SLF001
        assert drawn == [StepState.DONE]
