"""The question `q` asks while a stage runs: stop it and quit (y), keep it running in the background (d), or
stay (n / escape). Its text follows the engine: it names the stage running now, not the one that ran when
the dialog opened."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from pqat_tui.screens.confirm import ConfirmScreen


class QuitScreen(ConfirmScreen):
    """Answers True (stop and quit) or False (stay); `d` runs the app's detach action instead."""

    BINDINGS = [
        *ConfirmScreen.BINDINGS,
        Binding("d", "detach", "Keep running", id="quit_detach"),
    ]

    def __init__(self, question: str, *, can_detach: bool = True) -> None:
        super().__init__(question)
        self.can_detach = can_detach

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="-quit"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Stop and quit (y)", id="yes", variant="error")
                if self.can_detach:
                    yield Button("Keep running (d)", id="detach", variant="success")
                yield Button("Stay (n)", id="no", variant="primary")

    def ask(self, question: str) -> None:
        """The running stage changed (or ended) while the dialog was open."""
        self.question = question
        self.query_one("#confirm-question", Static).update(question)

    def action_detach(self) -> None:
        if not self.can_detach:
            return
        self.dismiss(False)
        self.app.call_later(self.app.run_action, "detach")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "detach":
            event.stop()
            self.action_detach()
            return
        super().on_button_pressed(event)
