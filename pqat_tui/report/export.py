"""Writing a report's files so that a reader never finds a half-written or half-replaced report.

Every format is rendered in memory first, then written to hidden temporary files beside their targets;
only when all of them are on disk are they renamed into place. A failure before that point removes the
temporary files and leaves any earlier report in the folder exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path

from engine import writes
from engine.results import RunResults
from pqat_tui.report.model import build_report
from pqat_tui.report.render import FORMATS

REPORT_FILES = {
    "html": "report.html",
    "svg": "report.svg",
    "md": "report.md",
    "txt": "report.txt",
    "json": "results.json",
}


class ReportError(Exception):
    """A report could not be written; the message is one line a person can act on."""


# UTC, as run folders are named (engine.run_store.new_run_dir): one time convention for every folder.
FOLDER_TIME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"


def default_report_dir(now: datetime | None = None) -> Path:
    """`reports/<UTC time>/` under the working directory: sortable, and one per export."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return Path("reports") / moment.strftime(FOLDER_TIME_FORMAT)


def _reason(error: OSError) -> str:
    return writes.os_error_cause(error)  # in words: "no space left on the device", "read-only file system"...


def _write_temp(folder: Path, name: str, text: str) -> Path:
    # Not tempfile.mkstemp: its files are private (0600), and a report is meant to be shared (umask applies).
    # Opened where the engine opens every file it writes (engine.writes), never through a symbolic link.
    temp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = writes.open_for_write(temp, os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def ensure_folder(folder: Path) -> Path:
    """Create `folder` (and its parents) or raise ReportError: callers check before long work, too."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"cannot write a report into {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"cannot create report folder {folder}: {_reason(error)}") from error
    return folder


def write_files_atomically(folder: Path, contents: dict[str, str]) -> list[Path]:
    """Write `{file name: text}` into `folder`, all or nothing; raise ReportError on failure."""
    folder = ensure_folder(folder)
    temps: dict[str, Path] = {}
    try:
        for name, text in contents.items():
            temps[name] = _write_temp(folder, name, text)
        written = []
        for name, temp in temps.items():
            target = folder / name
            temp.replace(target)
            written.append(target)
        return written
    except OSError as error:
        raise ReportError(f"cannot write report into {folder}: {_reason(error)}") from error
    finally:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> Path:
    """One file, by the same rules: `pqat-tui report -o PATH`."""
    path = Path(path)
    if path.is_dir():
        raise ReportError(f"cannot write {path}: it is a folder")
    return write_files_atomically(path.parent, {path.name: text})[0]


def export_report(results: RunResults, folder: Path) -> list[Path]:
    """Write the run's report in every format into `folder` and return the files' paths."""
    report = build_report(results)
    contents = {REPORT_FILES[fmt]: render(report) for fmt, render in FORMATS.items()}
    return write_files_atomically(Path(folder), contents)
