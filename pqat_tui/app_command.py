"""`pqat-tui` with no command, and `pqat-tui attach`: the interactive app, in a terminal only.

The engine runs in a process of its own (engine.worker); this process never imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import PipelineConfig

if TYPE_CHECKING:
    from engine.live import WorkerInfo

STOPPING_WAIT_S = 4.0  # an engine process stops a stage within 2 s, or ends itself
EXIT_NOT_A_TERMINAL = 2
EXIT_RUN_IN_USE = 2
EXIT_UNWRITABLE = 2
NATIVE_LOG = "tensorflow.log"


def app_command(
    config: PipelineConfig,
    run_dir: Path | None = None,
    *,
    model: str | None = None,
    no_train: bool = False,
    attach: bool = False,
) -> int:
    """The app on `run_dir`; with `attach`, on the run's live engine process (or the run reopened)."""
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
    from engine.live import live_worker, read_preview
    from engine.run_store import DEFAULT_RUNS_ROOT, LOCK_FILE, new_run_dir, read_lock
    from engine.tf_runtime import redirect_native_stderr
    from engine.writes import WriteError, append_line, writing
    from pqat_tui.app import PqatApp
    from pqat_tui.engine_loader import real_engine_factory

    try:
        run_dir = run_dir or new_run_dir(DEFAULT_RUNS_ROOT)  # created at once: never shared with another
    except WriteError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_UNWRITABLE
    live = _unless_stopping(run_dir, live_worker(run_dir))
    holder = read_lock(run_dir / LOCK_FILE)
    if holder is not None and holder.is_alive() and not (attach and live is not None):
        # Said here, before the screen opens; the engine's own lock still settles any race.
        hint = f"; `pqat-tui attach {run_dir}` opens the app on it" if live is not None else ""
        print(f"pqat-tui: error: {run_dir}: in use by {holder.describe()}{hint}", file=sys.stderr)
        return EXIT_RUN_IN_USE
    native_log = run_dir / NATIVE_LOG
    try:
        with writing(run_dir):
            run_dir.mkdir(parents=True, exist_ok=True)  # --run-dir may name a folder still to be made
        append_line(native_log, b"")  # the app's first write: a read-only run folder stops here, in one line
    except WriteError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_UNWRITABLE
    # The engine process writes TensorFlow's native log there. Anything written to this process's file
    # descriptor 2 would land under Textual's screen: it goes to the same file, and Textual, which draws
    # on sys.__stderr__, gets its own copy of the terminal first.
    with _terminal_for_textual(), redirect_native_stderr(native_log):
        factory = real_engine_factory(run_dir, model=model, no_train=no_train)
        preview = read_preview(run_dir)
        app = PqatApp(
            config,
            factory,
            native_log=native_log,
            preview=preview,
            run_dir=run_dir,
            model=model,
            settle_heap=True,
        )
        try:
            app.run()
        finally:
            if app.engine is not None:
                app.engine.close(stop=False)  # already closed as the user chose, unless the app crashed
    if app.detached and app.engine_state is not None and app.engine_state.running is not None:
        print(f"The run goes on in the background (engine process {app.engine_state.pid}): {run_dir}")
        print(f"  pqat-tui attach {run_dir}   comes back to it")
        print("  pqat-tui ps                 lists runs and their progress")
    if app.return_code:
        print(f"pqat-tui: TensorFlow's log is in {native_log}", file=sys.stderr)
    # The terminal is back and the engine process has been told; the interpreter's teardown of the app's
    # few hundred modules would add another 0.3–0.8 s (two busy cores) before the shell prompt returns.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)


def _unless_stopping(run_dir: Path, live: WorkerInfo | None) -> WorkerInfo | None:
    """The run's live engine process; one that its last viewer told to stop (quit, then the run reopened
    at once) is given the few seconds it needs to stop its stage and free the run."""
    from engine.live import live_worker

    deadline = time.monotonic() + STOPPING_WAIT_S
    while live is not None and live.stopping and time.monotonic() < deadline:
        time.sleep(0.05)
        live = live_worker(run_dir)
    return live


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
