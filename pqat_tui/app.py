"""The Textual app: a stage list, the selected stage's panel, a log pane, and keys to drive the engine.

The engine runs in a thread worker and talks back only through posted messages; the `busy` reactive is
cleared only by the engine's own final event for a stage, and the next stage of a run-all is started here,
on the event loop, never from inside the worker.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Footer, Static
from textual.worker import Worker, get_current_worker

from engine.config import PipelineConfig
from engine.config_file import changed_settings
from engine.events import (
    BatchProgress,
    EpochEnded,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
    one_line_error,
)
from engine.protocol import PipelineEngine
from engine.results import RunResults
from engine.stages import Stage, downstream_of
from engine.writes import WriteError
from pqat_tui.engine_loader import EngineFactory, real_engine_factory
from pqat_tui.headlines import headline
from pqat_tui.keymap import APP_BINDINGS
from pqat_tui.messages import (
    EngineEventPosted,
    EngineLoadFailed,
    EngineReady,
    ReportExported,
    ReportExportFailed,
)
from pqat_tui.paths import asset_path
from pqat_tui.report.export import ReportError, default_report_dir, export_report
from pqat_tui.screens.confirm import ConfirmScreen
from pqat_tui.screens.export_dialog import ExportScreen
from pqat_tui.screens.help import HelpScreen
from pqat_tui.screens.settings import SettingsScreen
from pqat_tui.steps import StageBoard, Step, StepState
from pqat_tui.widgets.compare_panel import ComparePanel
from pqat_tui.widgets.data_panel import DataPanel
from pqat_tui.widgets.header_line import HeaderLine, Session
from pqat_tui.widgets.log_pane import LogPane
from pqat_tui.widgets.stage_list import StageList, StageRow
from pqat_tui.widgets.stage_panel import StagePanel
from pqat_tui.widgets.tflite_panel import TFLitePanel
from pqat_tui.widgets.training_panel import TrainingPanel

if TYPE_CHECKING:
    from textual.command import Provider

TRAINING_STEPS = (Step.BASELINE, Step.PRUNE, Step.QAT, Step.PQAT)

# The actions that need the engine: pressed while TensorFlow loads, they wait for it.
ENGINE_ACTIONS = ("run_next", "run_all", "rerun")


def pipeline_commands() -> type[Provider]:
    """The palette's provider, imported when the palette first opens (textual.command is slow to import)."""
    from pqat_tui.commands import PipelineCommands

    return PipelineCommands


