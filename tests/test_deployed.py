"""The comparison of every deployed file: Pareto-best, the smallest file within a drop, headlines, order,
the chart and the reports, with a collaborative run's figures (tests/collab_results.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from collab_results import collaborative_results
from rich.console import Console

from engine.recipe import BUILT_IN
from engine.results import ModelResult, RunResults, TFLiteInfo
from pqat_tui.deployed import (
    Baseline,
    DeployedFile,
    accuracy_size_chart,
    baseline_of,
    best_within,
    deployed_comparison,
    deployed_names,
    deployed_table,
    fmt_points,
    headline,
    headlines,
    pareto_best,
)
from pqat_tui.report import build_report, render
from pqat_tui.report.render import cell_text


def _draw(renderable: object, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.export_text()


def test_pareto_best_keeps_what_nothing_beats_on_both_size_and_accuracy() -> None:
    points = {
        "pcqat": (8_904, 0.933),  # smallest
        "sparse_clustered": (9_870, 0.931),  # larger and less accurate than pcqat
        "cqat": (10_950, 0.936),
        "pqat": (14_596, 0.934),  # cqat is smaller and more accurate
        "ptq": (14_803, 0.939),
        "twin": (14_803, 0.939),  # equal points are both kept
        "same_size": (14_803, 0.935),  # as small as ptq, less accurate
        "float": (77_230, 0.943),
        "float16": (29_870, 0.943),  # as accurate as float, smaller: float is dominated
    }
    assert pareto_best(points) == {"pcqat", "cqat", "ptq", "twin", "float16"}
    assert pareto_best({}) == set()
    assert pareto_best({"only": (1.0, 0.5)}) == {"only"}


def test_best_within_is_the_smallest_file_no_more_than_the_drop_below_the_baseline() -> None:
    baseline = Baseline(0.943, 77_230)
    files = [
        DeployedFile("float", 0.943, 84_840, 77_230),
        DeployedFile("ptq", 0.939, 24_880, 14_803),
        DeployedFile("pruned_2by4", 0.938, 24_600, 14_950),
        DeployedFile("pcqat", 0.933, 24_432, 8_904),  # exactly 1.0 point down: within 1 point
        DeployedFile("tiny", 0.90, 10_000, 2_000),
        DeployedFile("pending"),  # not converted yet: never chosen
    ]
    assert best_within(files, baseline, 0.5) == files[1]
    assert best_within(files, baseline, 1.0) == files[3]
    assert best_within(files, baseline, 2.0) == files[3]
    assert best_within(files, baseline, 5.0) == files[4]
    assert best_within(files, baseline, 0.1) is None  # only the float file itself is that close
    assert best_within(files, Baseline(None, None), 9.0) is None


def test_headline_states_size_ratio_and_points_with_a_minus_sign() -> None:
    pcqat = DeployedFile("pcqat", 0.933, 24_432, 8_904)
    assert (
        headline(pcqat, Baseline(0.943, 77_230))
        == "PCQAT: 8.7x smaller than the float baseline for −1.0 points"
    )
    assert headline(pcqat, Baseline(0.931, None, "the Keras baseline")) == (
        "PCQAT: 8.90 KB zipped for +0.2 points against the Keras baseline"
    )
    # A float file not evaluated yet: its size still counts, the points are the Keras model's.
    assert headline(pcqat, Baseline(0.945, 77_230, "the Keras baseline")) == (
        "PCQAT: 8.7x smaller than the float baseline for −1.2 points against the Keras baseline"
    )
    assert [fmt_points(p) for p in (-0.4, 0.2, -0.04, 0.0, -1.0)] == ["−0.4", "+0.2", "0.0", "0.0", "−1.0"]


def test_headlines_of_a_collaborative_run() -> None:
    assert headlines(collaborative_results()) == [
        "PTQ: 5.2x smaller than the float baseline for −0.4 points (the smallest file within 0.5 points).",
        "PCQAT: 8.7x smaller than the float baseline for −1.0 points "
        "(the smallest file within 1 and 2 points).",
        "Pareto-best (no other file both smaller and more accurate): PTQ, PTQ dynamic, PTQ float16, PCQAT, "
        "CQAT, PQAT 2:4; 6 dominated.",
    ]


def test_headlines_say_nothing_the_results_do_not_hold() -> None:
    assert headlines(RunResults()) == []
    only_float = RunResults(models={"float": ModelResult(tflite=TFLiteInfo(84_840, 77_230, 0.943))})
    assert headlines(only_float) == []  # nothing to compare the float file with
    not_evaluated = RunResults(models={"qat": ModelResult(tflite=TFLiteInfo(24_432, 17_012))})
    assert headlines(not_evaluated) == []


def test_files_follow_the_recipe_then_the_models_present() -> None:
    results = collaborative_results()
    assert deployed_names(results) == ["float", *BUILT_IN["collaborative"].deployed_models()]
    # A model the recipe has not converted yet keeps its row, and shows no figure.
    partial = results.without("pcqat")
    assert deployed_names(partial) == deployed_names(results)
    assert "  PCQAT" in _draw(deployed_table(partial), 120)
    # No recipe (schema 1), or a user's own: every model with a .tflite file, in the results' order.
    schema_1 = replace(results, recipe=None)
    assert deployed_names(schema_1) == [
        "float",
        *(n for n, m in results.models.items() if m.tflite and n != "float"),
    ]
    users = replace(results, recipe={"data": [], "baseline": ["data"], "mine": ["baseline"]})
    assert deployed_names(users) == deployed_names(schema_1)
    assert "mine" not in deployed_names(users)
    custom = results.with_model("prune80_int8", ModelResult(tflite=TFLiteInfo(20_000, 7_000, 0.92)))
    assert deployed_names(replace(custom, recipe=None))[-1] == "prune80_int8"


def test_table_holds_every_file_with_its_figures_and_marks() -> None:
    drawn = _draw(deployed_table(collaborative_results()), 120)
    rows = {line.split("│")[1].strip(): line for line in drawn.splitlines() if line.startswith("│")}
    assert len(rows) == 12  # the float reference and the collaborative recipe's eleven deployed models
    cells = [c.strip() for c in rows["● PCQAT"].split("│")[2:-1]]
    assert cells == ["0.9330", "−1.0", "24.43", "8.90", "8.7x", "50.0%", "16", "36.12"]
    assert [c.strip() for c in rows["○ Float"].split("│")[2:-1]][:5] == [
        "0.9430",
        "ref",
        "84.84",
        "77.23",
        "ref",
    ]
    assert "○ QAT" in rows and "● CQAT" in rows and "○ Sparse clustered" in rows


def test_schema_1_results_leave_out_the_columns_they_do_not_have() -> None:
    results = replace(collaborative_results(), recipe=None)
    results = replace(
        results,
        models={
            name: replace(m, tflite=replace(m.tflite, unique_values={}, sparse_encoded_bytes=None))
            if m.tflite
            else m
            for name, m in results.models.items()
        },
    )
    header = _draw(deployed_table(results), 120).splitlines()[2]
    assert "zipped KB" in header and "unique/ch" not in header and "sparse KB" not in header
    without_float = results.without("float")
    assert baseline_of(without_float) == Baseline(0.945, None, "the Keras baseline")
    float_model = results.models["float"]
    assert float_model.tflite is not None
    unevaluated = results.with_model(
        "float", replace(float_model, tflite=replace(float_model.tflite, accuracy=None))
    )
    assert baseline_of(unevaluated) == Baseline(0.945, 77_230, "the Keras baseline")
    assert baseline_of(results) == Baseline(0.943, 77_230)
    assert "smaller" not in _draw(deployed_table(without_float), 120).splitlines()[2]


@pytest.mark.parametrize("width", [48, 60, 80, 110])
def test_table_never_cuts_a_figure(width: int) -> None:
    drawn = _draw(deployed_comparison(collaborative_results()), width)
    assert "…" not in drawn
    assert max(len(line.rstrip()) for line in drawn.splitlines()) <= width
    for figure in ("77.23", "8.90", "36.12", "1,012", "8.7x", "−1.2", "49.7%"):
        assert figure in drawn


@pytest.mark.parametrize("width", [48, 80, 110])
def test_chart_marks_and_labels_every_file(width: int) -> None:
    results = collaborative_results()
    drawn = _draw(accuracy_size_chart(results, height=8), width)
    lines = drawn.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    assert lines[0] == "Accuracy vs size · ● Pareto-best ○ dominated"
    plot = "\n".join(lines[1:9])
    assert plot.count("●") == 6 and plot.count("○") == 6  # 6 Pareto-best, 6 dominated
    for label in ("PCQAT", "PQAT 2:4", "PTQ float16", "Float", "CQAT", "Sparse clustered", "PTQ dynamic"):
        assert label in drawn  # beside its mark, or keyed under the chart
    assert lines[1].startswith(" 0.943┤") and lines[8].startswith(" 0.931┤")
    assert re.search(r"KB\s+8\.9\s+.*\b77\b", lines[10])  # the x axis: zipped KB, logarithmic 8.9 to 77


def test_chart_places_the_smallest_file_left_and_the_most_accurate_on_top() -> None:
    lines = _draw(accuracy_size_chart(collaborative_results(), height=8), 80).splitlines()
    plot = lines[1:9]
    assert plot[-2].index("● PCQAT") < plot[0].index("PTQ float16")
    assert "Float ○" in plot[0] and plot[0].rstrip().endswith("Float ○")  # the largest file, at the right
    assert "Sparse clustered" in plot[-1]  # the least accurate, at the bottom


def test_chart_without_evaluated_files_says_so() -> None:
    drawn = _draw(accuracy_size_chart(RunResults()), 60)
    assert "No .tflite file yet: Convert makes them." in drawn and "┤" not in drawn
    pending = RunResults(models={"qat": ModelResult(tflite=TFLiteInfo(24_432, 17_012))})
    assert "Not evaluated yet: QAT." in _draw(accuracy_size_chart(pending), 60)


def test_every_report_format_holds_the_chart_table_and_headlines() -> None:
    report = build_report(collaborative_results())
    html, svg, text, markdown = (render(report, fmt) for fmt in ("html", "svg", "txt", "md"))
    for document in (html, text, markdown):
        assert "Accuracy vs size · ● Pareto-best ○ dominated" in document
        assert "PCQAT: 8.7x smaller than the float baseline for −1.0 points" in document
        assert "Deployed files (.tflite)" in document
    # SVG: each character in its own run of text; the chart's lines are there, non-breaking spaces and all.
    svg_text = re.sub(r"<[^>]+>", "", svg).replace("&#160;", " ")
    for piece in ("Accuracy", "Pareto-best", "PCQAT", "0.943┤", "Sparse clustered", "36.12", "8.7x"):
        assert piece in svg_text
    assert (
        "│ ● PCQAT" in text
        and "| ● PCQAT | 0.9330 | −1.0 | 24.43 | 8.90 | 8.7x | 50.0% | 16 | 36.12 |" in markdown
    )
    assert "```text\nAccuracy vs size" in markdown  # the chart as a code block, drawn as in the terminal
    chart = next(
        b
        for s in report.sections
        if s.title == "Deployed files"
        for b in s.blocks
        if hasattr(b, "renderable")
    )
    assert cell_text(chart.renderable).count("\n") >= 14 + 2  # the report's taller chart


GOLDEN = Path(__file__).parent / "data" / "deployed_section.txt"


def _deployed_section(text: str) -> str:
    """The text report's "Deployed files" section, up to the next section's rule."""
    start = text.index("\nDeployed files ─") + 1
    end = re.compile(r"^\w[\w ,:]* ─{5,}$", re.MULTILINE).search(text, start + 1)
    assert end is not None
    return text[start : end.start()].rstrip() + "\n"


def test_text_report_section_matches_the_golden_file() -> None:
    """The section as a reader sees it, every character pinned (the SVG and HTML reports draw the same
    recording). After an intended change: `python -c "import sys; sys.path.insert(0, 'tests');
    import test_deployed as t; t.GOLDEN.write_text(t._deployed_section(t.render(t.build_report(
    t.collaborative_results()), 'txt')))"`, then read the diff."""
    section = _deployed_section(render(build_report(collaborative_results()), "txt"))
    assert section == GOLDEN.read_text()


@pytest.mark.parametrize("width", [40, 60])
def test_a_crowded_chart_keys_what_it_cannot_label(width: int) -> None:
    """Forty files on a small chart: every file is a mark or a key, and every key in the legend is drawn."""
    models = {
        f"m{i}": ModelResult(
            tflite=TFLiteInfo(30_000, 1_000 + (i * 7_919) % 80_000, 0.5 + (i * 37 % 50) / 100)
        )
        for i in range(40)
    }
    lines = _draw(accuracy_size_chart(RunResults(models=models), height=6), width).splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    plot = "\n".join(line[7:] for line in lines[1:] if "┤" in line or "│" in line)
    legend = " ".join(
        lines[lines.index(next(line for line in lines if line.lstrip().startswith("KB"))) + 1 :]
    )
    keys = re.findall(r"(?:^|\s)(\w)\s+m\d+", legend)
    assert keys and all(key in plot for key in keys)
    labelled = set(re.findall(r"m\d+", plot)) | set(re.findall(r"\w\s+(m\d+)", legend))
    assert labelled == set(models)


@pytest.mark.parametrize("fmt", ["html", "svg"])
def test_report_command_draws_the_chart_from_a_schema_2_file(tmp_path: Path, fmt: str) -> None:
    from pqat_tui.cli import main

    results = tmp_path / "results.json"
    collaborative_results().write_json(results)
    out = tmp_path / f"report.{fmt}"
    assert main(["report", str(results), "-o", str(out)]) == 0
    text = re.sub(r"<[^>]+>", "", out.read_text()).replace("&#160;", " ").replace("\xa0", " ")
    for piece in ("Deployed files", "Pareto-best", "0.943┤", "PCQAT", "36.12", "unique/ch"):
        assert piece in text


def test_a_recipes_other_convert_stage_lists_its_own_files_beside_float() -> None:
    from pqat_tui.tables import tflite_table

    results = collaborative_results()
    rows = [
        _first_cell(line) for line in _draw(tflite_table(results, ("clustered", "cqat")), 100).splitlines()
    ]
    assert [r for r in rows if r in ("Float", "Clustered", "CQAT", "QAT", "PQAT", "PTQ")] == [
        "Float",
        "Clustered",
        "CQAT",
    ]
    default = [_first_cell(line) for line in _draw(tflite_table(results), 100).splitlines()]
    assert [r for r in default if r in ("Float", "QAT", "PQAT", "PTQ")] == ["Float", "QAT", "PQAT", "PTQ"]


def _first_cell(line: str) -> str:
    words = line.replace("│", " ").replace("┃", " ").split()
    return words[0] if words else ""


def _timed_collaborative_results() -> RunResults:
    """The collaborative results with the float file at 10.3 µs, CQAT at 7.1 µs (1.5x faster) and Clustered
    at 9.8 µs (no faster: 1.05x)."""
    from engine.evaluation_results import Latency, LatencyStats

    results = collaborative_results()
    timed = Latency(LatencyStats(0.0071, 0.0080, 3000, 1), LatencyStats(0.0052, 0.0061, 3000, 2))
    for name, p50 in (("float", 0.0103), ("cqat", 0.0071), ("clustered", 0.0098)):
        model = results.models[name]
        assert model.tflite is not None
        latency = replace(timed, threads_1=replace(timed.threads_1, p50_ms=p50))
        results = results.with_model(name, replace(model, tflite=replace(model.tflite, latency=latency)))
    return results


def test_a_recipes_other_evaluate_stage_times_its_own_files_beside_float() -> None:
    from pqat_tui.evaluation_tables import latency_table

    results = _timed_collaborative_results()
    drawn = _draw(latency_table(results, ("clustered", "cqat")), 120)
    rows = [_first_cell(line) for line in drawn.splitlines()]
    assert [r for r in rows if r in ("Float", "Clustered", "CQAT", "QAT", "PQAT", "PTQ")] == [
        "Float",
        "Clustered",
        "CQAT",
    ]
    assert "7.1 µs" in drawn and "1.5x faster" in drawn  # CQAT's own time, against the float file's
    default = [_first_cell(line) for line in _draw(latency_table(results), 120).splitlines()]
    assert [r for r in default if r in ("Float", "QAT", "PQAT", "PTQ")] == ["Float", "QAT", "PQAT", "PTQ"]


@pytest.mark.parametrize("width", [50, 60, 80, 120])
def test_the_latency_view_never_cuts_a_figure(width: int) -> None:
    from pqat_tui.evaluation_tables import latency_view

    drawn = _draw(latency_view(_timed_collaborative_results(), ("clustered", "cqat")), width)
    assert not re.search(r"\d…|…\d|\(…", drawn), drawn
    assert "7.1 µs" in drawn and "1.5x faster" in drawn
    assert "1.05x" in drawn  # "no faster" keeps its figure, narrow or wide
