"""`pqat-tui ps`: the runs under runs/ (or the folders given), what each is doing, as a table or JSON.

Reads run folders only (manifest.json, worker.json, events.jsonl): no TensorFlow, no engine process asked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from engine.live import RunStatus, describe_event, list_runs
from engine.run_store import DEFAULT_RUNS_ROOT

EXIT_OK = 0
EXIT_USAGE = 2
COLUMNS = ("RUN", "STATE", "PID", "STARTED", "LAST EVENT", "DETAIL")


def ps_command(args: argparse.Namespace) -> int:
    explicit = [Path(folder) for folder in args.folders]
    for folder in explicit:
        if not folder.is_dir():
            print(f"pqat-tui: error: {folder}: no such folder", file=sys.stderr)
            return EXIT_USAGE
    statuses = [status for root in explicit or [DEFAULT_RUNS_ROOT] for status in list_runs(root)]
    if args.json:
        print(json.dumps([status.to_json() for status in statuses], indent=2))
        return EXIT_OK
    if not statuses:
        where = ", ".join(str(folder) for folder in explicit) or f"{DEFAULT_RUNS_ROOT}/"
        print(f"No runs in {where}.")
        return EXIT_OK
    # Cut to a terminal's width; piped (grep, a file), every line whole.
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    print(ps_table(statuses, width=width))
    return EXIT_OK


def ps_row(status: RunStatus) -> tuple[str, ...]:
    last = status.last_event
    when = str(last.get("time", "")).replace("T", " ").rstrip("Z") if last else ""
    happened = f"{when[11:19]} {describe_event(last)}" if last else ""
    return (
        str(status.folder),
        status.state,
        str(status.pid) if status.pid else "",
        status.started.replace("T", " ").rstrip("Z"),
        happened,
        status.detail,
    )


def ps_table(statuses: list[RunStatus], width: int | None = None) -> str:
    """A plain table, one run a line; with `width`, lines are cut to it."""
    rows = [COLUMNS, *(ps_row(status) for status in statuses)]
    widths = [max(len(row[index]) for row in rows) for index in range(len(COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        line = "  ".join([*cells, row[-1]]).rstrip()
        lines.append(line if width is None or len(line) <= width else line[: max(width - 1, 0)] + "…")
    return "\n".join(lines)
