"""Baseline, Prune, QAT and PQAT: progress, live curves, current metrics, test accuracy, sparsity (and for
Baseline, what tfmot can do with each layer of the model, known before it trains).

The live part is three Statics of fixed height (progress, metrics, curves) rather than a widget per bar
and chart: a progress message then repaints three widgets and needs no layout pass of the screen, and
switching to the panel stays cheap while TensorFlow competes for the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.widgets import Static

from engine.events import BatchProgress, EpochEnded, StageStarted
from engine.results import RunResults
from engine.stages import MODEL_OF_STAGE
from pqat_tui.charts import training_charts
from pqat_tui.layer_tables import support_panel
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import fmt_accuracy, sparsity_panel
from pqat_tui.widgets.layer_table import LayerTable
from pqat_tui.widgets.stage_panel import StagePanel

SPARSITY_STEPS = (Step.PRUNE, Step.QAT, Step.PQAT)
METRIC_NAMES = ("loss", "accuracy", "val_loss", "val_accuracy")
Sample = tuple[float, dict[str, float]]  # (fractional epoch, metrics) while an epoch runs
EpochPoint = tuple[int, dict[str, float]]  # (epoch, metrics) at an epoch's end
# The rows a panel keeps for everything but the charts' plots (title, bars, metrics, the charts' title and
# legend, the test accuracy, margins); the plots take what is left, within these bounds.
ROWS_BESIDE_CHARTS = 12
CHART_ROWS = (5, 16)
# A chart is at most ~200 braille dots wide, so the running epoch's point moves the curve by a dot at most
# every 1/200 of the x axis: drawing the charts (a live update's dearest part) more often shows nothing new.
LIVE_POINT_STEPS = 200


def chart_rows(panel_rows: int, *, shares_with_table: bool) -> int:
    """Plot rows for a panel `panel_rows` high: the spare rows, half of them where a table follows."""
    spare = panel_rows - ROWS_BESIDE_CHARTS
    if shares_with_table:
        spare //= 2
    low, high = CHART_ROWS
    return min(max(spare, low), high)


@dataclass(frozen=True)
class Progress:
    epoch: int = 0  # epochs finished
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    current_epoch: int = 0  # the epoch running now (1-based), or the last one once finished


def progress_bars(progress: Progress) -> Table:
    """Epoch and batch progress as two labelled bars (no clock: nothing here depends on time)."""
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(width=13, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_column(width=4, justify="right", no_wrap=True)
    rows = (
        (
            f"epoch {progress.current_epoch}/{progress.epochs}" if progress.epochs else "epoch",
            progress.epoch,
            progress.epochs,
        ),
        (
            f"batch {progress.batch}/{progress.batches}" if progress.batches else "batch",
            progress.batch,
            progress.batches,
        ),
    )
    for label, done, total in rows:
        fraction = done / total if total else 0.0
        grid.add_row(label, ProgressBar(total=max(total, 1), completed=done), f"{fraction:.0%}")
    return grid


class TrainingPanel(StagePanel):
    """Live while the stage trains (fed by the app's engine messages), from the results afterwards."""

    def __init__(self, step: Step, *, model: str | None = None) -> None:
        """`model`: the name under results.models the stage writes (default: the `pqat` stage's)."""
        super().__init__(step)
        self.model = model or MODEL_OF_STAGE[step.stage]  # type: ignore[index]
        # The per-layer sparsity table where the stage prunes or keeps a pruned model's zeros.
        spec = step.spec
        self.shows_sparsity = step in SPARSITY_STEPS or (
            spec is not None and spec.technique in ("prune", "qat", "cluster") and step is not Step.BASELINE
        )
        # Where the running epoch has got to: the curves are the finished epochs plus this one point, so
        # they do not depend on which progress messages a busy screen dropped.
        self._current: tuple[float, dict[str, float]] | None = None
        self._epochs: list[tuple[int, dict[str, float]]] = []
        self._total_epochs = 0
        self._latest: dict[str, float] = {}
        self._progress = Progress()
        self._chart_rows = CHART_ROWS[0]
        self._charted: tuple[list[Sample], list[EpochPoint], int] = ([], [], 1)  # what the charts show

    @property
    def progress(self) -> Progress:
        return self._progress

    def compose_body(self) -> ComposeResult:
        yield Static(classes="progress")
        yield Static(classes="metrics")
        yield Static(classes="charts")
        yield Static(classes="final")
        if self.step is Step.BASELINE:
            yield LayerTable(classes="model-support")
        if self.shows_sparsity:
            yield LayerTable(classes="sparsity")

    # Live updates, in the order the engine sends them.

    def training_started(self, event: StageStarted) -> None:
        self._current = None
        self._epochs.clear()
        self._latest = {}
        self._total_epochs = event.epochs
        self._progress = Progress(0, event.epochs)
        self._redraw_live()

    def batch_progress(self, event: BatchProgress) -> None:
        self._total_epochs = event.epochs
        self._current = (event.epoch - 1 + event.batch / max(event.batches, 1), dict(event.metrics))
        self._latest = {**self._latest, **event.metrics}
        self._progress = Progress(event.epoch - 1, event.epochs, event.batch, event.batches, event.epoch)
        charted = self._charted[0]
        moved = (
            not charted or abs(self._current[0] - charted[-1][0]) >= max(event.epochs, 1) / LIVE_POINT_STEPS
        )
        self._redraw_live(charts=moved)

    def epoch_ended(self, event: EpochEnded) -> None:
        self._total_epochs = event.epochs
        self._epochs.append((event.epoch, dict(event.metrics)))
        self._current = None
        self._latest = {**self._latest, **event.metrics}
        batches = self._progress.batches
        self._progress = Progress(event.epoch, event.epochs, batches, batches, event.epoch)
        self._redraw_live()

    def forget_live(self) -> None:
        """The stage's output was dropped (a re-run upstream): draw from results again."""
        if self._current is None and not self._epochs:
            return  # nothing live was drawn: what the results draw is already there
        self._current = None
        self._epochs.clear()
        self._latest = {}
        self._progress = Progress()
        self.redraw_next_time()

    # Drawing. Fixed heights in the stylesheet: these updates repaint without a layout pass.

    def on_resize(self, event: events.Resize) -> None:
        # Charts grow with the terminal; only on a resize, so live updates still need no layout pass.
        height = self.scrollable_content_region.height
        rows = chart_rows(height, shares_with_table=self.shows_sparsity)
        if rows != self._chart_rows:
            self._chart_rows = rows
            self.query_one(".charts", Static).styles.height = rows + 2  # + the title and legend lines
            self._draw_charts(*self._charted)

    def _update(self, name: str, content: RenderableType) -> None:
        self.query_one(f".{name}", Static).update(content, layout=False)

    def _redraw_live(self, *, charts: bool = True) -> None:
        current = [self._current] if self._current is not None else []
        self._draw(current, self._epochs, self._total_epochs, self._latest, charts=charts)

    def _draw(
        self,
        current: list[tuple[float, dict[str, float]]],
        epochs: list[tuple[int, dict[str, float]]],
        total_epochs: int,
        metrics: dict[str, float],
        *,
        charts: bool = True,
    ) -> None:
        self._update("progress", progress_bars(self._progress))
        self._update("metrics", _metrics_line(metrics))
        if charts:
            self._draw_charts(current, epochs, total_epochs)

    def _draw_charts(self, current: list[Sample], epochs: list[EpochPoint], total_epochs: int) -> None:
        self._charted = (list(current), list(epochs), total_epochs)
        loss, accuracy = training_charts(current, epochs, total_epochs, height=self._chart_rows)
        charts = Table.grid(expand=True, padding=(0, 1))
        charts.add_column(ratio=1)
        charts.add_column(ratio=1)
        charts.add_row(loss, accuracy)
        self._update("charts", charts)

    def update_body(self, results: RunResults, state: StepState) -> None:
        model = results.models.get(self.model)
        if state is not StepState.RUNNING and not self._epochs and model is not None and model.history:
            # Nothing seen live (e.g. a resumed run): the epochs from the results.
            history = [(e.epoch, dict(e.metrics)) for e in model.history]
            self._progress = Progress(len(history), len(history), current_epoch=len(history))
            self._draw([], history, len(history), history[-1][1])
        elif state in (StepState.PENDING, StepState.STALE) and not self._epochs:
            self._progress = Progress()
            self._draw([], [], 1, {})
            waiting = "Not run yet." if state is StepState.PENDING else "Stale: runs again with new settings."
            self._update("metrics", Text(waiting, style="dim"))
        final = self.query_one(".final", Static)
        if model is not None and model.keras_accuracy is not None:
            final.update(Text.assemble("Test accuracy (Keras) ", fmt_accuracy(model.keras_accuracy)))
        else:
            final.update("")
        if self.step is Step.BASELINE:
            self.query_one(LayerTable).show(lambda view: support_panel(results.layer_support, view))
        if self.shows_sparsity:
            self.query_one(LayerTable).show(lambda view: sparsity_panel(results, view))


def _metrics_line(metrics: dict[str, float]) -> Text:
    if not metrics:
        return Text("waiting for the first batch…", style="dim")
    return Text("  ".join(f"{name} {metrics[name]:.4f}" for name in METRIC_NAMES if name in metrics))
