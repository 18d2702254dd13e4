"""Compare: every model in one table, with bars, and the example's conclusions in this run's figures."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import comparison, conclusions_text
from pqat_tui.widgets.stage_panel import StagePanel


class ComparePanel(StagePanel):
    def __init__(self) -> None:
        super().__init__(Step.COMPARE)

    def compose_body(self) -> ComposeResult:
        yield Static(id="comparison")
        yield Static(id="conclusions")

    def update_body(self, results: RunResults, state: StepState) -> None:
        # A row a model with bars where they fit; bars, box and then the shape give way before any digit.
        self.query_one("#comparison", Static).update(comparison(results))
        self.query_one("#conclusions", Static).update(conclusions_text(results))
