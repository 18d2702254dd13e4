"""The base of every stage's panel: a title line, the stage's error when it failed, then its own body."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.results import RunResults
from pqat_tui.steps import Step, StepState, purpose_of


class StagePanel(VerticalScroll, can_focus=False):
    """Subclasses compose their body and redraw it from RunResults in `update_body`.

    Not focusable itself: the PanelDeck around the panels takes the focus, and its arrows, PageUp/PageDown
    and Home/End scroll the panel on show; the app adds ctrl+d/ctrl+u and keeps j/k for choosing a stage.
    """

    def __init__(self, step: Step) -> None:
        super().__init__(id=f"panel-{step.value}", classes="stage-panel")
        self.step = step
        self.border_title = step.title
        self._shown: tuple[RunResults, StepState, str | None] | None = None  # what it was drawn from

    def compose(self) -> ComposeResult:
        yield Static(classes="panel-title")
        yield Static(classes="panel-error")
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def show_results(self, results: RunResults, state: StepState, error: str | None) -> None:
        # The app refreshes every panel on any news from the engine; most of them have nothing new to draw.
        if (results, state, error) == self._shown:
            return
        self._shown = (results, state, error)
        # The stage's name is the border's title; this line says what the stage does and where it stands.
        purpose = purpose_of(self.step)
        title = Text(purpose[:1].upper() + purpose[1:])
        seconds = results.stage_seconds.get(self.step.value)
        if state is StepState.DONE and seconds is not None:
            title.append(f" · done in {seconds:.1f} s", style="dim")
        elif state is StepState.STALE:
            title.append(" · stale: a setting it reads changed; n or a runs it again", style="yellow")
        elif state is not StepState.DONE:
            title.append(f" · {state.value}", style="dim")
        self.query_one(".panel-title", Static).update(title)
        error_line = self.query_one(".panel-error", Static)
        error_line.display = state is StepState.FAILED and bool(error)
        error_line.update(Text(f"✗ {self.step.title} failed: {error}", style="bold red") if error else "")
        self.update_body(results, state)

    def update_body(self, results: RunResults, state: StepState) -> None:
        """Redraw from the results; called whenever they, the stage's state or its error change."""

    def redraw_next_time(self) -> None:
        """What it shows changed by other means: the next show_results draws even if nothing else did."""
        self._shown = None
