"""The app over the real engine on the bundled sample, one epoch a stage, driven with Pilot like a person."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_app import log_text, wait_for
from textual.widgets import Static

from engine.config import PipelineConfig
from engine.stages import Stage
from pqat_tui.app import PqatApp
from pqat_tui.engine_loader import real_engine_factory
from pqat_tui.steps import Step, StepState
from pqat_tui.widgets.stage_list import StageList

pytestmark = pytest.mark.real_engine


async def test_a_runs_every_stage_on_the_sample_and_compare_shows_the_figures(tmp_path: Path) -> None:
    config = PipelineConfig(data="sample").with_overrides(epochs=1, prune_epochs=1)
    app = PqatApp(config, real_engine_factory(tmp_path / "run"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")  # before TensorFlow has loaded: it waits for it
        await wait_for(pilot, lambda: app.engine is not None, timeout=120)
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy, timeout=600)
        assert all(app.board.state(step) is StepState.DONE for step in Step), app.errors
        assert app.selected is Step.COMPARE
        results = app.results
        assert results.models["pqat"].tflite is not None
        assert results.models["ptq"].tflite is not None
        conclusions = str(app.query_one("#conclusions", Static).render())
        assert "PQAT kept" in conclusions and "smaller zipped than QAT" in conclusions
        assert app.query_one(StageList).row(Step.PRUNE).label().endswith("% sp")
        assert "Baseline epoch 1/1" in log_text(app)
        # Re-running PQAT leaves Convert, Evaluate and Compare pending, Prune and PTQ done.
        app.selected = Step.PQAT
        await pilot.press("r")
        await wait_for(pilot, lambda: app.board.state(Step.PQAT) is StepState.DONE and not app.busy, 300)
        assert app.board.state(Step.CONVERT) is StepState.PENDING
        assert app.board.state(Step.PTQ) is StepState.DONE
        assert app.board.next_stage() is Stage.CONVERT
    app.engine.close()  # type: ignore[union-attr]
