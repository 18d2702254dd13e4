"""`pqat-tui` with no command: the interactive app, in a terminal only."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from engine.config import PipelineConfig

EXIT_NOT_A_TERMINAL = 2
EXIT_RUN_IN_USE = 2
EXIT_UNWRITABLE = 2
NATIVE_LOG = "tensorflow.log"


def app_command(
    config: PipelineConfig, run_dir: Path | None = None, *, model: str | None = None, no_train: bool = False
) -> int:
    # Both ends: with input from a pipe or a file the app would wait for keys that never come.
    not_terminal = [
        name for name, stream in (("input", sys.stdin), ("output", sys.stdout)) if not _is_tty(stream)
    ]
    if not_terminal:
        print(
            f"pqat-tui: error: the interactive app needs a terminal (standard {' and '.join(not_terminal)} "
            f"{'is not one' if len(not_terminal) == 1 else 'are not'}); use `pqat-tui run` for the headless "
            "pipeline",
            file=sys.stderr,
        )
        return EXIT_NOT_A_TERMINAL
    from engine.run_store import DEFAULT_RUNS_ROOT, LOCK_FILE, new_run_dir, read_lock
    from engine.tf_runtime import redirect_native_stderr
    from engine.writes import WriteError, append_line
    from pqat_tui.app import PqatApp
    from pqat_tui.engine_loader import real_engine_factory

    try:
        run_dir = run_dir or new_run_dir(DEFAULT_RUNS_ROOT)  # created at once: never shared with another
    except WriteError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_UNWRITABLE
    holder = read_lock(run_dir / LOCK_FILE)
    if holder is not None and holder.is_alive():
        # Said here, before the screen opens; the engine's own lock still settles any race.
        print(f"pqat-tui: error: {run_dir}: in use by {holder.describe()}", file=sys.stderr)
        return EXIT_RUN_IN_USE
    native_log = run_dir / NATIVE_LOG
    try:
        append_line(native_log, b"")  # the app's first write: a read-only run folder stops here, in one line
    except WriteError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_UNWRITABLE
    # TensorFlow's C++ logging writes to file descriptor 2, under Textual's screen. Textual draws on
    # sys.__stderr__ too, so it gets its own copy of the terminal before fd 2 goes to the log file.
    with _terminal_for_textual(), redirect_native_stderr(native_log):
        factory = real_engine_factory(run_dir, model=model, no_train=no_train)
        app = PqatApp(config, factory, native_log=native_log, run_dir=run_dir, model=model)
        try:
            app.run()
        finally:
            close = getattr(app.engine, "close", None)
            if close is not None:
                close()  # releases the run folder's lock
    if app.return_code:
        print(f"pqat-tui: TensorFlow's log is in {native_log}", file=sys.stderr)
    return app.return_code or 0


def _is_tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)  # sys.stdin is None when the process has no stdin at all
    return bool(isatty and isatty())


@contextlib.contextmanager
def _terminal_for_textual() -> Iterator[None]:
    """Point sys.__stderr__ (where Textual's driver writes) at a duplicate of the terminal's fd 2."""
    original = sys.__stderr__
    assert original is not None
    original.flush()
    terminal = os.fdopen(os.dup(original.fileno()), "w", encoding="utf-8", errors="replace")
    sys.__stderr__ = terminal
    try:
        yield
    finally:
        terminal.flush()
        sys.__stderr__ = original
        terminal.close()
