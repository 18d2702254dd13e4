"""The Evaluate panel's keys (m, ], [, i) and what it draws, over the scripted fake engine; and the same
figures read back from results.json, as after a resume (pictures included, no dataset needed)."""

from __future__ import annotations

import io
import json
import threading

from fake_engine import FakeEngine
from rich.console import Console
from test_app import idle, make_app, wait_for
from textual.widgets import Static

from engine.results import RunResults
from engine.stages import Stage
from pqat_tui.evaluation_tables import ChangedImagesView, per_class_table
from pqat_tui.screens.inspect import InspectScreen
from pqat_tui.steps import Step
from pqat_tui.widgets.tflite_panel import EvaluatePanel


def _text(renderable: object, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _static(app, selector: str) -> str:  # noqa: ANN001
    return _text(app.query_one(selector, Static).content)


async def test_m_shows_the_next_model_and_brackets_step_through_its_changed_images() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy, timeout=20)
        panel = app.query_one(EvaluatePanel)
        assert panel.shown == "pqat"
        assert "PQAT vs float: 21 changed — 10 fixed, 11 broken" in _static(app, "#changed-images")
        assert "Confusion: PQAT .tflite" in _static(app, "#confusion")
        await pilot.press("m")
        assert app.selected is Step.EVALUATE and panel.shown == "ptq"
        assert "PTQ vs float: 28 changed — 11 fixed, 17 broken" in _static(app, "#changed-images")
        first = _static(app, "#changed-images")
        await pilot.press("right_square_bracket")
        assert panel.picture["ptq"] == 1
        assert _static(app, "#changed-images") != first and "pictures 2–" in _static(app, "#changed-images")
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert panel.picture["ptq"] == 0
        await pilot.press("m", "m")  # past PTQ to the float reference (it changed nothing), then QAT
        assert panel.shown == "qat"
        headlines = _static(app, "#evaluate-headlines")
        assert "PQAT int8: 7.1 µs, 1.5x faster than float" in headlines
        assert "1.4x faster" in _static(app, "#latency")


async def test_i_opens_the_inspector_on_the_shown_file_and_escape_closes_it() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        await wait_for(
            pilot, lambda: "no file yet" in _text(app.screen.query_one("#inspect-text", Static).content)
        )
        await pilot.press("escape")
        await pilot.press("a")
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy, timeout=20)
        app.selected = Step.EVALUATE
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        screen = app.screen
        await wait_for(
            pilot, lambda: "Operators (10)" in _text(screen.query_one("#inspect-text", Static).content)
        )
        text = _text(screen.query_one("#inspect-text", Static).content)
        assert "PQAT .tflite" in text and "CONV_2D" in text and "Tensors (20)" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, InspectScreen)


async def test_keys_before_evaluate_say_there_is_nothing_yet() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, idle(app))
        await pilot.press("m", "right_square_bracket")
        messages = [n.message for n in app._notifications]
        assert "Nothing to show yet: run Evaluate (n or a)." in messages
        assert any("no changed images" in m for m in messages)


def test_results_json_alone_draws_the_changed_images_and_tables() -> None:
    """After a resume the app has only results.json: the pictures travel in it."""
    engine = FakeEngine()
    for stage in Stage:
        engine.run_stage(stage, lambda event: None, threading.Event())
    results = RunResults.from_json(json.loads(json.dumps(engine.results.to_json())))
    pictures = _text(ChangedImagesView(results, "pqat"), width=80)
    assert "#" in pictures and "float" in pictures and "▀" in pictures
    per_class = _text(per_class_table(results), width=110)
    assert "▼" in per_class and "worst class against Baseline Keras" in per_class


def test_reports_carry_latency_per_class_confusion_and_the_pictures() -> None:
    from pqat_tui.report import build_report, render

    engine = FakeEngine()
    for stage in Stage:
        engine.run_stage(stage, lambda event: None, threading.Event())
    report = build_report(engine.results)
    markdown = render(report, "md")
    section = markdown[markdown.index("## Deployment") :]
    for expected in ("**Latency per image", "1.5x faster than float", "**Accuracy per class", "▼", "```text"):
        assert expected in section, expected
    assert "PQAT vs float: 21 changed" in section and "float 0 ✓" in section
    html = render(report, "html")
    assert "Confusion: PQAT .tflite" in html and "PTQ vs float" in html
    # The conclusions say how fast the int8 files run against float.
    assert "PQAT int8: 7.1 µs an image at 1 thread, 1.5x faster than float (10.3 µs)." in markdown


def test_class_names_with_markup_are_drawn_as_written() -> None:
    """Names come from `dataset.classes` (the data loader's) when the dataset has them."""
    from dataclasses import replace
    from types import SimpleNamespace

    from pqat_tui.evaluation_tables import ModelColumn, confusion_table

    engine = FakeEngine()
    for stage in Stage:
        engine.run_stage(stage, lambda event: None, threading.Event())
    named = SimpleNamespace(classes=tuple(f"[b]c{i}[/" for i in range(10)))
    results = replace(engine.results, dataset=named)
    text = _text(per_class_table(results), 120) + _text(
        confusion_table(results, ModelColumn("pqat", True)), 120
    )
    assert "[b]c3[/" in text and "[b]c" in text
