"""Convert, Evaluate and PTQ: size of each .tflite raw and zipped, the zeros inside it, its accuracy.

Evaluate shows more: each deployed file's latency against the float reference, accuracy per class, the
confusion matrix and the test images whose prediction changed, of one model at a time (m picks the next,
] and [ step through the pictures, i inspects the file).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.deployed import deployed_label
from pqat_tui.evaluation_tables import (
    DEPLOYED,
    DEPLOYED_LABELS,
    ChangedImagesView,
    ModelColumn,
    changed_of,
    changed_table,
    confusion_table,
    latency_line,
    latency_view,
    per_class_view,
)
from pqat_tui.fit import fit_table
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import tflite_table, tflite_weights_table
from pqat_tui.widgets.layer_table import LayerTable
from pqat_tui.widgets.stage_panel import StagePanel

DEFAULT_SHOWN = "pqat"


class TFLitePanel(StagePanel):
    """Convert and PTQ (which also says how its file does against float, as Evaluate does for the others)."""

    def __init__(self, step: Step, models: tuple[str, ...] = ()) -> None:
        """`models`: the files the stage makes (a recipe's convert or ptq stage); its last is detailed."""
        super().__init__(step)
        self.models = models

    def compose_body(self) -> ComposeResult:
        if self.step is Step.PTQ:
            yield Static(id="ptq-headline", classes="evaluate-part")
        yield Static(classes="tflite-table")
        yield LayerTable(classes="tflite-detail")  # the weights inside the file, one row a tensor

    def update_body(self, results: RunResults, state: StepState) -> None:
        if self.step is Step.PTQ:
            self.query_one("#ptq-headline", Static).update(_headlines(results, ("ptq",)))
        own = self.step not in (Step.CONVERT, Step.PTQ) and self.models  # a recipe's other convert or ptq
        self.query_one(".tflite-table", Static).update(
            fit_table(tflite_table(results, self.models if own else None))
        )
        name = "pqat" if self.step is Step.CONVERT else "ptq"
        if own:
            name = self.models[-1]
        self.query_one(LayerTable).show(lambda view: tflite_weights_table(results, name, view))


class EvaluatePanel(StagePanel):
    """What the deployed files really do, one model's confusion and changed images at a time."""

    def __init__(self, step: Step = Step.EVALUATE, models: tuple[str, ...] = ()) -> None:
        """`models`: the files this evaluate stage measures (default: the `pqat` recipe's deployed files)."""
        super().__init__(step)
        self.models = DEPLOYED if step is Step.EVALUATE or not models else models
        self.shown = DEFAULT_SHOWN if DEFAULT_SHOWN in self.models else self.models[0]
        self.picture: dict[str, int] = {}
        self._results = RunResults()

    def compose_body(self) -> ComposeResult:
        yield Static(id="evaluate-headlines", classes="evaluate-part")
        yield Static(id="latency", classes="evaluate-part")
        yield Static(classes="tflite-table")
        yield Static(id="per-class", classes="evaluate-part")
        yield Static(id="changed-counts", classes="evaluate-part")
        yield Static(id="shown-model", classes="evaluate-part")
        yield Static(id="confusion", classes="evaluate-part")
        yield Static(id="changed-images", classes="evaluate-part")

    def update_body(self, results: RunResults, state: StepState) -> None:
        self._results = results
        own = self.step is not Step.EVALUATE  # a recipe's other evaluate stage: its own files
        self.query_one("#evaluate-headlines", Static).update(
            _headlines(results, self.models) if own else _headlines(results)
        )
        self.query_one("#latency", Static).update(latency_view(results, self.models if own else ()))
        self.query_one(".tflite-table", Static).update(
            fit_table(tflite_table(results, self.models if own else None))
        )
        self.query_one("#per-class", Static).update(per_class_view(results))
        self.query_one("#changed-counts", Static).update(changed_table(results))
        self._draw_shown()

    # The shown model (keys m, ], [ through the app).

    def available(self) -> list[str]:
        """The .tflite files with figures to show, in pipeline order."""
        models = self._results.models
        return [n for n in self.models if n in models and models[n].tflite and models[n].tflite.classes]

    def next_model(self) -> str | None:
        available = self.available()
        if not available:
            return None
        position = available.index(self.shown) if self.shown in available else -1
        self.shown = available[(position + 1) % len(available)]
        self._draw_shown()
        return self.shown

    def step_picture(self, step: int) -> tuple[int, int] | None:
        """Move through the shown model's changed images; (first shown, how many) or None without any."""
        changed = changed_of(self._results, self.shown)
        pictured = [image for image in changed.images if image.pixels] if changed else []
        if not pictured:
            return None
        position = max(0, min(len(pictured) - 1, self.picture.get(self.shown, 0) + step))
        self.picture[self.shown] = position
        self._draw_shown()
        return position, len(pictured)

    def _draw_shown(self) -> None:
        available = self.available()
        if available and self.shown not in available:
            self.shown = DEFAULT_SHOWN if DEFAULT_SHOWN in available else available[0]
        label = DEPLOYED_LABELS.get(self.shown, self.shown)
        heading = Text.assemble(
            (f"{label} .tflite", "bold reverse"),
            ("  m next model · ] [ step through its changed images · i inspect the file", "dim"),
        )
        self.query_one("#shown-model", Static).update(heading if available else "")
        shown = ModelColumn(self.shown, tflite=True)
        self.query_one("#confusion", Static).update(
            confusion_table(self._results, shown) if available else ""
        )
        pictures = ChangedImagesView(self._results, self.shown, self.picture.get(self.shown, 0))
        self.query_one("#changed-images", Static).update(pictures if available else "")


def _headlines(results: RunResults, names: tuple[str, ...] = ("qat", "pqat", "ptq")) -> Text:
    """A line a deployed file: its speed against float, accuracy, and what it changed."""
    lines = []
    for name in names:
        line = latency_line(results, name)
        model = results.models.get(name)
        accuracy = model.tflite.accuracy if model and model.tflite else None
        if line is None and accuracy is None:
            continue
        text = Text(line or f"{DEPLOYED_LABELS.get(name) or deployed_label(name)} int8", style="bold")
        if accuracy is not None:
            text.append(f" · accuracy {accuracy:.4f}")
        changed = changed_of(results, name)
        if changed is not None:
            text.append(" · ")
            text.append(f"{changed.fixed} fixed", style="green")
            text.append(", ")
            text.append(f"{changed.broken} broken", style="red")
        lines.append(text)
    if not lines:
        return Text(
            "Not evaluated yet: Evaluate times each .tflite file and compares it with float.", style="dim"
        )
    return Text("\n").join(lines)
