"""`pqat-tui report RESULTS.json`: render an earlier run's results again, without TensorFlow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.results import ResultsFileError, RunResults

EXIT_OK = 0
EXIT_ERROR = 2


class ReportInputError(Exception):
    """The results file cannot be used; the message says why, in one line."""


# What a run folder and a report folder both call the run's results.
RESULTS_NAME = "results.json"


def read_results(path: Path) -> RunResults:
    """A results file, or the results.json inside a run or report folder."""
    path = Path(path)
    if path.is_dir():
        if not (path / RESULTS_NAME).is_file():
            raise ReportInputError(f"{path}: a folder without {RESULTS_NAME} (not a run or report folder)")
        path = path / RESULTS_NAME
    try:
        return RunResults.read_json(path)
    except ResultsFileError as error:  # engine.results' strict reader: one line naming the file and key
        raise ReportInputError(str(error)) from None


def report_command(args: argparse.Namespace) -> int:
    from pqat_tui.report import ReportError, build_report, render
    from pqat_tui.report.export import write_text_atomically
    from pqat_tui.report.render import report_renderables

    try:
        results = read_results(Path(args.results))
    except ReportInputError as error:
        return _fail(str(error))
    report = build_report(results)
    fmt = args.format
    if args.output is None and fmt == "txt" and sys.stdout.isatty():
        # On a terminal the text report keeps its colours and fits the window.
        from rich.console import Console

        Console().print(*report_renderables(report))
        return EXIT_OK
    text = render(report, fmt)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        write_text_atomically(Path(args.output), text)
    except ReportError as error:
        return _fail(str(error))
    return EXIT_OK


def _fail(message: str) -> int:
    print(f"pqat-tui: error: {message}", file=sys.stderr)
    return EXIT_ERROR
