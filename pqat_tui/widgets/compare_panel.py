"""Compare: every model in one table, with bars, and the example's conclusions in this run's figures."""

from __future__ import annotations

from rich.measure import Measurement
from textual import events
from textual.app import ComposeResult
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import comparison_table, comparison_table_by_metric, conclusions_text
from pqat_tui.widgets.stage_panel import StagePanel


class ComparePanel(StagePanel):
    def __init__(self) -> None:
        super().__init__(Step.COMPARE)

    def compose_body(self) -> ComposeResult:
        yield Static(id="comparison")
        yield Static(id="conclusions")

    _results: RunResults | None = None

    def update_body(self, results: RunResults, state: StepState) -> None:
        self._results = results
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        self._draw()

    def _draw(self) -> None:
        if self._results is None:
            return
        table = comparison_table(self._results)
        # Too wide for the panel (e.g. at 80 columns): a column per model instead of a row per model.
        width = self.scrollable_content_region.width
        # Rich narrows a table down to its minimum width by wrapping headers; below that it is unreadable.
        needed = Measurement.get(self.app.console, self.app.console.options, table).minimum
        if width and needed > width:
            table = comparison_table_by_metric(self._results)
        self.query_one("#comparison", Static).update(table)
        self.query_one("#conclusions", Static).update(conclusions_text(self._results))
