"""The command palette's "pipeline" commands: every key's action, found by name (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from pqat_tui.keymap import APP_BINDINGS


class PipelineCommands(Provider):
    """Offers each Binding of the app (see keymap.py) by its description and tooltip."""

    def _commands(self) -> list[tuple[str, str, str]]:
        return [
            (f"{binding.tooltip or binding.description}", binding.action, binding.key_display or binding.key)
            for binding in APP_BINDINGS
        ]

    async def discover(self) -> Hits:
        for title, action, key in self._commands():
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, key in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self.app.run_action, action), help=f"key: {key}"
                )