class PqatApp(App[int]):
    CSS_PATH = asset_path("app.tcss")
    TITLE = "pqat-tui"
    BINDINGS = APP_BINDINGS
    COMMANDS = App.COMMANDS | {pipeline_commands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    busy: reactive[bool] = reactive(False, bindings=True)
    selected: reactive[Step] = reactive(Step.DATA)

    def __init__(
        self,
        config: PipelineConfig,
        engine_factory: EngineFactory | None = None,
        *,
        native_log: Path | None = None,
        run_dir: Path | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.session = Session(config.data, model or _model_of_run(run_dir), run_dir)
        self.engine_factory = engine_factory or real_engine_factory()
        self.native_log = native_log
        self.engine: PipelineEngine | None = None
        self.engine_error: str | None = None
        self.results = RunResults(config=config.to_dict())
        self.board = StageBoard()
        self.errors: dict[Stage, str] = {}
        self._stage_worker: Worker[None] | None = None
        self._run_all = False
        self._quit_when_stopped = False
        self._queued_action: str | None = None
        self._progress_figure: str = ""

    # Layout.

    def compose(self) -> ComposeResult:
        yield HeaderLine(id="header")
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield StageList(id="stage-list")
                yield Static(id="status")
            with Vertical(id="content"):
                # Only the first panel is in the first frame; the others are mounted right after it.
                with ContentSwitcher(initial=f"panel-{Step.DATA.value}", id="panels"):
                    yield DataPanel()
                yield LogPane(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stage-list").border_title = "Stages"
        self.query_one("#log").border_title = "Log"
        self.query_one(DataPanel).focus()  # the arrows scroll what is read; j/k choose the stage
        # Python warnings and absl/TensorFlow logging written to sys.stderr/stdout land in the log pane.
        self.begin_capture_print(self.query_one(LogPane))
        self._refresh_everything()
        self._set_status("Loading TensorFlow… (keys work; a stage waits for it)")
        self.call_after_refresh(self._after_first_paint)

    async def _after_first_paint(self) -> None:
        panels: list[StagePanel] = [TrainingPanel(step) for step in TRAINING_STEPS]
        panels += [TFLitePanel(step) for step in (Step.CONVERT, Step.EVALUATE, Step.PTQ)]
        panels.append(ComparePanel())
        for panel in panels:
            panel.display = False  # ContentSwitcher hides only the children it started with
        await self.query_one(ContentSwitcher).mount_all(panels)
        self._refresh_everything()
        self.watch_selected(self.selected)  # a key pressed before they were mounted
        # The slow import starts only once the screen is up, and the panels its events feed exist.
        self._load_engine()

    # Loading the engine.

    @work(thread=True, exclusive=True, group="loader")
    def _load_engine(self) -> None:
        try:
            loaded = self.engine_factory(self.config)
        except Exception as error:  # the app must stay up to say what went wrong
            self.post_message(EngineLoadFailed(one_line_error(error)))
            return
        self.post_message(EngineReady(loaded.engine, dict(loaded.versions), loaded.summary))

    @on(EngineReady)
    async def _engine_ready(self, message: EngineReady) -> None:
        self.engine = message.engine
        libraries = ", ".join(f"{name} {version}" for name, version in message.versions.items())
        self._log("Engine ready" + (f": {libraries}" if libraries else ""))
        if message.summary:
            self._log(message.summary)
        if self.native_log is not None:
            self._log(f"TensorFlow's native log: {self.native_log}")
        self.results = self.engine.results
        self.board.sync(self.engine.done_stages(), _stale_stages(self.engine))
        self._refresh_everything()
        queued, self._queued_action = self._queued_action, None
        if queued is not None:
            await self.run_action(queued)

    @on(EngineLoadFailed)
    def _engine_load_failed(self, message: EngineLoadFailed) -> None:
        self.engine_error = message.error
        self._queued_action = None
        self._log(f"The engine could not start: {message.error}", "error")
        self._set_status(f"Engine failed to load: {message.error}", error=True)

    def _engine_or_queue(self, action: str) -> PipelineEngine | None:
        """The engine, or None after queueing `action` (TensorFlow still loading) or saying why not."""
        if self.engine is not None:
            return self.engine
        if self.engine_error is not None:
            self.notify(f"No engine: {self.engine_error}", severity="error", markup=False)
            return None
        self._queued_action = action
        self.notify("TensorFlow is still loading; this starts as soon as it is ready.")
        return None

    # Actions (keys, command palette).

    def action_run_next(self) -> None:
        engine = self._engine_or_queue("run_next")
        if engine is None:
            return
        if self.busy:
            self.notify(
                f"{self.board.running.title if self.board.running else 'A stage'} is running; c cancels it."
            )
            return
        stage = self.board.next_stage()
        if stage is None:
            self.notify("Every stage is done; r re-runs the selected one.")
            return
        self._start(stage)

    def action_run_all(self) -> None:
        engine = self._engine_or_queue("run_all")
        if engine is None:
            return
        if self.board.next_stage() is None and not self.busy:
            self.notify("Every stage is done; r re-runs the selected one.")
            return
        self._run_all = True
        if self.busy:
            self.notify("The remaining stages run after this one.")
            return
        stage = self.board.next_stage()
        assert stage is not None
        self._start(stage)

    def action_rerun(self) -> None:
        step = self.selected
        if step.stage is None:
            self.notify("Compare runs nothing: it shows the other stages' results.")
            return
        engine = self._engine_or_queue("rerun")
        if engine is None:
            return
        if self.busy:
            self.notify("Wait for the running stage, or cancel it with c.")
            return
        blocked = self.board.blocked(step.stage)
        if blocked is not None:
            self.notify(f"{blocked.message}.", title="Cannot run yet", severity="warning")
            return
        self._start(step.stage)

    def action_cancel(self) -> None:
        if not self.busy:
            return
        self._run_all = False
        if self._stage_worker is not None:
            # Sets the worker's cancelled_event, which the engine reads as its stop flag.
            self._stage_worker.cancel()
        running = self.board.running
        self._set_status(f"Cancelling {running.title if running else 'the stage'}…")

    def action_select_next(self) -> None:
        steps = list(Step)
        self.selected = steps[min(steps.index(self.selected) + 1, len(steps) - 1)]

    def action_select_previous(self) -> None:
        steps = list(Step)
        self.selected = steps[max(steps.index(self.selected) - 1, 0)]

    def action_select_first(self) -> None:
        self.selected = list(Step)[0]

    def action_select_last(self) -> None:
        self.selected = list(Step)[-1]

    def action_focus_panel(self) -> None:
        self._panel(self.selected).focus()

    def action_half_page(self, direction: int) -> None:
        """ctrl+d / ctrl+u: half a page down or up in the focused panel or log (else the stage's panel)."""
        focused = self.focused
        target = focused if isinstance(focused, (StagePanel, LogPane)) else self._panel(self.selected)
        half_page = max(1, target.scrollable_content_region.height // 2)
        target.scroll_relative(y=direction * half_page, animate=False)

    def action_settings(self) -> None:
        if isinstance(self.screen, SettingsScreen):
            return
        if self.busy:
            self.notify("Settings change between stages: wait for this one, or cancel it with c.")
            return
        if self.engine is None or not hasattr(self.engine, "reconfigure"):
            self.notify("Settings can change once the engine is ready.")
            return
        self.push_screen(SettingsScreen(self.config), self._settings_saved)

    def _settings_saved(self, config: PipelineConfig | None) -> None:
        """Apply the settings screen's config: the engine drops what the change makes stale."""
        if config is None or self.engine is None:
            return
        if self.busy:  # a queued run started meanwhile: the engine's config must not change under it
            self.notify("A stage started: the settings were not changed.", severity="warning")
            return
        changes = changed_settings(self.config, config)
        try:
            stale = self.engine.reconfigure(config)  # type: ignore[attr-defined]
        except WriteError as error:  # the run folder refused the new config: nothing changed
            self._log(f"Settings not changed: {error}", "error")
            self.notify(str(error), title="Settings not changed", severity="error", markup=False)
            return
        self.config = config
        self.results = self.engine.results
        self.board.sync(self.engine.done_stages(), _stale_stages(self.engine))
        for stage in stale:
            panel = self._panel(Step.of(stage))
            if isinstance(panel, TrainingPanel):
                panel.forget_live()
        self._log("Settings changed: " + ", ".join(f"{key} {old} → {new}" for key, old, new in changes))
        if stale:
            names = ", ".join(stage.title for stage in Stage if stage in stale)
            self._log(f"Stale now, to run again: {names}", "warning")
        self._refresh_everything()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_export_report(self) -> None:
        """Ask for a folder, then write the run's report there; a partial run exports what it has."""
        if isinstance(self.screen, ExportScreen):
            return

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self._export_report(self.results, folder)

        self.push_screen(ExportScreen(default_report_dir()), chosen)

    @work(thread=True, group="export")
    def _export_report(self, results: RunResults, folder: Path) -> None:
        # Rendering and writing five files takes a moment; the screen keeps drawing meanwhile.
        try:
            files = export_report(results, folder)
        except ReportError as error:
            self.post_message(ReportExportFailed(str(error)))
            return
        except Exception as error:  # a bug in rendering must not take the session's trained models with it
            self.post_message(ReportExportFailed(f"internal error: {one_line_error(error)}"))
            return
        self.post_message(ReportExported(folder, tuple(files)))

    @on(ReportExported)
    def _report_exported(self, message: ReportExported) -> None:
        names = ", ".join(path.name for path in message.files)
        # The full path: over SSH it is what a person copies into scp.
        where = message.folder.resolve()
        self._log(f"Report written to {where}/ ({names})")
        self.notify(f"{where}/\n{names}", title="Report exported", markup=False)

    @on(ReportExportFailed)
    def _report_export_failed(self, message: ReportExportFailed) -> None:
        self._log(f"Report not written: {message.error}", "error")
        self.notify(message.error, title="Report not written", severity="error", markup=False)

    def action_request_quit(self) -> None:
        if not self.busy:
            self.exit(0)
            return
        running = self.board.running
        name = running.title if running else "A stage"

        def answered(quit_now: bool | None) -> None:
            if quit_now and self.busy:
                self._quit_when_stopped = True
                self.action_cancel()
                self._set_status(f"Stopping {name}, then quitting…")
            elif quit_now:
                self.exit(0)

        self.push_screen(ConfirmScreen(f"{name} is running. Stop it and quit?"), answered)

    async def action_quit(self) -> None:
        # ctrl+q and the palette's "Quit" go through the same question as q.
        self.action_request_quit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel" and not self.busy:
            return None  # shown dimmed: nothing to cancel
        if action == "settings" and self.busy:
            return None  # shown dimmed: settings change between stages
        return True

    # Running stages.

    def _start(self, stage: Stage) -> None:
        assert self.engine is not None and not self.busy
        self.busy = True
        self._progress_figure = "starting"
        self.board.started(stage)
        self.errors.pop(stage, None)
        for dropped in (stage, *downstream_of(stage)):
            self.errors.pop(dropped, None)
            panel = self._panel(Step.of(dropped))
            if isinstance(panel, TrainingPanel):
                panel.forget_live()
        self.selected = Step.of(stage)
        self._set_status(f"Running {stage.title}… c cancels")
        self._refresh_everything()
        self._stage_worker = self._run_stage(self.engine, stage)

    @work(thread=True, group="engine")
    def _run_stage(self, engine: PipelineEngine, stage: Stage) -> None:
        # The worker's own cancel flag is the engine's stop flag: `c`, quitting, and the app shutting down
        # for any reason all stop training within a batch.
        stop = get_current_worker().cancelled_event
        started = time.monotonic()

        def emit(event: object) -> None:
            self.post_message(EngineEventPosted.wrap(event))  # type: ignore[arg-type]

        try:
            engine.run_stage(stage, emit, stop)
        except Exception as error:  # the protocol says it never raises; if it does, the app still recovers
            for line in traceback.format_exc().splitlines():
                emit(LogMessage(line, "error", stage))
            emit(StageFailed(stage, time.monotonic() - started, f"internal error: {one_line_error(error)}"))

    @on(EngineEventPosted)
    def _engine_event(self, message: EngineEventPosted) -> None:
        event = message.event
        if isinstance(event, BatchProgress):
            self._training_panel(event.stage).batch_progress(event)
            # The epoch, then how far into it: "ep 4/10 · 45%" (not a share of the whole stage).
            self._progress_figure = (
                f"ep {event.epoch}/{event.epochs} · {event.batch * 100 // max(event.batches, 1)}%"
            )
            self._refresh_stage_list()
        elif isinstance(event, EpochEnded):
            self._training_panel(event.stage).epoch_ended(event)
            self._progress_figure = f"ep {event.epoch}/{event.epochs}"
            self._log(f"{event.stage.title} epoch {event.epoch}/{event.epochs}: {_metrics(event.metrics)}")
            self._refresh_stage_list()
        elif isinstance(event, StageStarted):
            epochs = f" ({event.epochs} epoch{'s' if event.epochs != 1 else ''})" if event.epochs else ""
            self._log(f"{event.stage.title} started{epochs}")
            if Step.of(event.stage) in TRAINING_STEPS:
                self._training_panel(event.stage).training_started(event)
        elif isinstance(event, LogMessage):
            prefix = f"{event.stage.title}: " if event.stage else ""
            self._log(prefix + event.text, event.level)
        elif isinstance(event, StageFinished):
            self.results = event.results
            self._log(f"{event.stage.title} done in {event.seconds:.1f} s")
            self._stage_ended(event.stage, StepState.DONE)
        elif isinstance(event, StageFailed):
            self.errors[event.stage] = event.error
            self._log(f"{event.stage.title} failed: {event.error}", "error")
            self.notify(event.error, title=f"{event.stage.title} failed", severity="error", markup=False)
            self._stage_ended(event.stage, StepState.FAILED)
        elif isinstance(event, StageCancelled):
            self._log(f"{event.stage.title} cancelled after {event.seconds:.1f} s", "warning")
            self._stage_ended(event.stage, StepState.CANCELLED)

    def _stage_ended(self, stage: Stage, state: StepState) -> None:
        """The engine's final word on a stage: the only place `busy` is cleared."""
        assert self.engine is not None
        self.results = self.engine.results
        self.board.ended(stage, state, self.engine.done_stages())
        self.busy = False
        if self._quit_when_stopped:
            self.exit(0)
            return
        if state is not StepState.DONE:
            self._run_all = False
        next_stage = self.board.next_stage()
        if self._run_all and next_stage is not None:
            self._start(next_stage)
            return
        self._run_all = False
        if state is StepState.DONE and next_stage is None and self.selected.stage == stage:
            self.selected = Step.COMPARE  # not after a cancelled re-run: the earlier output is still done
        self._set_status(self._idle_status())
        self._refresh_everything()

    # Drawing.

    def watch_selected(self, selected: Step) -> None:
        self.query_one(StageList).selected = selected
        switcher = self.query_one(ContentSwitcher)
        if switcher.query_children(f"#panel-{selected.value}"):
            panel_had_focus = isinstance(self.focused, StagePanel)
            switcher.current = f"panel-{selected.value}"
            if panel_had_focus:  # the focus follows to the new panel instead of falling to the log
                self._panel(selected).focus()

    def watch_busy(self, busy: bool) -> None:
        self.set_class(busy, "-busy")

    def _panel(self, step: Step) -> StagePanel:
        return self.query_one(f"#panel-{step.value}", StagePanel)

    def _training_panel(self, stage: Stage) -> TrainingPanel:
        return self.query_one(f"#panel-{stage.value}", TrainingPanel)

    def _rows(self) -> list[StageRow]:
        rows = []
        for step in Step:
            state = self.board.state(step)
            if state is StepState.DONE:
                figure = headline(self.results, step)
            elif state is StepState.RUNNING:
                figure = self._progress_figure
            else:
                figure = ""
            rows.append(StageRow(step, state, figure))
        return rows

    def _refresh_stage_list(self) -> None:
        self.query_one(StageList).show(self._rows())

    def _refresh_everything(self) -> None:
        self._refresh_stage_list()
        self.query_one(HeaderLine).show(self.session, self.results)
        for panel in self.query(StagePanel):
            stage = panel.step.stage
            panel.show_results(
                self.results, self.board.state(panel.step), self.errors.get(stage) if stage else None
            )
        if not self.busy and self.engine is not None:
            self._set_status(self._idle_status())

    def _idle_status(self) -> str:
        next_stage = self.board.next_stage()
        if next_stage is None:
            return "Every stage done · r re-runs the selected one"
        return f"Ready · n runs {next_stage.title} · a runs all"

    def _set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(Text(text))  # not markup: the text may quote a file name or an error
        status.set_class(error, "-error")

    def _log(self, text: str, level: str = "info") -> None:
        self.query_one(LogPane).add(text, level)

    @on(StageList.Clicked)
    def _stage_clicked(self, message: StageList.Clicked) -> None:
        self.selected = message.step


def _stale_stages(engine: PipelineEngine) -> set[Stage]:
    """The stages an engine with a run folder reports stale; none for one without."""
    stale_stages = getattr(engine, "stale_stages", None)
    return set(stale_stages()) if stale_stages is not None else set()


def _model_of_run(run_dir: Path | None) -> str | None:
    """The model a resumed run was started with (its manifest says), for the header."""
    if run_dir is None:
        return None
    from engine.run_store import RunStoreError
    from engine.user_model import saved_model_choice

    try:
        saved = saved_model_choice(run_dir)
    except RunStoreError:  # a damaged run folder: the engine says why once it loads; the header guesses not
        return None
    return str(saved["path"]) if saved else None


def _metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {value:.4f}" for name, value in metrics.items())
