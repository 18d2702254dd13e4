"""Reports rendered from recorded results: every format's content, partial runs, and safe writing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.bar import Bar
from rich.table import Table
from rich.text import Text

from engine.results import RunResults
from pqat_tui.cli import main
from pqat_tui.report import ReportError, build_report, default_report_dir, export_report, render
from pqat_tui.report import export as export_module
from pqat_tui.report.export import REPORT_FILES
from pqat_tui.report.render import table_to_markdown

FIXTURE = Path(__file__).parent / "data" / "sample_results.json"
GENERATED = datetime(2026, 11, 25, 17, 30, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def results() -> RunResults:
    return RunResults.read_json(FIXTURE)


@pytest.fixture(scope="module")
def rendered(results: RunResults) -> dict[str, str]:
    report = build_report(results, generated_at=GENERATED)
    return {fmt: render(report, fmt) for fmt in ("txt", "md", "html", "svg", "json")}


def partial_results(results: RunResults) -> RunResults:
    """A run that stopped at QAT: QAT failed, nothing after the pruned model exists."""
    cut = results.without("qat", "pqat", "ptq", stages=("qat", "pqat", "convert", "evaluate", "ptq"))
    return replace(cut, failures={"qat": "ResourceExhaustedError: out of memory"})


CONCLUSIONS = (
    "Pruning to 50.0% sparsity changed test accuracy by -0.50 points (0.9450 → 0.9400).",
    "PQAT kept 50.0% sparsity, QAT kept 1.6%.",
    "PQAT is 14% smaller zipped than QAT (14.56 KB vs 17.02 KB).",
    "The PQAT .tflite file keeps 50.0% zeros in its weights.",
    "PQAT TFLite accuracy 0.9440 vs post-training quantization 0.9390 (+0.50 points).",
)


def test_rendering_and_export_never_import_tensorflow(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
from engine.results import RunResults
from pqat_tui.cli import main
from pqat_tui.report import export_report
written = export_report(RunResults.read_json(Path({str(FIXTURE)!r})), Path({str(tmp_path)!r}))
assert main(["report", {str(FIXTURE)!r}, "--format", "md", "-o", {str(tmp_path / "again.md")!r}]) == 0
loaded = {{m.split(".")[0] for m in sys.modules}}
print("TF" if "tensorflow" in loaded or "tf_keras" in loaded else "NO_TF", len(written))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["NO_TF", "5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*REPORT_FILES.values(), "again.md"])


def test_text_report_has_every_table_figure_and_conclusion(rendered: dict[str, str]) -> None:
    text = rendered["txt"]
    for title in (
        "Stages",
        "Comparison",
        "Accuracy on the test set",
        "TFLite models",
        "Per-layer sparsity (target 50%)",
        "Weights inside PQAT .tflite",
        "Training history: Baseline",
        "Configuration — data: sample · seed: 0",
        "Dataset",
        "Versions and machine",
    ):
        assert title in text
    for conclusion in CONCLUSIONS:
        assert conclusion in text
    assert "Complete run: all 8 stages done in 33.1 s." in text
    assert "Generated 2026-11-25 17:30 UTC" in text
    # Figures as the tables show them: zipped sizes, per-tensor zeros, versions, stage times.
    assert "17.02" in text and "14.56" in text and "14.81" in text
    assert "10140/20280" in text and "324/20280" in text
    assert "TF Model Optimization │ 0.8.1" in text
    assert "│ Baseline │ done   │      9.8 │ accuracy 0.9450" in text
    assert "████████████" in text  # the size bar of the largest (QAT) model


def test_markdown_report_is_github_tables_read_from_the_same_cells(rendered: dict[str, str]) -> None:
    md = rendered["md"]
    assert md.startswith("# pqat-tui report — sample\n")
    assert "## Summary" in md and "## Sparsity" in md and "## Setup" in md
    for conclusion in CONCLUSIONS:
        assert f"- {conclusion}" in md
    assert "**Comparison**" in md
    # No accuracy bars: 0.939 to 0.945 draw the same bar (tables.bars_tell_apart).
    assert "| model | Keras acc | TFLite acc | sparsity | raw KB | zipped KB | latency | zipped size |" in md
    assert "|:---|---:|---:|---:|---:|---:|---:|:---|" in md
    assert "| PQAT | 0.9440 | 0.9440 | 50.0% | 24.46 | 14.56 | — | ██████████▎ |" in md
    row = "| dense/kernel | 20,280 | 81.1 KB | 50.0% 10140/20280 | 1.6% 324/20280 | 50.0% 10140/20280 |"
    assert row in md
    assert "| Convert | done | 5.3 | zipped QAT 17.02 KB, PQAT 14.56 KB |" in md
    assert "| LiteRT | 2.3.0 |" in md
    assert "| prune | 3 | 32 | 1e-05 | 0.1 | 0.5 | 0 | 100 | — |" in md
    # Every table row has as many cells as its header.
    for block in md.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            cells = {line.count(" | ") for line in rows if set(line) - set("|:-")}
            assert len(cells) == 1, block


def test_html_and_svg_reports_hold_the_same_content(rendered: dict[str, str]) -> None:
    html = rendered["html"]
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>pqat-tui report — sample</title>" in html
    assert "PQAT kept 50.0% sparsity, QAT kept 1.6%." in html
    assert "Per-layer sparsity (target 50%)" in html
    assert "{" not in html.split("<body>")[1]  # rich's template was filled, not left with placeholders
    svg = rendered["svg"]
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    # SVG text spans use non-breaking spaces; the figures appear as they do on screen.
    flat = svg.replace("&#160;", " ")
    assert "PQAT kept 50.0% sparsity, QAT kept 1.6%." in flat
    assert "14.56" in flat


def test_json_report_is_the_results_and_renders_again(rendered: dict[str, str], results: RunResults) -> None:
    assert RunResults.from_json(json.loads(rendered["json"])) == results


def test_partial_run_shows_failed_and_missing_stages(results: RunResults) -> None:
    report = build_report(partial_results(results), generated_at=GENERATED)
    assert not report.complete
    text, md = render(report, "txt"), render(report, "md")
    status = "Partial run: 3 of 8 stages done; failed: QAT; not run: PQAT, Convert, Evaluate, PTQ."
    assert status in text and status in md
    assert "| QAT | failed | — | ResourceExhaustedError: out of memory |" in md
    assert "| PTQ | not run | — | — |" in md
    # Still a row in the comparison, marked missing (no bars: no model has a size to draw; no latency).
    assert "| PQAT | — | — | — | — | — | — |\n" in md
    assert CONCLUSIONS[0] in text
    assert "PQAT kept" not in text and "smaller zipped" not in text


def test_empty_results_still_render_every_section() -> None:
    md = render(build_report(RunResults(), generated_at=GENERATED), "md")
    assert "Partial run: 0 of 8 stages done; not run: Data, Baseline" in md
    assert "No conclusions: the stages they compare have not run." in md
    assert "Dataset: not loaded (the Data stage did not run)." in md
    assert "| TensorFlow | not recorded |" in md
    assert "No training recorded." in md


def test_table_to_markdown_reads_cells_escapes_and_aligns() -> None:
    table = Table(title="T")
    table.add_column("name")
    table.add_column("value", justify="right")
    table.add_column("bar")
    table.add_row("[bold]a|b[/bold]", Text("1\n2"), Bar(size=1.0, begin=0, end=0.5, width=4))
    assert table_to_markdown(table) == (
        "**T**\n\n| name | value | bar |\n|:---|---:|:---|\n| a\\|b | 1<br>2 | ██ |"
    )


def test_export_writes_every_format(tmp_path: Path, results: RunResults) -> None:
    written = export_report(results, tmp_path / "new" / "folder")
    assert [p.name for p in written] == list(REPORT_FILES.values())
    assert "PQAT kept 50.0% sparsity" in (tmp_path / "new" / "folder" / "report.md").read_text()
    assert not [p for p in (tmp_path / "new" / "folder").iterdir() if p.name.startswith(".")]


def test_unwritable_folder_is_a_clear_error(tmp_path: Path, results: RunResults) -> None:
    # Tests may run as root, where permissions do not stop writes; a file in the way always does.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(ReportError, match=r"cannot create report folder .*not-a-folder/reports"):
        export_report(results, blocker / "reports")
    with pytest.raises(ReportError, match="it is a file, not a folder"):
        export_report(results, blocker)
    assert blocker.read_text() == "x"


def test_failed_write_leaves_the_existing_report_untouched(
    tmp_path: Path, results: RunResults, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "report"
    export_report(partial_results(results), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_write = export_module._write_temp
    calls = []

    def disk_fills_up(folder: Path, name: str, text: str) -> Path:
        calls.append(name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_write(folder, name, text)

    monkeypatch.setattr(export_module, "_write_temp", disk_fills_up)
    with pytest.raises(ReportError, match="no space left on the device"):
        export_report(results, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    monkeypatch.undo()
    export_report(results, folder)
    assert "PQAT kept 50.0% sparsity" in (folder / "report.txt").read_text()


def test_default_report_dir_is_timestamped_under_reports_in_utc_like_run_folders(tmp_path: Path) -> None:
    from engine.run_store import new_run_dir

    moment = datetime(2026, 11, 25, 17, 5, 9, tzinfo=timezone.utc)
    assert default_report_dir(moment) == Path("reports/2026-11-25T17-05-09Z")
    assert new_run_dir(tmp_path, now=moment.timestamp()).name.startswith("2026-11-25T17-05-09Z")


def test_report_command_writes_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(FIXTURE), "--format", "md"]) == 0
    assert "| PQAT | 0.9440 | 0.9440 |" in capsys.readouterr().out
    out = tmp_path / "r.html"
    assert main(["report", str(FIXTURE), "--format", "html", "-o", str(out)]) == 0
    assert "<title>pqat-tui report — sample</title>" in out.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("not json", "not JSON"),
        ('{"schema": 7}', "unsupported results schema 7"),
        ("[1, 2]", "not a pqat-tui results file"),
        ('{"schema": 1, "dataset": {"train": 3}}', "results.json: dataset.source: missing"),
    ],
)
def test_report_command_rejects_bad_results_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("pqat-tui: error: ")


def test_report_command_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["report", str(FIXTURE), "-o", str(blocker / "r.md")]) == 2
    assert "it is a file, not a folder" in capsys.readouterr().err


def test_exported_files_follow_the_umask_not_private_temp_files(tmp_path: Path, results: RunResults) -> None:
    old = os.umask(0o022)
    try:
        written = export_report(results, tmp_path)
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o644)}


def test_report_command_reads_a_run_or_report_folder(
    tmp_path: Path, results: RunResults, capsys: pytest.CaptureFixture[str]
) -> None:
    export_report(results, tmp_path / "report")
    assert main(["report", str(tmp_path / "report"), "--format", "md"]) == 0
    assert "PQAT kept 50.0% sparsity" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2
    assert "a folder without results.json" in capsys.readouterr().err


def test_report_on_a_terminal_keeps_its_colours(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["report", str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" in out and "PQAT kept 50.0% sparsity" in out
