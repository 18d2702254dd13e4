"""A per-layer table in a panel: the largest rows of a large model, the full list one key away (l), and a
filter by name typed into a field that `/` opens.

The panel hands over a function from a LayerView to a renderable (pqat_tui.layer_tables does the work);
this widget keeps the view and redraws when it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rich.console import RenderableType
from rich.measure import Measurement
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static

from pqat_tui.layer_tables import LayerView

Render = Callable[[LayerView], RenderableType]
# How a compacted table tells the user what the keys do.
APP_HINT = "l lists all, / filters by name"
FILTER_PAUSE_S = 0.15


class LayerFilter(Input):
    """The name filter: typing filters at once; enter keeps the filter, escape clears it, both close."""

    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("enter", "close_filter", "Keep filter", show=False),
    ]

    def action_clear_filter(self) -> None:
        self.value = ""
        self.action_close_filter()

    def action_close_filter(self) -> None:
        self.display = False
        # Back to what holds the focus for the panel (the app's panel deck): the arrows scroll it again.
        holder = next((node for node in self.ancestors if isinstance(node, Widget) and node.focusable), None)
        self.screen.set_focus(holder)


class LayerTable(Vertical):
    """One per-layer table (support, sparsity, .tflite weights) with its view: compact or full, filtered."""

    DEFAULT_CSS = """
    LayerTable { height: auto; }
    LayerTable > LayerFilter { display: none; margin: 0 0 1 0; width: 60; }
    LayerTable > Static { height: auto; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.view = LayerView(hint=APP_HINT)
        self._table_of: Render | None = None
        self._typing: Timer | None = None
        self.shown: RenderableType = ""  # what the table draws now
        self._drawn_width = 0  # the width `shown` was fitted to

    def compose(self) -> ComposeResult:
        yield LayerFilter(placeholder="filter layers by name (enter keeps it, esc clears it)")
        yield Static(classes="layer-table-body")

    def show(self, render: Render | None) -> None:
        """Draw with `render` from now on (None: nothing to show)."""
        self._table_of = render
        self._redraw()

    def toggle_full(self) -> None:
        self.view = LayerView(full=not self.view.full, name_filter=self.view.name_filter, hint=APP_HINT)
        self._redraw()

    def open_filter(self) -> None:
        field = self.query_one(LayerFilter)
        field.display = True
        field.focus()

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.view = LayerView(full=self.view.full, name_filter=event.value.strip(), hint=APP_HINT)
        # Drawn once typing pauses: a full list of 250 weights takes a moment to lay out.
        if self._typing is not None:
            self._typing.stop()
        self._typing = self.set_timer(FILTER_PAUSE_S, self._redraw)

    @on(Input.Submitted)
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()

    def on_resize(self, event: events.Resize) -> None:
        self._redraw_if_resized()

    def on_show(self, event: events.Show) -> None:
        # A hidden panel has no width to fit: it is drawn again when it is switched to, if it changed width.
        self._redraw_if_resized()

    def _redraw_if_resized(self) -> None:
        if self.content_region.width != self._drawn_width:
            self._redraw()

    def _redraw(self) -> None:
        self._drawn_width = self.content_region.width
        self.shown = "" if self._table_of is None else self._fitting(self._table_of)
        self.query_one(".layer-table-body", Static).update(self.shown)

    def _fitting(self, table_of: Render) -> RenderableType:
        """The table as it is where it fits the panel's width (wrapping its notes, never cutting a word or a
        number), else its narrow form."""
        wide = table_of(self.view)
        width = self.content_region.width
        unbounded = self.app.console.options.update_width(10_000)
        if not width or Measurement.get(self.app.console, unbounded, wide).minimum <= width:
            return wide
        return table_of(replace(self.view, narrow=True))
