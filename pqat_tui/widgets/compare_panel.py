"""Compare: every deployed file (headlines, accuracy-vs-size chart, table), then every model in one table,
with bars, and the example's conclusions in this run's figures."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.deployed import accuracy_size_chart, deployed_comparison, headlines_text
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import comparison, conclusions_text
from pqat_tui.widgets.stage_panel import StagePanel

CHART_HEIGHT = (
    8  # rows of marks: at 80x24 the chart, title and axis included, fits the panel once scrolled to
)


class ComparePanel(StagePanel):
    def __init__(self) -> None:
        super().__init__(Step.COMPARE)

    def compose_body(self) -> ComposeResult:
        yield Static(id="deployed-headlines")
        yield Static(id="deployed-chart")
        yield Static(id="deployed-table")
        yield Static(id="comparison")
        yield Static(id="conclusions")

    def update_body(self, results: RunResults, state: StepState) -> None:
        self.query_one("#deployed-headlines", Static).update(headlines_text(results))
        self.query_one("#deployed-chart", Static).update(accuracy_size_chart(results, CHART_HEIGHT))
        # Both tables give way before any digit: bars, box, headers, then the shape (or two narrower tables).
        self.query_one("#deployed-table", Static).update(deployed_comparison(results))
        self.query_one("#comparison", Static).update(comparison(results))
        self.query_one("#conclusions", Static).update(conclusions_text(results))
