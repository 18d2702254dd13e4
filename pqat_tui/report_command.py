"""`pqat-tui report RESULTS.json`: render an earlier run's results again, without TensorFlow."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from engine.results import ResultsFileError, RunResults

EXIT_OK = 0
EXIT_ERROR = 2


class ReportInputError(Exception):
    """The results file cannot be used; the message says why, in one line."""


# What a run folder and a report folder both call the run's results.
RESULTS_NAME = "results.json"
DEFAULT_FORMAT = "txt"
FORMAT_OF_EXTENSION = {
    ".html": "html",
    ".htm": "html",
    ".svg": "svg",
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".text": "txt",
    ".json": "json",
}


class ReportFormatError(Exception):
    """`--format` and `-o` do not say which format to write; the message says why, in one line."""


def report_format(fmt: str | None, output: str | None) -> str:
    """The format `--format` and the extension of `-o` agree on; ReportFormatError when they cannot.

    `-o report.html` alone writes HTML; `--format` alone decides; both must agree where the extension names
    a format (`--format md -o x.html` is refused rather than writing Markdown into an .html file), and an
    extension that names none (`-o notes.log`) needs `--format`.
    """
    if output is None:
        return fmt or DEFAULT_FORMAT
    suffix = Path(output).suffix.lower()
    implied = FORMAT_OF_EXTENSION.get(suffix)
    if fmt is None and implied is None:
        known = " ".join(sorted(FORMAT_OF_EXTENSION))
        shown = f"'{suffix}'" if suffix else "no extension"
        raise ReportFormatError(f"-o {output}: cannot tell the format from {shown}; use {known} or --format")
    if fmt is not None and implied is not None and fmt != implied:
        raise ReportFormatError(
            f"--format {fmt} but -o {output} is a .{implied} name: give one or make them agree"
        )
    return fmt or implied or DEFAULT_FORMAT


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
    from pqat_tui.report.render import REPORT_WIDTH, report_renderables, to_text

    try:
        fmt = report_format(args.format, args.output)
        results = read_results(Path(args.results))
    except (ReportFormatError, ReportInputError) as error:
        return _fail(str(error))
    report = build_report(results)
    if args.output is None and fmt == "txt" and sys.stdout.isatty():
        # On a terminal the text report keeps its colours and fits the window.
        from rich.console import Console

        Console().print(*report_renderables(report))
        return EXIT_OK
    if args.output is None and fmt == "txt":
        # Piped: as wide as $COLUMNS says (e.g. 80), else the report's own width; tables fit either way.
        width = shutil.get_terminal_size((REPORT_WIDTH, 24)).columns
        sys.stdout.write(to_text(report, width=width))
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
