"""`pqat-tui run`: every stage headless, with rich progress bars, then the summary tables.

The engine runs in a worker thread and talks back through a queue, so the main thread stays free to draw
progress and to turn Ctrl-C into the engine's stop event. TensorFlow's native logging (and any traceback)
goes to a log file, never onto the terminal; its path is printed when something fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from engine.config import PipelineConfig
from engine.events import (
    BatchProgress,
    EngineEvent,
    EpochEnded,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
)
from engine.protocol import PipelineEngine
from engine.recipe import PQAT, Recipe
from engine.results import RunResults
from engine.stages import Stage, StageName, stage_key
from engine.writes import writing
from pqat_tui.fit import fit_table
from pqat_tui.layer_tables import LayerView, support_overview
from pqat_tui.tables import run_summary, stage_table

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# A large model's per-layer tables in the terminal: the largest rows; the report has every one.
RUN_LAYER_VIEW = LayerView(hint="--report DIR lists every one")


@dataclass(frozen=True)
class _Skipped(EngineEvent):
    stage: Stage | StageName
    because: tuple[Stage | StageName, ...]


@dataclass(frozen=True)
class _Kept(EngineEvent):
    """A stage the run folder already holds, with unchanged inputs: not run again."""

    stage: Stage | StageName


@dataclass(frozen=True)
class _WorkerDone(EngineEvent):
    pass


@dataclass
class _Outcome:
    finished: list[Stage | StageName] = field(default_factory=list)
    failed: dict[Stage | StageName, str] = field(default_factory=dict)
    skipped: dict[Stage | StageName, tuple[Stage | StageName, ...]] = field(default_factory=dict)
    cancelled: Stage | StageName | None = None
    kept: list[Stage | StageName] = field(default_factory=list)


def _recipe(session: Any) -> Recipe:
    """The stages a session runs: its recipe's (a session from before recipes runs `pqat`'s)."""
    return getattr(session, "recipe", None) or PQAT


def _run_pipeline(session: PipelineEngine, events: queue.Queue[EngineEvent], stop: threading.Event) -> None:
    """Worker thread: every stage of the session's recipe in order; a stage whose input failed is skipped.

    A stage the session already has done (kept from the run folder, unchanged) is not run again.
    """
    recipe = _recipe(session)
    unavailable: set[str] = set()
    try:
        for name in recipe.names():
            stage = stage_key(name, recipe)
            if stop.is_set():
                break
            if stage in session.done_stages():
                events.put(_Kept(stage))
                continue
            blocked = tuple(stage_key(s, recipe) for s in recipe.inputs_of(name) if s in unavailable)
            if blocked:
                unavailable.add(name)
                events.put(_Skipped(stage, blocked))
                continue
            outcome: list[EngineEvent] = []

            def emit(event: EngineEvent, outcome: list[EngineEvent] = outcome) -> None:
                if isinstance(event, (StageFinished, StageFailed, StageCancelled)):
                    outcome.append(event)
                events.put(event)

            session.run_stage(stage, emit, stop)
            if not outcome or not isinstance(outcome[-1], StageFinished):
                unavailable.add(name)
                if recipe.stage(name).technique == "data" or (
                    outcome and isinstance(outcome[-1], StageCancelled)
                ):
                    break
    finally:
        events.put(_WorkerDone())


class _ProgressView:
    """Three bars (stages, epochs, batches) and a line per stage printed above them."""

    def __init__(self, console: Console, log_file: Path, recipe: Recipe = PQAT) -> None:
        self.console = console
        self.log_file = log_file
        # Titles padded to the longest (9 columns for `pqat`'s, as always).
        self.width = max(9, *(len(recipe.title(name)) + 1 for name in recipe.names()))
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}", style="dim"),
            console=console,
            transient=True,
        )
        self.support_shown = False
        self.stages = self.progress.add_task("Pipeline", total=len(recipe.names()), metrics="")
        self.epochs = self.progress.add_task("  epochs", total=1, visible=False, metrics="")
        self.batches = self.progress.add_task("  batches", total=1, visible=False, metrics="")
        self.outcome = _Outcome()

    def handle(self, event: EngineEvent) -> None:
        if isinstance(event, StageStarted):
            self._stage_started(event)
        elif isinstance(event, BatchProgress):
            self.progress.update(
                self.batches, completed=event.batch, total=event.batches, metrics=_metrics(event.metrics)
            )
        elif isinstance(event, EpochEnded):
            self.progress.update(self.epochs, completed=event.epoch, total=event.epochs)
            self.progress.update(self.batches, metrics=_metrics(event.metrics))
        elif isinstance(event, LogMessage):
            self._log(event)
        elif isinstance(event, StageFinished):
            self.outcome.finished.append(event.stage)
            self._stage_ended(Text.assemble(("✓ ", "green"), self._title(event.stage), _secs(event.seconds)))
            self.show_support(event.results)
        elif isinstance(event, StageFailed):
            self.outcome.failed[event.stage] = event.error
            self._stage_ended(
                Text.assemble(("✗ ", "bold red"), self._title(event.stage), _secs(event.seconds), event.error)
            )
        elif isinstance(event, StageCancelled):
            self.outcome.cancelled = event.stage
            self._stage_ended(Text.assemble(("■ ", "yellow"), self._title(event.stage), "cancelled"))
        elif isinstance(event, _Kept):
            self.outcome.kept.append(event.stage)
            self._stage_ended(
                Text.assemble(
                    ("✓ ", "green"), self._title(event.stage), ("kept: its inputs are unchanged", "dim")
                )
            )
        elif isinstance(event, _Skipped):
            self.outcome.skipped[event.stage] = event.because
            needs = ", ".join(s.title for s in event.because)
            self._stage_ended(
                Text.assemble(("- ", "dim"), self._title(event.stage), (f"skipped: {needs} failed", "dim"))
            )

    def _title(self, stage: Stage | StageName) -> str:
        return f"{stage.title:<{self.width}}"

    def show_support(self, results: RunResults) -> None:
        """The support table, once, as soon as the results have it: before any training (the user's model
        when it loads, the example's after the Data stage, whose shape it follows)."""
        if self.support_shown or not results.layer_support:
            return
        self.support_shown = True
        self.console.print(support_overview(results.layer_support, RUN_LAYER_VIEW))

    def _stage_started(self, event: StageStarted) -> None:
        self.progress.update(self.stages, description=f"Pipeline: {event.stage.title}")
        trains = event.epochs > 0
        # reset, not update: the elapsed time of these bars is the stage's own.
        self.progress.reset(self.epochs, total=max(event.epochs, 1), visible=trains)
        self.progress.reset(self.batches, total=1, visible=trains, metrics="")

    def _stage_ended(self, line: Text) -> None:
        self.progress.advance(self.stages)
        self.progress.update(self.epochs, visible=False)
        self.progress.update(self.batches, visible=False)
        self.console.print(line)

    def _log(self, event: LogMessage) -> None:
        if event.level == "error":
            # Tracebacks and failure details: the log file, not the terminal (the failure line says enough).
            with contextlib.suppress(OSError), self.log_file.open("a", encoding="utf-8") as log:
                log.write(event.text + "\n")  # best effort: a full /tmp must not stop the run
        elif event.level == "warning":
            self.console.print(Text(f"! {event.text}", style="yellow"))
        else:
            self.console.print(Text(f"  {event.text}", style="dim"))


def _metrics(metrics: dict[str, float]) -> str:
    shown = ("loss", "accuracy", "val_accuracy")
    return "  ".join(f"{key} {metrics[key]:.4f}" for key in shown if key in metrics)


def _secs(seconds: float) -> Text:
    return Text(f"{seconds:6.1f} s  ", style="dim")


def _json_path_fault(path: Path) -> str | None:
    """Why the results could not be written to `path`, found before a minute of training; None if fine."""
    folder = path.parent
    if path.is_dir():
        return f"--json {path}: is a folder; give a file name"
    if not folder.is_dir():
        return f"--json {path}: folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"--json {path}: folder {folder} is not writable"
    return None


def run_command(config: PipelineConfig, args: argparse.Namespace) -> int:
    json_fault = _json_path_fault(Path(args.json)) if getattr(args, "json", None) else None
    if json_fault:
        print(f"pqat-tui: error: {json_fault}", file=sys.stderr)
        return EXIT_USAGE
    report_dir = Path(args.report) if getattr(args, "report", None) else None
    if report_dir is not None:
        # An unusable report folder is found before the run, not after a minute of training.
        from pqat_tui.report.export import ReportError, ensure_folder

        try:
            ensure_folder(report_dir)
        except ReportError as error:
            print(f"pqat-tui: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    from engine.data import DataError
    from engine.run_store import DEFAULT_RUNS_ROOT, RunStoreError, discard_new_run_dir, new_run_dir
    from engine.stored_session import open_run
    from engine.user_model import UserModelError, load_model_choice
    from engine.writes import WriteError

    console = Console(highlight=False)
    given_dir = Path(args.run_dir) if getattr(args, "run_dir", None) else None
    new_dir: Path | None = None
    try:
        # The user's model is loaded and checked against the data first (TensorFlow's log to a file),
        # then the run folder is created (a new one) and locked: another process on the same run is
        # refused, before any work. A refused command leaves no new folder behind.
        with _native_log() as log_file:
            user_model, train = load_model_choice(
                getattr(args, "model", None), getattr(args, "no_train", False), given_dir, config
            )
        run_dir = given_dir or (new_dir := new_run_dir(DEFAULT_RUNS_ROOT))
        args.run_dir = str(run_dir)
        session = open_run(config, run_dir, user_model=user_model, train_baseline=train)
    except (RunStoreError, UserModelError, WriteError, DataError) as error:
        if new_dir is not None:
            discard_new_run_dir(new_dir)
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before any stage ran: the new folder holds nothing worth resuming
        if new_dir is not None:
            discard_new_run_dir(new_dir)
        raise
    shutil.rmtree(log_file.parent, ignore_errors=True)
    if user_model is not None:
        how = "fine-tuned" if train else "evaluated as it is"
        console.print(Text(f"Baseline: your model {user_model.path} ({how})", style="dim"))
        for stage, reason in user_model.unsupported.items():
            console.print(Text(f"! {stage.title} cannot run: {reason}", style="yellow"))
    try:
        console.print(Text(session.summary(), style="dim"))
        status = _run(config, args, session)
    except WriteError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        status = _RunStatus(EXIT_USAGE, session.results)
    finally:
        session.close()
    if status.code == EXIT_USAGE and new_dir is not None and not status.results.stage_seconds:
        discard_new_run_dir(new_dir)  # the data was refused: nothing ran, nothing to resume
    if report_dir is not None and not _export(status.results, report_dir):
        return EXIT_USAGE
    return status.code


@contextlib.contextmanager
def _native_log() -> Iterator[Path]:
    """TensorFlow's native logging (its import, loading a model) into a file, not onto the terminal."""
    from engine.tf_runtime import redirect_native_stderr

    with writing(tempfile.gettempdir()):  # a full /tmp: one line, not a traceback
        log_file = Path(tempfile.mkdtemp(prefix="pqat-tui-model-")) / "tensorflow.log"
    with redirect_native_stderr(log_file):
        yield log_file


@dataclass(frozen=True)
class _RunStatus:
    code: int
    results: RunResults


def _export(results: RunResults, folder: Path) -> bool:
    """Write the report (a partial or failed run's too); False, with a one-line error, if it cannot be."""
    from pqat_tui.report import ReportError, export_report

    try:
        export_report(results, folder)
    except ReportError as error:
        print(f"pqat-tui: error: {error}", file=sys.stderr)
        return False
    Console(highlight=False).print(Text(f"Report written to {folder}/", style="dim"))
    return True


def _run(config: PipelineConfig, args: argparse.Namespace, session: Any) -> _RunStatus:
    """Every stage the session (a StoredSession on the run folder) does not already hold, with progress."""
    from engine.tf_runtime import redirect_native_stderr

    console = Console(highlight=False)
    with writing(tempfile.gettempdir()):  # a full /tmp: one line (run_command), before any stage
        log_dir = Path(tempfile.mkdtemp(prefix="pqat-tui-run-"))
    log_file = log_dir / "tensorflow.log"
    events: queue.Queue[EngineEvent] = queue.Queue()
    stop = threading.Event()
    view = _ProgressView(console, log_file, _recipe(session))
    view.show_support(session.results)
    interrupted = False

    with redirect_native_stderr(log_file), view.progress:
        worker = threading.Thread(
            target=_run_pipeline, args=(session, events, stop), name="pqat-engine", daemon=True
        )
        started = False
        while True:
            # Ctrl-C may land anywhere in this loop, even in Thread.start: every place sets the stop event.
            try:
                if not started:
                    started = True
                    worker.start()
                event = events.get(timeout=0.2)
                if isinstance(event, _WorkerDone):
                    break
                view.handle(event)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
                console.print(Text("Stopping at the end of the current batch…", style="yellow"))
        with contextlib.suppress(KeyboardInterrupt):
            worker.join()

    outcome = view.outcome
    data_failure = next((error for stage, error in outcome.failed.items() if stage == Stage.DATA), None)
    if data_failure is not None:
        print(f"pqat-tui: error: {data_failure}", file=sys.stderr)
        shutil.rmtree(log_dir, ignore_errors=True)
        return _RunStatus(EXIT_USAGE, session.results)
    if interrupted or outcome.cancelled is not None:
        stage = outcome.cancelled.title if outcome.cancelled else "the run"
        console.print(Text(f"Interrupted: {stage} stopped and nothing of it was kept.", style="yellow"))
        console.print(Text(f"Finished stages are kept: pqat-tui run --resume {args.run_dir}", style="yellow"))
        shutil.rmtree(log_dir, ignore_errors=True)
        return _RunStatus(EXIT_INTERRUPTED, session.results)

    results = session.results
    json_fault = _write_json(results, Path(args.json)) if args.json else None
    console.print()
    console.print(run_summary(results, RUN_LAYER_VIEW))
    console.print(fit_table(stage_table(results)))  # every stage of the recipe, with its figures
    if args.json and json_fault is None:
        console.print(Text(f"Results written to {args.json}", style="dim"))
    console.print(Text(f"Run folder: {args.run_dir}", style="dim"))
    if json_fault is not None:
        print(f"pqat-tui: error: --json {json_fault}", file=sys.stderr)
    if outcome.failed:
        if outcome.skipped:
            skipped = ", ".join(s.title for s in outcome.skipped)
            console.print(Text(f"Skipped because an input failed: {skipped}", style="red"))
        console.print(Text(f"TensorFlow's log and the tracebacks are in {log_file}", style="red"))
        # One line for whoever reads only stderr (CI): the first failure, in the engine's words.
        stage, error = next(iter(outcome.failed.items()))
        others = f" (and {len(outcome.failed) - 1} more)" if len(outcome.failed) > 1 else ""
        print(f"pqat-tui: error: {stage.title} failed{others}: {error}", file=sys.stderr)
        return _RunStatus(EXIT_FAILED, results)
    shutil.rmtree(log_dir, ignore_errors=True)
    return _RunStatus(EXIT_OK if json_fault is None else EXIT_USAGE, results)


def _write_json(results: RunResults, path: Path) -> str | None:
    """Write `run --json`'s file; the reason in one line when it cannot be (the run's folder still has it)."""
    from engine.writes import WriteError

    try:
        results.write_json(path)
    except WriteError as error:
        return str(error)
    return None
