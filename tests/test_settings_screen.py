"""The settings screen on its own: the config's values, checked as typed, saved as a new config."""

from __future__ import annotations

from dataclasses import replace

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from engine.config import PipelineConfig
from engine.config_file import changed_settings, setting_keys
from pqat_tui.screens.settings import SettingsScreen, input_id, recipe_setting_keys


class Host(App[None]):
    def __init__(self, config: PipelineConfig) -> None:
        super().__init__()
        self.config = config
        self.answers: list[PipelineConfig | None] = []

    def compose(self) -> ComposeResult:
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(SettingsScreen(self.config), self.answers.append)


def _input(app: App[None], key: str) -> Input:
    return app.screen.query_one(f"#{input_id(key)}", Input)


async def test_every_setting_is_shown_with_its_value() -> None:
    config = PipelineConfig(data="sample")
    app = Host(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert [_input(app, key).value for key in ("data", "prune.sparsity", "prune.learning_rate")] == [
            "sample",
            "0.5",
            "1e-05",
        ]
        assert len(app.screen.query(Input)) == len(recipe_setting_keys(config))
        # The pqat recipe's sections only; the collaborative branches' appear with their recipe.
        assert len(recipe_setting_keys(config)) == 26
        collaborative = replace(config, recipe=replace(config.recipe, name="collaborative"))
        assert len(recipe_setting_keys(collaborative)) == len(setting_keys(config))


async def test_an_invalid_value_is_named_and_not_saved_until_fixed() -> None:
    app = Host(PipelineConfig())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        sparsity = _input(app, "prune.sparsity")
        sparsity.value = "1.5"
        await pilot.pause()
        error = app.screen.query_one("#settings-error", Static)
        assert str(error.render()) == "prune.sparsity = '1.5': must be a number in [0, 1)"
        assert sparsity.has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.answers == [] and isinstance(app.screen, SettingsScreen)
        assert app.screen.focused is sparsity
        sparsity.value = "0.75"
        _input(app, "baseline.epochs").value = "2"
        await pilot.pause()
        assert not sparsity.has_class("-invalid")
        await pilot.press("enter")
        await pilot.pause()
    (saved,) = app.answers
    assert saved is not None
    changes = changed_settings(PipelineConfig(), saved)
    assert changes == [("baseline.epochs", 10, 2), ("prune.sparsity", 0.5, 0.75)]


async def test_escape_or_no_change_gives_nothing() -> None:
    app = Host(PipelineConfig())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        _input(app, "seed").value = "3"
        await pilot.press("escape")
        await pilot.pause()
    assert app.answers == [None]
    app = Host(PipelineConfig())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.answers == [None]


async def test_wrong_types_are_refused_like_the_config_file() -> None:
    app = Host(PipelineConfig())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        epochs = _input(app, "qat.epochs")
        for text, message in [
            ("2.5", "qat.epochs = '2.5': must be an integer >= 1"),
            ("0", "qat.epochs = '0': must be an integer >= 1"),
            ("ten", "qat.epochs = 'ten': must be an integer >= 1"),
        ]:
            epochs.value = text
            await pilot.pause()
            assert str(app.screen.query_one("#settings-error", Static).render()) == message
