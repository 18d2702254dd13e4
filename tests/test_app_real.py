"""The app over the real engine, driven with Pilot like a person: two stages on a few hundred digits, and
(slow) every stage on the bundled sample, one epoch a stage."""

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


async def test_the_first_stages_run_on_the_real_engine(tmp_path: Path, tiny_data: Path) -> None:
    config = PipelineConfig(data=str(tiny_data)).with_overrides(epochs=1)
    app = PqatApp(config, real_engine_factory(tmp_path / "run"), run_dir=tmp_path / "run")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")  # before TensorFlow has loaded: it waits for it
        await wait_for(pilot, lambda: app.engine is not None, timeout=120)
        await wait_for(pilot, lambda: app.board.state(Step.DATA) is StepState.DONE and not app.busy, 120)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.board.state(Step.BASELINE) is StepState.DONE and not app.busy, 120)
        assert app.query_one(StageList).row(Step.BASELINE).label().startswith("acc 0.")
        assert "Baseline epoch 1/1" in log_text(app)
        assert f"run {tmp_path / 'run'}/" in str(app.query_one("#header", Static).render())
        assert (tmp_path / "run" / "models" / "baseline.keras").is_file()
    app.engine.close()  # type: ignore[union-attr]


@pytest.mark.slow
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
