"""The stage panels, one shown at a time, and the focus for whichever is shown.

The deck, not each panel, takes the focus: switching stage with j/k then moves no focus. A focus change
restyles every widget of the panel losing it and of the panel gaining it (Textual's :focus and
:focus-within), which was about 20 ms of each key's time to screen, the bulk of a stage switch.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import ContentSwitcher

from pqat_tui.widgets.stage_panel import StagePanel


class PanelDeck(ContentSwitcher, can_focus=True):
    """Focused, its keys scroll the shown panel: arrows, PageUp/PageDown and Home/End."""

    BINDINGS = [
        Binding(key, f"scroll_shown('{action}')", description, show=False)
        for key, action, description in (
            ("up", "scroll_up", "Scroll up"),
            ("down", "scroll_down", "Scroll down"),
            ("home", "scroll_home", "Top"),
            ("end", "scroll_end", "Bottom"),
            ("pageup", "page_up", "Page up"),
            ("pagedown", "page_down", "Page down"),
        )
    ]

    @property
    def shown(self) -> StagePanel | None:
        """The panel on show (None before the first one is mounted)."""
        found = self.query_children(f"#{self.current}") if self.current else None
        panel = found.first() if found else None
        return panel if isinstance(panel, StagePanel) else None

    def action_scroll_shown(self, action: str) -> None:
        """The shown panel's own scroll action (Widget's action_scroll_up, action_page_down, ...)."""
        if (panel := self.shown) is not None:
            getattr(panel, f"action_{action}")()
