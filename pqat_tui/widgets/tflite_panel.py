"""Convert, Evaluate and PTQ: size of each .tflite raw and zipped, the zeros inside it, its accuracy."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import accuracy_table, tflite_table, tflite_weights_table
from pqat_tui.widgets.layer_table import LayerTable
from pqat_tui.widgets.stage_panel import StagePanel


class TFLitePanel(StagePanel):
    def compose_body(self) -> ComposeResult:
        yield Static(classes="tflite-table")
        # Evaluate shows accuracies; Convert and PTQ the weights inside a file, one row a tensor.
        yield (
            Static(classes="tflite-detail")
            if self.step is Step.EVALUATE
            else LayerTable(classes="tflite-detail")
        )

    def update_body(self, results: RunResults, state: StepState) -> None:
        self.query_one(".tflite-table", Static).update(tflite_table(results))
        if self.step is Step.EVALUATE:
            self.query_one(".tflite-detail", Static).update(accuracy_table(results))
            return
        name = "pqat" if self.step is Step.CONVERT else "ptq"
        self.query_one(LayerTable).show(lambda view: tflite_weights_table(results, name, view))
