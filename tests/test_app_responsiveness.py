"""What keeps a stage switch cheap (benchmarks/responsiveness.py times it): no focus moves, the footer is not
rebuilt for the same keys, and full garbage collections are kept out of key presses."""

from __future__ import annotations

import gc

from fake_engine import FakeEngine
from test_app import idle, make_app, wait_for
from textual.widgets._footer import FooterKey

from engine.stages import Stage
from pqat_tui import heap
from pqat_tui.app import PqatApp
from pqat_tui.steps import Step
from pqat_tui.widgets.panel_deck import PanelDeck


def footer_keys(app: PqatApp) -> dict[str, FooterKey]:
    return {key.action: key for key in app.query(FooterKey)}


async def test_switching_stages_moves_no_focus_and_keeps_the_footer() -> None:
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
