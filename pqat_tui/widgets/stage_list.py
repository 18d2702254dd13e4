"""The stage list down the left: each stage's state and, once done, its headline figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from pqat_tui.steps import Step, StepState

STATE_ICONS = {
    StepState.PENDING: "·",
    StepState.RUNNING: "▶",
    StepState.DONE: "✓",
    StepState.FAILED: "✗",
    StepState.CANCELLED: "-",
    StepState.STALE: "~",
}
STATE_STYLES = {
    StepState.PENDING: "dim",
    StepState.RUNNING: "bold",
    StepState.DONE: "green",
    StepState.FAILED: "bold red",
    StepState.CANCELLED: "yellow",
    StepState.STALE: "yellow",
}


@dataclass(frozen=True)
class StageRow:
    step: Step
    state: StepState
    figure: str  # the headline once done, the progress while running, "" otherwise
    depth: int = 0  # how far the recipe's tree indents it (0 for every row of `pqat`)

    @property
    def name(self) -> str:
        return " " * self.depth + self.step.title

    def label(self) -> str:
        if self.state is StepState.DONE:
            return self.figure or "done"
        if self.state is StepState.RUNNING and self.figure:
            return self.figure
        return self.state.value


class StageList(Widget, can_focus=True):
    """One row a stage; the selected row is highlighted.

    j/k choose a stage from anywhere (the app's keys); with the list focused the arrows and Home/End do too,
    and enter moves the focus to the stage's panel.
    """

    COMPONENT_CLASSES = {"stage-list--selected"}
    BINDINGS = [
        Binding("down", "app.select_next", "Down", show=False),
        Binding("up", "app.select_previous", "Up", show=False),
        Binding("home", "app.select_first", "First stage", show=False),
        Binding("end", "app.select_last", "Last stage", show=False),
        Binding("enter", "app.focus_panel", "Panel", show=False),
    ]

    selected: reactive[Step] = reactive(Step.DATA)

    class Clicked(Message):
        def __init__(self, step: Step) -> None:
            super().__init__()
            self.step = step

    def __init__(self, steps: Sequence[Step] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: tuple[StageRow, ...] = tuple(
            StageRow(step, StepState.PENDING, "") for step in (steps or list(Step))
        )

    def show(self, rows: Sequence[StageRow]) -> None:
        rows = tuple(rows)
        if rows != self._rows:
            self._rows = rows
            self.refresh()

    def row(self, step: Step) -> StageRow:
        return next(r for r in self._rows if r.step is step)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._rows)  # the stylesheet's max-height may cut it: render shows a window then

    def _first_shown(self) -> int:
        """The first row shown: 0, unless the rows outnumber the lines and the selected one needs a window."""
        lines = self.content_size.height
        if lines <= 0 or len(self._rows) <= lines:
            return 0
        selected = next((i for i, r in enumerate(self._rows) if r.step is self.selected), 0)
        return max(0, min(selected - lines // 2, len(self._rows) - lines))

    def render(self) -> Text:
        width = max(self.content_size.width, 20)
        selected_style = self.get_component_rich_style("stage-list--selected")
        lines = []
        first = self._first_shown()
        for row in self._rows[first:]:
            label = row.label()
            if len(label) + len(row.name) + 3 > width:
                label = label.replace(" · ", " ")  # "ep 10/10 · 45%" loses its dot before it is cut
            name_width = width - len(label) - 3
            name = row.name if len(row.name) <= name_width else row.name[: max(name_width - 1, 1)] + "…"
            line = Text.assemble(
                (f"{STATE_ICONS[row.state]} ", STATE_STYLES[row.state]),
                (f"{name:<{name_width}} ", "bold" if row.state is StepState.RUNNING else ""),
                (label, STATE_STYLES[row.state] if row.state is not StepState.DONE else ""),
            )
            line.pad_right(width - line.cell_len)
            if row.step is self.selected:
                line.stylize(selected_style)
            lines.append(line)
        return Text("\n").join(lines)

    def on_click(self, event: events.Click) -> None:
        row = event.y + self._first_shown()
        if 0 <= row < len(self._rows):
            self.post_message(self.Clicked(self._rows[row].step))
