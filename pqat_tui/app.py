"""The Textual app: a stage list, the selected stage's panel, a log pane, and keys to drive the engine.

The engine runs in a process of its own (engine.worker) behind an EngineLink: keys send it commands, and
its events come back as posted messages. The `busy` reactive is cleared only by the engine's own final
event for a stage; a run-all goes on in the engine process, which says before each final event whether
another stage follows. Several apps may view one engine process: one drives, the others watch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.widgets import Static

from engine.config import PipelineConfig
from engine.config_file import changed_settings
from engine.events import (
    BatchProgress,
    EngineEvent,
    EpochEnded,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
    one_line_error,
)
from engine.host import LocalLink
from engine.live import RunPreview
from engine.protocol import EngineLink, EngineRefused
from engine.recipe import TRAINING_TECHNIQUES, recipe_of
from engine.results import RunResults
from engine.stages import Stage, StageName, stage_key
from engine.wire import History, Refused, WorkerState
from pqat_tui import heap
from pqat_tui.engine_loader import EngineFactory, LoadedEngine, real_engine_factory
from pqat_tui.evaluation_tables import DEPLOYED_LABELS
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
from pqat_tui.screens.export_dialog import ExportScreen
from pqat_tui.screens.help import HelpScreen
from pqat_tui.screens.inspect import InspectScreen
from pqat_tui.screens.quit_dialog import QuitScreen
from pqat_tui.screens.settings import SettingsScreen
from pqat_tui.steps import StageBoard, Step, StepState, step_depths, steps_of
from pqat_tui.widgets.compare_panel import ComparePanel
from pqat_tui.widgets.data_panel import DataPanel
from pqat_tui.widgets.header_line import HeaderLine, Session
from pqat_tui.widgets.key_footer import KeyFooter
from pqat_tui.widgets.layer_table import LayerTable
from pqat_tui.widgets.log_pane import LogPane
from pqat_tui.widgets.panel_deck import PanelDeck
from pqat_tui.widgets.stage_list import StageList, StageRow
from pqat_tui.widgets.stage_panel import StagePanel
from pqat_tui.widgets.tflite_panel import EvaluatePanel, TFLitePanel
from pqat_tui.widgets.training_panel import TrainingPanel

if TYPE_CHECKING:
    from textual.command import Provider


# The actions that need the engine: pressed while TensorFlow loads, they wait for it.
ENGINE_ACTIONS = ("run_next", "run_all", "rerun")
# After "stop and quit", an engine running inside the app (the tests' fakes) has this long to confirm it
# stopped; the app quits then anyway: the terminal comes back within half a second.
QUIT_GRACE_S = 0.3


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

    # vars, not reactives: an App reactive repaints the whole screen, which a stage switch cannot afford.
    busy: var[bool] = var(False, bindings=True)
    selected: var[Step] = var(Step.DATA)

    def __init__(
        self,
        config: PipelineConfig,
        engine_factory: EngineFactory | None = None,
        *,
        native_log: Path | None = None,
        preview: RunPreview | None = None,
        run_dir: Path | None = None,
        model: str | None = None,
        settle_heap: bool = False,
    ) -> None:
        """`preview`: what the run folder holds, painted before the engine process is up. `settle_heap`: keep
        full garbage collections out of key presses (see pqat_tui.heap); the command line's app does, tests
        sharing a process with TensorFlow's heap do not."""
        super().__init__()
        self.settle_heap = settle_heap
        self.config = config
        self.session = Session(config.data, model or _model_of_run(run_dir), run_dir)
        self.engine_factory = engine_factory or real_engine_factory()
        self.native_log = native_log
        self.preview = preview
        self.engine: EngineLink | None = None
        self.engine_state: WorkerState | None = None  # the engine's latest word on its state
        self.engine_error: str | None = None
        self.results = RunResults(config=config.to_dict())
        self.recipe = recipe_of(config)
        self.steps = steps_of(self.recipe)  # the stage list's rows: the recipe's tree, then Compare
        self.board = StageBoard(self.recipe)
        self.errors: dict[Stage | StageName, str] = {}
        self.detached = False  # quit with `d`: the engine goes on without us
        self._quit_when_stopped = False
        self._queued_action: str | None = None
        self._progress_figure: str = ""
        self._versions_said = False

    # Layout.

    def compose(self) -> ComposeResult:
        yield HeaderLine(id="header")
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield StageList(self.steps, id="stage-list")
                yield Static(id="status")
            with Vertical(id="content"):
                # Only the first panel is in the first frame; the others are mounted right after it.
                with PanelDeck(initial=f"panel-{Step.DATA.value}", id="panels"):
                    yield DataPanel()
                yield LogPane(id="log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#stage-list").border_title = "Stages"
        self.query_one("#log").border_title = "Log"
        self.query_one(PanelDeck).focus()  # the arrows scroll what is read; j/k choose the stage
        # Python warnings and absl/TensorFlow logging written to sys.stderr/stdout land in the log pane.
        self.begin_capture_print(self.query_one(LogPane))
        if self.preview is not None:
            # A resumed run shows what it holds at once; the engine process confirms it once it is up.
            self.results = self.preview.results
            self.board.sync(self.preview.done)
            self.errors.update(self.preview.errors)
        self._refresh_everything()
        self._set_status("Loading TensorFlow… (keys work; a stage waits for it)")
        self.call_after_refresh(self._after_first_paint)

    async def _after_first_paint(self) -> None:
        panels: list[StagePanel] = [self._panel_for(step) for step in self.steps[1:-1]]
        panels.append(ComparePanel())
        for panel in panels:
            panel.display = False  # the deck (a ContentSwitcher) hides only the children it started with
        await self.query_one(PanelDeck).mount_all(panels)
        self._refresh_everything()
        self.watch_selected(self.selected)  # a key pressed before they were mounted
        # The slow import starts only once the screen is up, and the panels its events feed exist.
        self._load_engine()
        self._settle_heap()

    def _settle_heap(self) -> None:
        if self.settle_heap:
            heap.settle()

    def _panel_for(self, step: Step) -> StagePanel:
        """A stage's panel, by its technique: training stages, .tflite stages (convert, ptq), evaluate."""
        spec = self.recipe.stage(step.value)
        if spec.technique in TRAINING_TECHNIQUES:
            return TrainingPanel(step, model=spec.models[0])
        if spec.technique == "evaluate":
            return EvaluatePanel(step, self.recipe.converted_models(step.value))
        return TFLitePanel(step, self.recipe.converted_models(step.value))

    def _is_training(self, stage: Stage | StageName | str) -> bool:
        return self.recipe.stage(stage_key(stage).value).technique in TRAINING_TECHNIQUES

    # Loading the engine.

    def _load_engine(self) -> None:
        # A daemon thread, not a Textual thread worker: the app's exit never waits for it.
        threading.Thread(target=self._load_engine_blocking, name="engine-loader", daemon=True).start()

    def _load_engine_blocking(self) -> None:
        try:
            loaded = self.engine_factory(self.config)
            link = _as_link(loaded)
        except Exception as error:  # the app must stay up to say what went wrong
            self.post_message(EngineLoadFailed(one_line_error(error)))
            return
        self.post_message(EngineReady(link, dict(loaded.versions), loaded.summary))

    @on(EngineReady)
    async def _engine_ready(self, message: EngineReady) -> None:
        link = message.engine
        assert isinstance(link, EngineLink)
        if not self.is_running:
            link.close(stop=False)
            return
        self.engine = link
        state = link.state
        versions = message.versions or state.versions
        if versions:
            self._say_versions(versions)
        else:
            self._log(f"Engine process started (pid {state.pid}); TensorFlow loads in it")
        if message.summary:
            self._log(message.summary)
        if self.native_log is not None:
            self._log(f"TensorFlow's native log: {self.native_log}")
        self._apply_state(state, first=True)
        link.listen(self._engine_message)
        queued, self._queued_action = self._queued_action, None
        if queued is not None:
            await self.run_action(queued)

    def _engine_message(self, message: EngineEvent) -> None:
        """From the link's thread: every engine message becomes a posted message, in order."""
        self.post_message(EngineEventPosted.wrap(message))

    def _say_versions(self, versions: dict[str, str]) -> None:
        if self._versions_said:
            return
        self._versions_said = True
        libraries = ", ".join(f"{name} {version}" for name, version in versions.items())
        self._log("Engine ready" + (f": {libraries}" if libraries else ""))

    @on(EngineLoadFailed)
    def _engine_load_failed(self, message: EngineLoadFailed) -> None:
        self.engine_error = message.error
        self._queued_action = None
        self._log(f"The engine could not start: {message.error}", "error")
        self._set_status(f"Engine failed to load: {message.error}", error=True)

    def _engine_or_queue(self, action: str) -> EngineLink | None:
        """The engine, or None after queueing `action` (TensorFlow still loading) or saying why not."""
        if self.engine is not None:
            return self.engine if self._drives() else None
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
        if self.busy:
            engine.run_all()  # the engine goes on with the remaining stages after this one
            self.notify("The remaining stages run after this one.")
            return
        stage = self.board.next_stage()
        assert stage is not None
        self._start(stage, run_all=True)

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
        if not self.busy or self.engine is None or not self._drives():
            return
        # Within a batch; the engine process is ended (and replaced) if it has not stopped within 2 s.
        self.engine.cancel()
        running = self.board.running
        self._set_status(f"Cancelling {running.title if running else 'the stage'}…")

    def action_take_control(self) -> None:
        if self.engine is None or self.engine_state is None or self.engine_state.driver:
            self.notify("This window drives the run.")
            return
        self.engine.take_control()

    def _drives(self) -> bool:
        """Whether this app drives the engine; a watcher is told how to take over."""
        if self.engine_state is None or self.engine_state.driver:
            return True
        self.notify("Watching: another viewer drives this run. t takes control.", severity="warning")
        return False

    def action_select_next(self) -> None:
        steps = self.steps
        self.selected = steps[min(steps.index(self.selected) + 1, len(steps) - 1)]

    def action_select_previous(self) -> None:
        steps = self.steps
        self.selected = steps[max(steps.index(self.selected) - 1, 0)]

    def action_select_first(self) -> None:
        self.selected = self.steps[0]

    def action_select_last(self) -> None:
        self.selected = self.steps[-1]

    def action_focus_panel(self) -> None:
        self.query_one(PanelDeck).focus()

    def action_half_page(self, direction: int) -> None:
        """ctrl+d / ctrl+u: half a page down or up in the log if focused, else in the stage's panel."""
        focused = self.focused
        target = focused if isinstance(focused, LogPane) else self._panel(self.selected)
        half_page = max(1, target.scrollable_content_region.height // 2)
        target.scroll_relative(y=direction * half_page, animate=False)

    def action_settings(self) -> None:
        if isinstance(self.screen, SettingsScreen):
            return
        if self.busy:
            self.notify("Settings change between stages: wait for this one, or cancel it with c.")
            return
        if self.engine is None:
            self.notify("Settings can change once the engine is ready.")
            return
        if not self._drives():
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
            stale = self.engine.reconfigure(config)
        except EngineRefused as refusal:  # a stage started, or the run folder refused the new config
            self._log(f"Settings not changed: {refusal}", "error")
            self.notify(str(refusal), title="Settings not changed", severity="error", markup=False)
            return
        self.config = config
        self.engine_state = self.engine.state
        self.results = self.engine_state.results
        self.board.sync(self.engine_state.done, self.engine_state.stale)
        for stage in stale:
            panel = self._panel(Step.of(stage))
            if isinstance(panel, TrainingPanel):
                panel.forget_live()
        self._log("Settings changed: " + ", ".join(f"{key} {old} → {new}" for key, old, new in changes))
        if stale:
            names = ", ".join(self.recipe.title(name) for name in self.recipe.names() if name in stale)
            self._log(f"Stale now, to run again: {names}", "warning")
        self._refresh_everything()

    def action_toggle_all_layers(self) -> None:
        table = self._layer_table()
        if table is not None:
            table.toggle_full()

    def action_filter_layers(self) -> None:
        table = self._layer_table()
        if table is not None:
            table.open_filter()

    def _layer_table(self) -> LayerTable | None:
        """The selected panel's per-layer table, or None after saying there is none."""
        found = self._panel(self.selected).query(LayerTable)
        if not found:
            self.notify(f"{self.selected.title} has no per-layer table.")
            return None
        return found.first()

    # The Evaluate panel's model, changed images and the Inspector (keys m, ], [, i).

    def _evaluate_panel(self) -> EvaluatePanel | None:
        panels = [panel for panel in self.query(EvaluatePanel) if panel.step is self.selected]
        panels = panels or list(self.query(EvaluatePanel))
        if not panels:
            return None
        self.selected = panels[0].step
        return panels[0]

    def action_next_model(self) -> None:
        panel = self._evaluate_panel()
        if panel is not None and panel.next_model() is None:
            self.notify("Nothing to show yet: run Evaluate (n or a).")

    def _step_picture(self, step: int) -> None:
        panel = self._evaluate_panel()
        if panel is None:
            return
        moved = panel.step_picture(step)
        if moved is None:
            self.notify("The shown .tflite file has no changed images (m shows the next one).")
            return
        panel.query_one("#changed-images").scroll_visible()

    def action_next_picture(self) -> None:
        self._step_picture(1)

    def action_previous_picture(self) -> None:
        self._step_picture(-1)

    def action_inspect_tflite(self) -> None:
        if isinstance(self.screen, InspectScreen):
            return
        name = "ptq" if self.selected is Step.PTQ else "pqat"
        shown = self._panel(self.selected)
        if isinstance(shown, EvaluatePanel):
            name = shown.shown
        elif (
            isinstance(shown, TFLitePanel) and shown.models and self.selected.value not in ("convert", "ptq")
        ):
            name = shown.models[-1]
        if self.engine is None:
            self.notify("The engine is still loading: no .tflite file yet.")
            return
        engine = self.engine
        label = DEPLOYED_LABELS.get(name, name)
        self.push_screen(InspectScreen(f"{label} .tflite", lambda: engine.tflite_model(name)))

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
        if isinstance(self.screen, QuitScreen):
            return
        watching = self.engine_state is not None and not self.engine_state.driver
        if not self.busy or watching:
            # Nothing of ours runs (a watcher's quit leaves the run to its driver).
            self._quit(stop=not watching)
            return

        def answered(stop: bool | None) -> None:
            if not stop:
                return  # stay; or `d`, which runs the detach action itself
            if not self.busy or self.engine is None or self.engine.can_detach:
                # An engine process stops the stage on its own (within 2 s, or it ends itself).
                self._quit(stop=True)
                return
            # An engine inside the app goes with it: give its stage a moment to stop cleanly.
            running = self.board.running
            self._quit_when_stopped = True
            self.engine.cancel()
            self._set_status(f"Stopping {running.title if running else 'the stage'}, then quitting…")
            self.set_timer(QUIT_GRACE_S, lambda: self._quit(stop=True))

        can_detach = self.engine is not None and self.engine.can_detach
        self.push_screen(QuitScreen(self._quit_question(), can_detach=can_detach), answered)

    def _quit_question(self) -> str:
        running = self.board.running
        if running is None:
            return "No stage is running now. Quit?"
        return (
            f"{running.title} is running. Stop it and quit, or keep it running in the background "
            "(pqat-tui attach comes back to it)?"
        )

    async def action_quit(self) -> None:
        # ctrl+q and the palette's "Quit" go through the same question as q.
        self.action_request_quit()

    def action_detach(self) -> None:
        """Quit and leave the engine process going: it finishes what it was asked, then exits."""
        if self.engine is not None and not self.engine.can_detach:
            self.notify("This engine runs inside the app: it cannot go on without it.")
            return
        self.detached = True
        self._quit(stop=False)

    def _quit(self, *, stop: bool) -> None:
        """Leave now: the engine is told (stop, or go on without us), never waited for."""
        if self.engine is not None:
            self.engine.close(stop=stop)
        self.exit(0)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel" and not self.busy:
            return None  # shown dimmed: nothing to cancel
        if action == "settings" and self.busy:
            return None  # shown dimmed: settings change between stages
        return True

    # Running stages.

    def _start(self, stage: Stage | StageName, *, run_all: bool = False) -> None:
        assert self.engine is not None and not self.busy
        self._stage_began(stage)
        if run_all:
            self.engine.run_all()  # the engine starts with this same stage, the first pending one
        else:
            self.engine.run_stage(stage)

    def _stage_began(self, stage: Stage | StageName) -> None:
        """Show `stage` running: ours just asked for, or one the engine started (run-all, another viewer)."""
        self.busy = True
        self._progress_figure = "starting"
        self.board.started(stage)
        self.errors.pop(stage, None)
        for dropped in (stage, *self.recipe.downstream_of(stage)):
            self.errors.pop(dropped, None)
            panel = self._panel(Step.of(dropped))
            if isinstance(panel, TrainingPanel):
                panel.forget_live()
        self.selected = Step.of(stage)
        self._set_status(f"Running {stage.title}… c cancels")
        self._refresh_everything()
        self._quit_question_changed()

    def _apply_state(self, state: WorkerState, *, first: bool = False) -> None:
        """The engine's word on its state: done and stale stages, who drives, a stage another started."""
        self.engine_state = state
        if state.versions:
            self._say_versions(state.versions)
        if not self.busy:
            self.results = state.results
            self.board.sync(state.done, state.stale)
            for stage in state.done:
                self.errors.pop(stage, None)
        if state.running is not None and self.board.running is None:
            self._stage_began(state.running)  # attached while it runs, or another viewer started it
        if first and not state.driver:
            self._log("Watching: another viewer drives this run (t takes control)")
        self._refresh_everything()

    def _replay(self, history: History) -> None:
        """What the engine process did before we connected: the log, and the running stage's curves."""
        if not history.events:
            return
        self._log("— the run so far —")
        running = self.board.running
        for event in history.events:
            self._log_event(event)
            if running is None or getattr(event, "stage", None) != running:
                continue
            if self._is_training(running):
                panel = self._training_panel(running)
                if isinstance(event, StageStarted):
                    panel.training_started(event)
                elif isinstance(event, EpochEnded):
                    panel.epoch_ended(event)
                elif isinstance(event, BatchProgress):
                    panel.batch_progress(event)
        self._log("— live —")

    @on(EngineEventPosted)
    def _engine_event(self, message: EngineEventPosted) -> None:
        event = message.event
        if isinstance(event, WorkerState):
            was_driver = self.engine_state is None or self.engine_state.driver
            self._apply_state(event)
            if was_driver != event.driver:
                self.notify("You drive this run now." if event.driver else "Another viewer took control.")
            return
        if isinstance(event, History):
            self._replay(event)
            return
        if isinstance(event, Refused):
            self.notify(event.reason, severity="warning", markup=False)
            running = self.board.running
            if self.busy and running is not None and self.engine_state and self.engine_state.running is None:
                self.board.ended(running, StepState.PENDING, self.engine_state.done)
                self.busy = False
                self._refresh_everything()
            return
        if isinstance(event, StageStarted) and self.board.running != event.stage:
            self._stage_began(event.stage)
        if isinstance(event, BatchProgress):
            self._training_panel(event.stage).batch_progress(event)
            # The epoch, then how far into it: "ep 4/10 · 45%" (not a share of the whole stage).
            self._progress_figure = (
                f"ep {event.epoch}/{event.epochs} · {event.batch * 100 // max(event.batches, 1)}%"
            )
            self._refresh_stage_list()
            return
        self._log_event(event)
        if isinstance(event, EpochEnded):
            self._training_panel(event.stage).epoch_ended(event)
            self._progress_figure = f"ep {event.epoch}/{event.epochs}"
            self._refresh_stage_list()
        elif isinstance(event, StageStarted):
            if self._is_training(event.stage):
                self._training_panel(event.stage).training_started(event)
        elif isinstance(event, StageFinished):
            self._stage_ended(event.stage, StepState.DONE)
        elif isinstance(event, StageFailed):
            self.errors[event.stage] = event.error
            self.notify(event.error, title=f"{event.stage.title} failed", severity="error", markup=False)
            self._stage_ended(event.stage, StepState.FAILED)
        elif isinstance(event, StageCancelled):
            self._stage_ended(event.stage, StepState.CANCELLED)

    def _log_event(self, event: EngineEvent) -> None:
        """An engine event's line in the log pane (batch progress has none)."""
        if isinstance(event, EpochEnded):
            self._log(f"{event.stage.title} epoch {event.epoch}/{event.epochs}: {_metrics(event.metrics)}")
        elif isinstance(event, StageStarted):
            epochs = f" ({event.epochs} epoch{'s' if event.epochs != 1 else ''})" if event.epochs else ""
            self._log(f"{event.stage.title} started{epochs}")
        elif isinstance(event, LogMessage):
            prefix = f"{event.stage.title}: " if event.stage else ""
            self._log(prefix + event.text, event.level)
        elif isinstance(event, StageFinished):
            self._log(f"{event.stage.title} done in {event.seconds:.1f} s")
        elif isinstance(event, StageFailed):
            self._log(f"{event.stage.title} failed: {event.error}", "error")
        elif isinstance(event, StageCancelled):
            self._log(f"{event.stage.title} cancelled after {event.seconds:.1f} s", "warning")

    def _stage_ended(self, stage: Stage | StageName, state: StepState) -> None:
        """The engine's final word on a stage: the only place `busy` is cleared.

        The engine sent its new state just before this event: the done stages, and whether it goes on.
        """
        engine_state = self.engine_state
        assert engine_state is not None
        self.results = engine_state.results
        self.board.ended(stage, state, engine_state.done)
        self.busy = False
        self._settle_heap()  # between stages, when the panels are redrawn anyway
        if self._quit_when_stopped:
            self._quit(stop=True)
            return
        if engine_state.running is not None:
            self._stage_began(engine_state.running)  # run-all goes on
            return
        next_stage = self.board.next_stage()
        self._quit_question_changed()
        if state is StepState.DONE and next_stage is None and self.selected.stage == stage:
            self.selected = Step.COMPARE  # not after a cancelled re-run: the earlier output is still done
        self._set_status(self._idle_status())
        self._refresh_everything()

    def _quit_question_changed(self) -> None:
        if isinstance(self.screen, QuitScreen):
            self.screen.ask(self._quit_question())

    # Drawing.

    def watch_selected(self, selected: Step) -> None:
        self.query_one(StageList).selected = selected
        deck = self.query_one(PanelDeck)
        if deck.query_children(f"#panel-{selected.value}"):
            deck.current = f"panel-{selected.value}"  # the deck keeps the focus: no focus moves

    def _panel(self, step: Step) -> StagePanel:
        return self.query_one(f"#panel-{step.value}", StagePanel)

    def _training_panel(self, stage: Stage | StageName) -> TrainingPanel:
        return self.query_one(f"#panel-{stage_key(stage).value}", TrainingPanel)

    def _rows(self) -> list[StageRow]:
        rows = []
        depths = step_depths(self.recipe)
        for step in self.steps:
            state = self.board.state(step)
            if state is StepState.DONE:
                figure = headline(self.results, step, self.recipe)
            elif state is StepState.RUNNING:
                figure = self._progress_figure
            else:
                figure = ""
            rows.append(StageRow(step, state, figure, depths.get(step, 0)))
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
        if self.engine_state is not None and not self.engine_state.driver:
            return "Watching: another viewer drives this run · t takes control"
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


def _as_link(loaded: LoadedEngine) -> EngineLink:
    """The factory's engine as the app drives it: a link already, or a plain engine run in a thread."""
    if isinstance(loaded.engine, EngineLink):
        return loaded.engine
    return LocalLink(loaded.engine, versions=dict(loaded.versions), summary=loaded.summary)


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
