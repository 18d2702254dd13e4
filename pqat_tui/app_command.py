"""`pqat-tui` with no command: the interactive app, in a terminal only."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from engine.config import PipelineConfig

EXIT_NOT_A_TERMINAL = 2


def app_command(config: PipelineConfig) -> int:
    if not sys.stdout.isatty():
        print(
            "pqat-tui: the interactive app needs a terminal; use `pqat-tui run` for the headless pipeline.",
            file=sys.stderr,
        )
        return EXIT_NOT_A_TERMINAL
    from engine.tf_runtime import redirect_native_stderr

    from pqat_tui.app import PqatApp

    fd, name = tempfile.mkstemp(prefix="pqat-tui-", suffix=".log")
    os.close(fd)
    native_log = Path(name)
    # TensorFlow's C++ logging writes to file descriptor 2, under Textual's screen. Textual draws on
    # sys.__stderr__ too, so it gets its own copy of the terminal before fd 2 goes to the log file.
    with _terminal_for_textual(), redirect_native_stderr(native_log):
        app = PqatApp(config, native_log=native_log)
        app.run()
    if app.return_code:
        print(f"pqat-tui: TensorFlow's log is in {native_log}", file=sys.stderr)
    return app.return_code or 0


@contextlib.contextmanager
def _terminal_for_textual() -> Iterator[TextIO]:
    """Point sys.__stderr__ (where Textual's driver writes) at a duplicate of the terminal's fd 2."""
    original = sys.__stderr__
    assert original is not None
    original.flush()
    terminal = os.fdopen(os.dup(original.fileno()), "w", encoding="utf-8", errors="replace")
    sys.__stderr__ = terminal
    try:
        yield terminal
    finally:
        terminal.flush()
        sys.__stderr__ = original
        terminal.close()
