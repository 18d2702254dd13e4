"""`pqat-tui report -o FILE`: the format follows the extension; self-contained SVG; every option has help."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pqat_tui.cli import build_parser, main

STORED = Path(__file__).parent / "data" / "sample_results.json"

LOOKS = {
    "html": lambda text: text.startswith("<!DOCTYPE html>"),
    "svg": lambda text: text.startswith("<svg"),
    "md": lambda text: text.startswith("# pqat-tui report"),
    "txt": lambda text: text.startswith("pqat-tui report") and "| model |" not in text,
    "json": lambda text: json.loads(text)["schema"] == 2,
}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("y.html", "html"),
        ("y.HTM", "html"),
        ("y.svg", "svg"),
        ("y.md", "md"),
        ("y.txt", "txt"),
        ("y.json", "json"),
    ],
)
def test_the_extension_of_o_chooses_the_format(tmp_path: Path, name: str, fmt: str) -> None:
    out = tmp_path / name
    assert main(["report", str(STORED), "-o", str(out)]) == 0
    assert LOOKS[fmt](out.read_text()), out.read_text()[:200]


def test_format_given_for_an_unknown_extension_is_used(tmp_path: Path) -> None:
    out = tmp_path / "notes.log"
    assert main(["report", str(STORED), "--format", "md", "-o", str(out)]) == 0
    assert LOOKS["md"](out.read_text())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", "y.pdf"], "-o y.pdf: cannot tell the format from '.pdf'; use .htm .html"),
        (["-o", "report"], "-o report: cannot tell the format from no extension"),
        (["--format", "md", "-o", "y.html"], "--format md but -o y.html is a .html name"),
    ],
)
def test_an_unknown_or_contradicting_extension_is_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(STORED), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pqat-tui: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_svg_report_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "r.svg"
    assert main(["report", str(STORED), "-o", str(out)]) == 0
    svg = out.read_text()
    assert "@font-face" not in svg and "cdn" not in svg.lower()
    assert not re.search(r"url\((?!#)", svg)  # only references inside the file itself
    assert "monospace" in svg
    assert "PQAT" in svg


def _options(parser) -> list:
    return [
        a for a in parser._actions if a.dest not in ("help",) and not a.__class__.__name__.startswith("_Sub")
    ]


def test_every_command_and_option_has_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert subparsers.help  # what no COMMAND means
    for action in _options(parser):
        assert action.help, action.dest
    for name, command in subparsers.choices.items():
        assert command.description, name
        for action in _options(command):
            assert action.help, (name, action.dest)
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    assert set(helps) >= {"run", "report", "config"} and all(helps.values())
