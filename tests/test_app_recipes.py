"""The app on the `collaborative` recipe (fake engine): the stage list is the recipe's tree, stepped with
the same keys, and each stage gets the panel of its technique."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fake_engine import FakeEngine, fake_factory
from test_app import idle, make_app, wait_for
from test_snapshots import _after_run_all

from engine.recipe import COLLABORATIVE
from pqat_tui.app import PqatApp
from pqat_tui.steps import Step, StepState, steps_of
from pqat_tui.widgets.stage_list import StageList
from pqat_tui.widgets.tflite_panel import EvaluatePanel, TFLitePanel
from pqat_tui.widgets.training_panel import TrainingPanel


def _collaborative() -> FakeEngine:
    config = FakeEngine().config
    return FakeEngine(replace(config, recipe=replace(config.recipe, name="collaborative")))


async def test_the_stage_list_is_the_recipes_tree_and_j_k_walk_it() -> None:
    engine = _collaborative()
    app = make_app(engine)
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, idle(app))
        rows = app.query_one(StageList)._rows
        assert [row.step.value for row in rows] == [*(r.name for r in COLLABORATIVE.tree()), "compare"]
        depths = {row.step.value: row.depth for row in rows}
        assert depths["data"] == 0 and depths["cqat"] == depths["cluster"] + 1
        assert app.query_one(StageList).row(Step("cqat")).name == " " * depths["cqat"] + "CQAT"
        visited = [app.selected]
        for _ in range(len(rows) - 1):
            await pilot.press("j")
            visited.append(app.selected)
        assert visited == steps_of(COLLABORATIVE)
        await pilot.press("k")
        assert app.selected is Step("evaluate_2by4")


@pytest.mark.slow  # 23 stages through the app: about 15 s on a loaded two-core box
async def test_a_runs_every_branch_into_its_techniques_panels_and_r_reruns_one_branch() -> None:
    engine = _collaborative()
    app = make_app(engine)
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy)
        assert [s.value for s in engine.calls] == list(COLLABORATIVE.names())
        assert all(app.board.state(step) is StepState.DONE for step in app.steps)
        assert isinstance(app._panel(Step("cqat")), TrainingPanel)
        assert isinstance(app._panel(Step("convert_clustered")), TFLitePanel)
        evaluate = app._panel(Step("evaluate_clustered"))
        assert isinstance(evaluate, EvaluatePanel) and evaluate.available() == ["clustered", "cqat"]
        assert app.query_one(StageList).row(Step("cqat")).label() == "acc 0.942"
        await pilot.press("r")  # re-run the selected stage (Compare runs nothing)
        app.selected = Step("cluster")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.board.all_done() is False and not app.busy)
        assert engine.calls[-1] == "cluster"
        assert app.board.state(Step("cqat")) is StepState.PENDING  # downstream of the re-run
        assert app.board.state(Step("pcqat")) is StepState.DONE  # another branch


def test_the_collaborative_stage_list_at_80x24(snap_compare) -> None:
    engine = _collaborative()
    app = PqatApp(engine.config, fake_factory(engine))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_after_run_all(Step("cqat")))
