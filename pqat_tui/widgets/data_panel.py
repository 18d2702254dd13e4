"""Data: where the images came from, how many, their shape, the class balance, and a few of them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.digits import DigitStrip
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import class_balance_table, dataset_table
from pqat_tui.widgets.stage_panel import StagePanel


class DataPanel(StagePanel):
    def __init__(self) -> None:
        super().__init__(Step.DATA)

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="side-by-side"):
            yield Static(id="dataset-table")
            yield Static(id="class-balance")
        yield Static(id="digits")

    def update_body(self, results: RunResults, state: StepState) -> None:
        info = results.dataset
        if info is None:
            self.query_one("#dataset-table", Static).update(Text("No data loaded yet: press n.", style="dim"))
            self.query_one("#class-balance", Static).update("")
            self.query_one("#digits", Static).update("")
            return
        self.query_one("#dataset-table", Static).update(dataset_table(info))
        self.query_one("#class-balance", Static).update(class_balance_table(info))
        strip = DigitStrip(
            info.preview_images, info.preview_labels, shape=info.preview_dims(), names=info.classes
        )
        self.query_one("#digits", Static).update(strip)
