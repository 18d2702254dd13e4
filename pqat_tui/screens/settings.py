"""The `s` screen: every config value, edited in place and checked as it is typed.

The same rules as the config file and the command line (engine.config_file): a value is refused with the
same one-line message naming the key, the value and what is allowed. Saving dismisses the screen with the
new PipelineConfig (None when nothing changed or on escape); the app decides what that makes stale.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from engine.config import PipelineConfig
from engine.config_file import (
    SECTION_HELP,
    ConfigError,
    get_setting,
    parse_setting,
    rule_for,
    setting_keys,
    with_setting,
)


def setting_text(value: object) -> str:
    """A value as a person types it: no quotes around strings, floats as Python writes them."""
    return str(value)


def input_id(key: str) -> str:
    return "setting-" + key.replace(".", "--")


class SettingsScreen(ModalScreen[PipelineConfig | None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings_save", tooltip="Check every value and apply them"),
        Binding("escape", "close", "Cancel", id="settings_cancel", tooltip="Close without changing anything"),
        # Priority: the scrolling list around the fields would take the arrows for scrolling otherwise.
        Binding("down", "app.focus_next", "Next value", id="settings_next", show=False, priority=True),
        Binding(
            "up", "app.focus_previous", "Previous value", id="settings_previous", show=False, priority=True
        ),
    ]

    def __init__(self, config: PipelineConfig) -> None:
        super().__init__()
        self.config = config
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-dialog"):
            yield Static(
                "Settings · ↑/↓ or tab move · enter saves · esc cancels · "
                "a change makes its stage and those after it stale",
                id="settings-hint",
            )
            # Not focusable: tab, shift+tab and the arrows go from field to field, never to the list itself.
            with VerticalScroll(id="settings-list", can_focus=False):
                section = ""
                for key in recipe_setting_keys(self.config):
                    current_section = key.rpartition(".")[0]
                    if current_section != section:
                        section = current_section
                        title = Text(f"[{section}] {SECTION_HELP.get(section, '')}")
                        yield Static(title, classes="settings-section")
                    with Horizontal(classes="settings-row"):
                        yield Label(key, classes="settings-key")
                        yield Input(
                            setting_text(get_setting(self.config, key)),
                            id=input_id(key),
                            classes="settings-value",
                            tooltip=f"{rule_for(key).help}: {rule_for(key).allowed}",
                        )
                        yield Label(rule_for(key).help, classes="settings-help")
            yield Static("", id="settings-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(f"#{input_id(recipe_setting_keys(self.config)[0])}", Input).focus()

    def _key_of(self, widget: Input) -> str:
        return next(key for key in recipe_setting_keys(self.config) if input_id(key) == widget.id)

    @on(Input.Changed)
    def _check(self, event: Input.Changed) -> None:
        key = self._key_of(event.input)
        try:
            parse_setting(key, event.value)
        except ConfigError as error:
            self.errors[key] = str(error)
        else:
            self.errors.pop(key, None)
        event.input.set_class(key in self.errors, "-invalid")
        self._show_error(self.errors.get(key) or next(iter(self.errors.values()), ""))

    def _show_error(self, message: str) -> None:
        self.query_one("#settings-error", Static).update(message)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    def edited_config(self) -> PipelineConfig:
        """The config the inputs describe; ConfigError (the first invalid value) if one is invalid."""
        config = self.config
        for key in recipe_setting_keys(self.config):
            text = self.query_one(f"#{input_id(key)}", Input).value
            config = with_setting(config, key, parse_setting(key, text))
        return config

    def action_save(self) -> None:
        try:
            config = self.edited_config()
        except ConfigError as error:
            self._show_error(str(error))
            if error.key:
                self.query_one(f"#{input_id(error.key)}", Input).focus()
            self.notify(str(error), title="Not saved", severity="error", markup=False)
            return
        self.dismiss(None if config == self.config else config)

    def action_close(self) -> None:
        self.dismiss(None)


def recipe_setting_keys(config: PipelineConfig) -> list[str]:
    """The keys the dialog lists: the top-level ones and those of the sections the config's recipe reads
    (the `pqat` recipe's five; `collaborative` adds its branches')."""
    from engine.recipe import recipe_of

    sections = {spec.section for spec in recipe_of(config).stages if spec.section}
    return [key for key in setting_keys(config) if "." not in key or key.split(".", 1)[0] in sections]
