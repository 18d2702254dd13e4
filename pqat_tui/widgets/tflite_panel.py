"""Convert, Evaluate and PTQ: size of each .tflite raw and zipped, the zeros inside it, its accuracy."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.fit import fit_table
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import accuracy_table, tflite_table, tflite_weights_table
from pqat_tui.widgets.stage_panel import StagePanel


class TFLitePanel(StagePanel):
    def compose_body(self) -> ComposeResult:
        yield Static(classes="tflite-table")
        yield Static(classes="tflite-detail")

    def update_body(self, results: RunResults, state: StepState) -> None:
        self.query_one(".tflite-table", Static).update(fit_table(tflite_table(results)))
        detail = self.query_one(".tflite-detail", Static)
        if self.step is Step.CONVERT:
            detail.update(fit_table(tflite_weights_table(results, "pqat")))
        elif self.step is Step.EVALUATE:
            detail.update(fit_table(accuracy_table(results)))
        else:
            detail.update(fit_table(tflite_weights_table(results, "ptq")))
