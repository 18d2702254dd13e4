"""The `?` screen: every key and what each stage does."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pqat_tui.keymap import APP_BINDINGS, NAVIGATION_KEYS
from pqat_tui.steps import STEP_PURPOSE


def help_renderable() -> Group:
    keys = Table(title="Keys", title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
    keys.add_column("key", style="bold", no_wrap=True)
    keys.add_column("what it does")
    for binding in APP_BINDINGS:
        keys.add_row(
            binding.key_display or binding.key.replace(",", " / "), binding.tooltip or binding.description
        )
    for key, what in NAVIGATION_KEYS:
        keys.add_row(key, what)
    keys.add_row("ctrl+p", "Command palette: every action by name")
    stages = Table(title="Stages", title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
    stages.add_column("stage", style="bold", no_wrap=True)
    stages.add_column("what it does")
    for step, purpose in STEP_PURPOSE.items():
        stages.add_row(step.title, purpose)
    note = Text(
        "A stage runs once the stages it reads are done; re-running one makes its downstream pending.",
        style="dim",
    )
    return Group(keys, Text(""), stages, Text(""), note)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="close_help", key_display="esc"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(help_renderable(), id="help-text")
            yield Static(Text("esc closes", style="dim"), id="help-close")
