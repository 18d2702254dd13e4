"""Tables at 80 columns (`run | cat`, `report` in an 80-column terminal): no number is ever cut."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

import engine.stored_session
from engine.config import PipelineConfig
from engine.events import StageFinished, StageStarted
from engine.protocol import Emit
from engine.results import ModelResult, RunResults, TFLiteInfo
from engine.stages import Stage
from pqat_tui.cli import main
from pqat_tui.fit import FitToWidth, fit_table
from pqat_tui.tables import accuracy_table, bars_tell_apart, comparison, stage_table, tflite_table

STORED = Path(__file__).parent / "data" / "sample_results.json"
# Every figure of the stored run as the tables print it.
FIGURES = (
    "0.9450",
    "0.9400",
    "0.9430",
    "0.9440",
    "0.9390",
    "24.46",
    "24.52",
    "17.02",
    "14.56",
    "14.81",
    "50.0%",
)
NUMBER_CUT = re.compile(r"\d…|…\d")


@pytest.fixture(scope="module")
def stored() -> RunResults:
    return RunResults.read_json(STORED)


def assert_fits(output: str, width: int) -> None:
    assert "…" not in output, output
    assert not NUMBER_CUT.search(output)
    too_wide = [line for line in output.splitlines() if len(line.rstrip()) > width]
    assert not too_wide, too_wide


class StoredSession:
    """`run`'s session, finishing every stage at once with a stored run's results (no TensorFlow)."""

    def __init__(self, config: PipelineConfig) -> None:
        self.results = RunResults(config=config.to_dict())

    def done_stages(self) -> set[Stage]:
        return set()

    def summary(self) -> str:
        return "New run (stored results)"

    def close(self) -> None:
        pass

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        emit(StageStarted(stage, 0))
        self.results = RunResults.read_json(STORED)
        emit(StageFinished(stage, 0.1, self.results))


def test_run_piped_at_80_columns_prints_every_figure_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(engine.stored_session, "open_run", lambda config, _dir, **_: StoredSession(config))
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["run", "--data", "sample", "--run-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "Comparison" in out and "TFLite models" in out
    summary = out[out.index("Dataset") :]
    assert_fits(summary, 80)
    for figure in FIGURES:
        assert figure in summary, figure


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_report_at_80_columns_prints_every_figure_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], terminal: bool
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    if terminal:
        monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert main(["report", str(STORED)]) == 0
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "Comparison" in out and "Stages" in out and "Configuration" in out
    assert_fits(out, 80)
    for figure in FIGURES:
        assert figure in out, figure


@pytest.mark.parametrize("width", [80, 60, 50])
def test_tables_give_way_before_any_digit(stored: RunResults, width: int) -> None:
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    for renderable in (
        comparison(stored),
        fit_table(tflite_table(stored)),
        fit_table(accuracy_table(stored)),
        fit_table(stage_table(stored)),
    ):
        console.print(renderable)
    out = console.export_text()
    assert_fits(out, width)
    for figure in FIGURES:
        assert figure in out, (width, figure)


def test_bars_go_first_then_the_box_then_the_headers_wrap(stored: RunResults) -> None:
    chosen = comparison(stored)
    assert isinstance(chosen, FitToWidth)

    def drawn(width: int) -> str:
        console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(chosen)
        return console.export_text()

    wide, medium, narrow = drawn(130), drawn(80), drawn(50)
    assert "█" in wide and "zipped size" in wide and "┃" in wide  # bars where there is room
    assert "█" not in medium  # bars go first
    assert "┃" not in narrow and "0.9440" in narrow and "14.56" in narrow  # then the box; digits stay


def test_bars_that_cannot_tell_values_apart_are_left_out() -> None:
    assert not bars_tell_apart([0.931, 0.936, None], 1.0, 12)
    assert bars_tell_apart([14_560, 17_020], 17_020, 12)
    assert not bars_tell_apart([17_020], 17_020, 12)  # one bar compares with nothing
    results = RunResults(
        models={
            "qat": ModelResult(0.931, (), TFLiteInfo(24_000, 17_000, 0.931, ())),
            "pqat": ModelResult(0.936, (), TFLiteInfo(24_000, 10_000, 0.936, ())),
        }
    )
    headers = [str(column.header) for column in comparison(results).variants[0].columns]
    assert "zipped size" in headers and "accuracy" not in headers


def test_a_user_string_with_an_ellipsis_is_not_taken_for_a_cut() -> None:
    from rich.table import Table

    table = Table(title="x")
    table.add_column("name")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_row(Text("a name…"), Text("0.9450"))
    console = Console(width=40, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(fit_table(table))
    assert "0.9450" in console.export_text()
