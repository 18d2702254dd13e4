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

    def on_show(self, event: events.Show) -> None:
        # A hidden panel has no width to fit: it is laid out again when it is switched to.
        self._draw()

    def _draw(self) -> None:
        if self._results is None:
            return
        # A row a model where it fits, shortening the bars first; else a column a model (e.g. at 80x24).
        width = self.scrollable_content_region.width
        console = self.app.console
        unbounded = console.options.update_width(10_000)
        table = comparison_table_by_metric(self._results)
        for bar_width in (12, 8):
            candidate = comparison_table(self._results, bar_width=bar_width)
            if width and Measurement.get(console, unbounded, candidate).maximum <= width:
                table = candidate
                break
        self.query_one("#comparison", Static).update(table)
        self.query_one("#conclusions", Static).update(conclusions_text(self._results))
