"""#8 item 3: a user's string is shown as written, never obeyed as rich markup or Markdown.

File names, data sources, error messages, layer and class names reach `run`'s output, the tables, the app's
widgets, notifications and log, and every report format. Rich parses a `str` as markup (a table cell, a
title, Static.update, notify), so each is handed over as Text; the Markdown report escapes what Markdown
would act on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_engine import FakeEngine, fake_factory
from hostile import assert_one_line_error
from rich.console import Console
from scripted_pipeline import script_the_engine
from test_app import log_text, wait_for
from textual.widgets import Input, Static

from engine.config import PipelineConfig
from engine.results import RunResults
from engine.stages import Stage
from pqat_tui.app import PqatApp
from pqat_tui.cli import main
from pqat_tui.report.render import md_escape
from pqat_tui.screens.settings import SettingsScreen, input_id
from pqat_tui.steps import Step, StepState
from pqat_tui.tables import run_summary

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "assets" / "example-report" / "results.json"
SAMPLE = ROOT / "assets" / "mnist-sample.npz"
# Closing tags that match nothing: rich raises MarkupError on them if it parses the string.
HOSTILE = "digits[/x] [bold]*not* _bold_ | `code` <b>&amp; #1 ~~x~~[/bold]"
FORMATS = ("txt", "md", "html", "svg", "json")


def _hostile_results(tmp_path: Path) -> Path:
    """The example results with user strings everywhere a results file carries one."""
    data = json.loads(FIXTURE.read_text())
    data["config"]["data"] = HOSTILE
    data["dataset"]["source"] = HOSTILE
    data["dataset"]["loaded_from"] = f"/data/{HOSTILE}.npz"
    data["dataset"]["note"] = HOSTILE
    data["failures"] = {"qat": f"ValueError: {HOSTILE}", "[/stage]": HOSTILE}
    data["versions"]["[/machine]"] = HOSTILE
    data["models"][f"{HOSTILE} model"] = data["models"]["pqat"]
    data["models"]["pqat"]["weight_counts"] = {f"conv[/x]/{HOSTILE}": [1, 2]}
    data["models"]["pqat"]["history"][0]["[/metric]"] = 0.5
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_shows_user_strings_as_written_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out = tmp_path / f"report.{fmt}"
    assert main(["report", str(_hostile_results(tmp_path)), "--format", fmt, "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    text = out.read_text()
    if fmt == "md":
        # Outside code blocks (where a figure, e.g. the accuracy-vs-size chart, shows names literally).
        prose = re.sub(r"^(`{3,})text\n.*?^\1$", "", text, flags=re.DOTALL | re.MULTILINE)
        assert md_escape(HOSTILE) in prose and HOSTILE not in prose
        assert r"digits\[/x\] \[bold\]\*not\* \_bold\_ \| \`code\` \<b\>\&amp; \#1 \~\~x\~\~\[/bold\]" in text
    elif fmt in ("html", "svg"):
        assert "<b>" not in text  # escaped, as every character of a user string
        assert "digits[/x]" in text
    else:
        assert HOSTILE in text


def test_report_on_a_terminal_shows_user_strings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["report", str(_hostile_results(tmp_path))]) == 0
    assert "digits[/x]" in capsys.readouterr().out


def test_the_run_summary_tables_take_user_strings_as_text(tmp_path: Path) -> None:
    results = RunResults.read_json(_hostile_results(tmp_path))
    console = Console(width=300, record=True, file=open(tmp_path / "out", "w"))  # noqa: SIM115
    console.print(run_summary(results))
    assert HOSTILE in console.export_text()


def _bracketed_copy(tmp_path: Path, images: int | None = None) -> Path:
    """The bundled sample (or its first `images` per split) under the issue's name: `x].npz` in `digits[`."""
    path = tmp_path / "digits[/x].npz"
    path.parent.mkdir()
    if images is None:
        shutil.copy(SAMPLE, path)
    else:
        with np.load(SAMPLE) as data:
            np.savez(path, **{key: data[key][:images] for key in data.files})
    return path


def test_run_with_a_bracketed_data_file_name_writes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script_the_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)
    data = _bracketed_copy(tmp_path).relative_to(tmp_path)  # short enough for one table cell
    report = tmp_path / "report"
    status = main(
        ["run", "--data", str(data), "--run-dir", "run", "--report", str(report), "--json", "r.json"]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert err == ""
    assert str(data) in out  # the dataset table, as written
    assert RunResults.read_json(tmp_path / "r.json").dataset.source == str(data)  # type: ignore[union-attr]
    assert md_escape(str(data)) in (report / "report.md").read_text()
    assert str(data) in (report / "report.txt").read_text()


# --- the app ------------------------------------------------------------------------------------------


async def test_the_app_shows_hostile_names_and_errors_without_obeying_them() -> None:
    config = PipelineConfig(data=HOSTILE)
    engine = FakeEngine(config, fail={Stage.BASELINE: f"OSError: {HOSTILE}"})
    app = PqatApp(config, fake_factory(engine))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None)
        await pilot.press("a")
        await wait_for(pilot, lambda: not app.busy and app.board.state(Step.BASELINE) is StepState.FAILED)
        assert f"Baseline failed: OSError: {HOSTILE}" in log_text(app).replace("\n", "")  # wrapped lines
        assert app.errors[Stage.BASELINE] == f"OSError: {HOSTILE}"
        app.selected = Step.BASELINE
        await pilot.pause()
        assert HOSTILE in str(app.query_one("#panel-baseline .panel-error", Static).render())


async def test_an_engine_that_fails_to_load_with_brackets_in_its_error_is_shown() -> None:
    def load(config: PipelineConfig) -> object:
        raise OSError(f"cannot open {HOSTILE}")

    app = PqatApp(PipelineConfig(), load)  # type: ignore[arg-type]
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine_error is not None)
        assert HOSTILE in str(app.query_one("#status", Static).render())
        await pilot.press("n")  # "No engine: ..." as a notification
        await pilot.pause()
        assert app.is_running


async def test_the_settings_screen_refuses_a_hostile_value_without_obeying_it() -> None:
    app = PqatApp(PipelineConfig(data="sample"), fake_factory(FakeEngine()))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine is not None)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one(f"#{input_id('baseline.epochs')}", Input).value = "[/x]"
        await pilot.press("ctrl+s")  # refused: a notification quoting the value
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen) and app.is_running


@pytest.mark.slow
def test_real_run_with_a_bracketed_data_file_name_end_to_end(tmp_path: Path) -> None:
    """The issue's case with TensorFlow: every stage on 300 images, then the summary and the report."""
    data = _bracketed_copy(tmp_path, images=300).relative_to(tmp_path)  # one table cell wide
    finished = subprocess.run(
        [sys.executable, "-m", "pqat_tui", "run", "--data", str(data), "--epochs", "1", "--prune-epochs", "1",
         "--set", "ptq.representative_images=20", "--report", "report", "--run-dir", "run"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Traceback" not in finished.stderr
    assert str(data) in finished.stdout
    assert md_escape(str(data)) in (tmp_path / "report" / "report.md").read_text()


def test_a_missing_bracketed_data_file_is_one_line_and_leaves_no_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--data", "[/x].npz"]) == 2
    out, err = capsys.readouterr()
    assert_one_line_error(err, "[/x].npz")
    runs = tmp_path / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []  # refused: nothing to resume
