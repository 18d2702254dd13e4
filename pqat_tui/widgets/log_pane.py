"""The log pane: the engine's messages, and anything Python prints or warns while the app runs."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import RichLog

LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}


class LogPane(RichLog):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=2000)
        self._printed = ""  # captured output waits here for the end of its line

    def add(self, text: str, level: str = "info") -> None:
        self.write(Text(text, style=LEVEL_STYLES.get(level, "")))

    def on_print(self, event: events.Print) -> None:
        # Warnings and Python-side TensorFlow/absl logging arrive here in pieces, from any thread.
        self._printed += event.text
        *lines, self._printed = self._printed.split("\n")
        for line in lines:
            if line.strip():
                self.add(line.rstrip(), "warning" if event.stderr else "info")
