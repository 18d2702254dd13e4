"""The log pane: the engine's messages, and anything Python prints or warns while the app runs.

Lines wrap to the pane's width, and are wrapped again when the pane changes width: a long line never hides
its end behind a horizontal scrollbar.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual import events
from textual.widgets import RichLog

LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}
MAX_LINES = 2000


class LogPane(RichLog):
    def __init__(self, *, id: str | None = None) -> None:
        # min_width=1: RichLog renders at least 78 columns wide by default, wider than the pane at 80x24.
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=MAX_LINES, min_width=1)
        self._printed = ""  # captured output waits here for the end of its line
        self._entries: deque[Text] = deque(maxlen=MAX_LINES)  # kept to wrap again at a new width
        self._wrapped_at = 0

    def add(self, text: str, level: str = "info") -> None:
        entry = Text(text, style=LEVEL_STYLES.get(level, ""))
        self._entries.append(entry)
        self._write_wrapped(entry)

    def _write_wrapped(self, entry: Text, scroll_end: bool | None = None) -> None:
        # The pane's own width: RichLog measures against the app console, which can lag a resize.
        width = self.scrollable_content_region.width if self._size_known else None
        self.write(entry, width=width or None, scroll_end=scroll_end)

    @property
    def text(self) -> str:
        """Every line as written, before wrapping."""
        return "\n".join(entry.plain for entry in self._entries)

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width and self._wrapped_at and width != self._wrapped_at:
            at_end = self.is_vertical_scroll_end
            self.clear()
            for entry in self._entries:
                self._write_wrapped(entry, scroll_end=False)
            if at_end:
                self.scroll_end(animate=False, immediate=True)
        self._wrapped_at = width

    def on_print(self, event: events.Print) -> None:
        # Warnings and Python-side TensorFlow/absl logging arrive here in pieces, from any thread.
        self._printed += event.text
        *lines, self._printed = self._printed.split("\n")
        for line in lines:
            if line.strip():
                self.add(line.rstrip(), "warning" if event.stderr else "info")
