"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer recomposes (about 30 key widgets, each restyled) whenever the screen's bindings are
refreshed, which every focus change does: with the focus following j/k from panel to panel that was over
half of a stage switch's time. The keys a panel switch shows are almost always the same, so compare first.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[tuple[str, str, bool, str], ...] | None = None

    def _keys(self, screen: Screen) -> tuple[tuple[str, str, bool, str], ...]:
        return tuple(
            (binding.key, binding.description, enabled, tooltip)
            for _node, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = self._keys(screen)
            if keys == self._shown:
                return
            self._shown = keys
        super().bindings_changed(screen)
