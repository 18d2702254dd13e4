"""Baseline, Prune, QAT and PQAT: progress, live curves, current metrics, test accuracy, sparsity."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static

from engine.events import BatchProgress, EpochEnded, StageStarted
from engine.results import RunResults
from engine.stages import MODEL_OF_STAGE
from pqat_tui.charts import training_charts
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import fmt_accuracy, sparsity_table
from pqat_tui.widgets.stage_panel import StagePanel

SPARSITY_STEPS = (Step.PRUNE, Step.QAT, Step.PQAT)
METRIC_NAMES = ("loss", "accuracy", "val_loss", "val_accuracy")


class TrainingPanel(StagePanel):
    """Live while the stage trains (fed by the app's engine messages), from the results afterwards."""

    def __init__(self, step: Step) -> None:
        super().__init__(step)
        # Where the running epoch has got to: the curves are the finished epochs plus this one point, so
        # they do not depend on which progress messages a busy screen dropped.
        self._current: tuple[float, dict[str, float]] | None = None
        self._epochs: list[tuple[int, dict[str, float]]] = []
        self._total_epochs = 0
        self._latest: dict[str, float] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="progress-row"):
            yield Label("epoch", classes="epoch-label")
            yield ProgressBar(total=1, show_eta=False, classes="epoch-bar")
        with Horizontal(classes="progress-row"):
            yield Label("batch", classes="batch-label")
            yield ProgressBar(total=1, show_eta=False, classes="batch-bar")
        yield Static(classes="metrics")
        with Horizontal(classes="charts"):
            yield Static(classes="loss-chart")
            yield Static(classes="accuracy-chart")
        yield Static(classes="final")
        if self.step in SPARSITY_STEPS:
            yield Static(classes="sparsity")

    # Live updates, in the order the engine sends them.

    def training_started(self, event: StageStarted) -> None:
        self._current = None
        self._epochs.clear()
        self._latest = {}
        self._total_epochs = event.epochs
        self._set_bar("epoch", 0, max(event.epochs, 1), f"epoch 0/{event.epochs}")
        self._set_bar("batch", 0, 1, "batch")
        self._redraw_live()

    def batch_progress(self, event: BatchProgress) -> None:
        self._total_epochs = event.epochs
        self._current = (event.epoch - 1 + event.batch / max(event.batches, 1), dict(event.metrics))
        self._latest = {**self._latest, **event.metrics}
        self._set_bar("epoch", event.epoch - 1, event.epochs, f"epoch {event.epoch}/{event.epochs}")
        self._set_bar("batch", event.batch, event.batches, f"batch {event.batch}/{event.batches}")
        self._redraw_live()

    def epoch_ended(self, event: EpochEnded) -> None:
        self._total_epochs = event.epochs
        self._epochs.append((event.epoch, dict(event.metrics)))
        self._current = None
        self._latest = {**self._latest, **event.metrics}
        self._set_bar("epoch", event.epoch, event.epochs, f"epoch {event.epoch}/{event.epochs}")
        self._redraw_live()

    def forget_live(self) -> None:
        """The stage's output was dropped (a re-run upstream): draw from results again."""
        self._current = None
        self._epochs.clear()
        self._latest = {}

    # Drawing.

    def _set_bar(self, name: str, progress: float, total: float, label: str) -> None:
        self.query_one(f".{name}-bar", ProgressBar).update(total=total, progress=progress)
        self.query_one(f".{name}-label", Label).update(label)

    def _redraw_live(self) -> None:
        current = [self._current] if self._current is not None else []
        self._draw_charts(current, self._epochs, self._total_epochs)
        self.query_one(".metrics", Static).update(_metrics_line(self._latest))

    def _draw_charts(
        self,
        batches: list[tuple[float, dict[str, float]]],
        epochs: list[tuple[int, dict[str, float]]],
        total_epochs: int,
    ) -> None:
        loss, accuracy = training_charts(batches, epochs, total_epochs)
        self.query_one(".loss-chart", Static).update(loss)
        self.query_one(".accuracy-chart", Static).update(accuracy)

    def update_body(self, results: RunResults, state: StepState) -> None:
        stage = self.step.stage
        assert stage is not None
        model = results.models.get(MODEL_OF_STAGE[stage])
        if state is not StepState.RUNNING and not self._epochs and model is not None and model.history:
            # Nothing seen live (e.g. after a re-run upstream): the epochs from the results.
            history = [(e.epoch, dict(e.metrics)) for e in model.history]
            self._draw_charts([], history, len(history))
            self.query_one(".metrics", Static).update(_metrics_line(history[-1][1]))
            epochs = len(history)
            self._set_bar("epoch", epochs, epochs, f"epoch {epochs}/{epochs}")
        elif state in (StepState.PENDING, StepState.STALE) and not self._epochs:
            self._set_bar("epoch", 0, 1, "epoch")
            self._set_bar("batch", 0, 1, "batch")
            self._draw_charts([], [], 1)
            waiting = "Not run yet." if state is StepState.PENDING else "Stale: runs again with new settings."
            self.query_one(".metrics", Static).update(Text(waiting, style="dim"))
        final = self.query_one(".final", Static)
        if model is not None and model.keras_accuracy is not None:
            final.update(Text.assemble("Test accuracy (Keras) ", fmt_accuracy(model.keras_accuracy)))
        else:
            final.update("")
        if self.step in SPARSITY_STEPS:
            self.query_one(".sparsity", Static).update(sparsity_table(results))


def _metrics_line(metrics: dict[str, float]) -> Text:
    if not metrics:
        return Text("waiting for the first batch…", style="dim")
    return Text("  ".join(f"{name} {metrics[name]:.4f}" for name in METRIC_NAMES if name in metrics))
