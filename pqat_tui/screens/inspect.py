"""The Inspector (key i): what is inside a deployed .tflite file, as `pqat-tui inspect` prints it.

The file is read and inspected in a thread worker (a large model takes a moment), then drawn with the same
tables as the command line; the tensor table lays itself out for the dialog's width.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.tflite_inspect import NotATFLiteFile, TFLiteContents, inspect_tflite
from pqat_tui.inspect_tables import inspection


class InspectScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,i", "dismiss", "Close", id="close_inspect", key_display="esc"),
    ]

    class Inspected(Message):
        def __init__(self, contents: TFLiteContents | None, error: str = "") -> None:
            super().__init__()
            self.contents = contents
            self.error = error

    def __init__(self, label: str, read: Callable[[], bytes | None]) -> None:
        """`label` names the file (e.g. `PQAT .tflite`); `read` returns its bytes, or None without one."""
        super().__init__()
        self.label = label
        self.read = read

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="inspect-dialog"):
            yield Static(Text(f"Reading {self.label}…", style="dim"), id="inspect-text")
            yield Static(Text("esc closes · arrows and page keys scroll", style="dim"), id="inspect-close")

    def on_mount(self) -> None:
        self.query_one("#inspect-dialog").border_title = f"Inspector: {self.label}"
        self._inspect()

    @work(thread=True, exclusive=True, group="inspect")
    def _inspect(self) -> None:
        try:
            content = self.read()
            if content is None:
                self.post_message(self.Inspected(None, f"{self.label}: no file yet (run its stage first)"))
                return
            self.post_message(self.Inspected(inspect_tflite(content, self.label)))
        except (NotATFLiteFile, OSError) as error:
            self.post_message(self.Inspected(None, str(error)))

    @on(Inspected)
    def _show(self, message: Inspected) -> None:
        text = self.query_one("#inspect-text", Static)
        if message.contents is None:
            text.update(Text(message.error, style="bold red"))
        else:
            text.update(inspection(message.contents))
        self.query_one("#inspect-dialog").focus()
