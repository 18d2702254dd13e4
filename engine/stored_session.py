"""`StoredSession`: a PipelineSession whose every finished stage is kept in a run folder, and resumed from it.

On opening, each stage the folder's manifest has as done is compared with what it would be given now (its
fingerprint: its config section plus the fingerprints of the stages it reads). Unchanged stages count as
done and are not computed again; their models are read back from disk only when a stage that needs them
runs. Changed ones are stale: they and everything downstream run again. After every finished stage, its
model files, results.json and the manifest are written, each atomically and in that order, so a run killed
at any moment resumes from its last finished stage.

Creating a StoredSession reads files and hashes the data source; it imports no TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.config import PipelineConfig
from engine.config_file import config_to_toml
from engine.events import (
    EngineEvent,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageStarted,
    one_line_error,
)
from engine.pipeline import PipelineSession
from engine.protocol import Emit
from engine.recipe import plain_name, runs_as_pqat
from engine.results import RunResults
from engine.run_store import (
    CANCELLED,
    DONE,
    FAILED,
    INPUT_MODEL_FILES,
    RUNNING,
    STALE,
    Manifest,
    RunFolder,
    RunStoreError,
    StageRecord,
    data_digest,
    iter_done,
    read_tflite_file,
    stage_artifact_paths,
    stage_fingerprints,
    stage_metrics,
    utc_now,
)
from engine.stages import REFERENCE_INPUTS, Stage, stage_key
from engine.user_model import UserModel
from engine.writes import WriteError

INTERRUPTED_ERROR = "its engine process ended while it ran (killed, or out of memory?); see tensorflow.log"


class StoredSession:
    """Implements engine.protocol.PipelineEngine over a PipelineSession and a locked RunFolder."""

    def __init__(
        self,
        config: PipelineConfig,
        folder: RunFolder,
        *,
        user_model: UserModel | None = None,
        train_baseline: bool = True,
        session: PipelineSession | None = None,
    ) -> None:
        """`user_model` replaces the example's model as the baseline (fine-tuned, or only evaluated when
        `train_baseline` is false); the stages tfmot refuses for it fail at once, naming the layers."""
        self.config = config
        self.folder = folder
        self.session = session or PipelineSession(
            config,
            baseline_model=user_model.model if user_model else None,
            train_baseline=train_baseline,
            refusals=user_model.unsupported if user_model else None,
            layer_support=user_model.layer_support if user_model else (),
        )
        self.recipe = self.session.recipe
        self._extra: dict[Stage | str, Mapping[str, Any]] = {}
        self._model_inputs: dict[str, Any] = {}
        earlier = folder.read_manifest()
        if user_model is not None:
            self._extra[Stage.BASELINE] = user_model.fingerprint_inputs(train_baseline)
            self._model_inputs = self._keep_model_copy(user_model, earlier)
        self.fingerprints, inputs = self._fingerprints(config)
        manifest = earlier or Manifest(created=utc_now())
        manifest = dataclasses.replace(manifest, inputs=inputs)
        saved = folder.read_results()
        kept: set[Stage | str] = set()
        stale: list[Stage | str] = []
        for stage, record in iter_done(manifest, self.recipe.names()):
            unchanged = record.fingerprint == self.fingerprints[stage]
            inputs_kept = all(source in kept for source in self.recipe.inputs_of(stage))
            if unchanged and inputs_kept and saved is not None and folder.artifacts_intact(record):
                kept.add(stage)
            else:
                stale.append(stage)
        for stage in stale:
            record = dataclasses.replace(manifest.stages[plain_name(stage)], status=STALE)
            manifest = manifest.with_record(stage, record)
        self._kept = kept
        self._stale = set(stale)
        self._manifest = manifest
        if saved is not None and kept:
            self.session.restore(saved, kept)
        folder.write_config(config_to_toml(config, header="The effective config of this run."))
        folder.write_manifest(manifest)
        folder.write_results(self.session.results)

    def _keep_model_copy(self, user_model: UserModel, earlier: Manifest | None) -> dict[str, Any]:
        """Copy the user's model into the run folder (unless it is that copy): a resumed run reads only the
        copy, never a path its manifest names, and a shared run folder holds everything it needs."""
        suffix = ".keras" if user_model.path.suffix.lower() == ".keras" else ".h5"
        relative = next(name for name in INPUT_MODEL_FILES if name.endswith(suffix))
        copy = self.folder.file(relative)
        shown = str(user_model.path)
        if copy.exists() and copy.resolve() == user_model.path.resolve():
            saved = (earlier.inputs.get("model") if earlier else None) or {}
            shown = saved.get("path", shown)  # resumed from the copy: keep naming the original
        else:
            self.folder.write_artifact(relative, user_model.path.read_bytes())
        return {"path": shown, "file": relative, **self._extra[Stage.BASELINE]}

    def _fingerprints(self, config: PipelineConfig) -> tuple[dict[str, str], dict[str, Any]]:
        """Each stage's fingerprint under `config`, and what they were computed from (for the manifest)."""
        data_content = data_digest(config.data)
        inputs: dict[str, Any] = {"data": data_content}
        if self._model_inputs:
            inputs["model"] = self._model_inputs
        return stage_fingerprints(config, data_content, self._extra, self.recipe), inputs

    def reconfigure(self, config: PipelineConfig) -> set[Stage | str]:
        """Use `config` from now on (the app's settings screen); call it between stages, never during one.

        Done stages whose inputs the change touches (that stage and everything downstream) become stale:
        their outputs are dropped and they run again when asked. Returns them. WriteError when the config
        file cannot be written; nothing has changed then.
        """
        fingerprints, inputs = self._fingerprints(config)
        done = self.session.done_stages()
        changed = {stage for stage in done if fingerprints[stage] != self.fingerprints[stage]}
        # The config file first: if it cannot be written (WriteError), nothing has changed yet.
        self.folder.write_config(config_to_toml(config, header="The effective config of this run."))
        self.config = config
        self.fingerprints = fingerprints
        self.session.config = config
        self.session.restore(self.session.results, done - changed)
        manifest = dataclasses.replace(self._manifest, inputs=inputs)
        for stage in changed:
            record = manifest.record(stage)
            if record is not None:
                manifest = manifest.with_record(stage, dataclasses.replace(record, status=STALE))
        self._manifest = manifest
        self._stale |= changed
        # Best effort: a manifest left as it was holds the old fingerprints, so a resume under the new config
        # runs the changed stages again all the same; the next stage's own write names any disk fault.
        with contextlib.suppress(WriteError):
            self.folder.write_manifest(manifest)
            self.folder.write_results(self.session.results)
        return changed

    def summary(self) -> str:
        """One line on what the run folder gave back: kept stages, and the stale ones that run again."""
        if not self._kept and not self._stale:
            return f"New run in {self.folder.path}"
        names = self.recipe.names()
        kept = ", ".join(self.recipe.title(s) for s in names if s in self._kept) or "nothing"
        text = f"Resumed {self.folder.path}: kept {kept}"
        if self._stale:
            stale = ", ".join(self.recipe.title(s) for s in names if s in self._stale)
            text += f"; changed since, to run again: {stale}"
        return text

    # --- PipelineEngine -----------------------------------------------------------------------------

    @property
    def results(self) -> RunResults:
        return self.session.results

    def done_stages(self) -> set[Stage | str]:
        return self.session.done_stages()

    def stale_stages(self) -> set[Stage | str]:
        """Stages done in an earlier run whose inputs have changed since; they run again when asked."""
        return set(self._stale)

    def tflite_model(self, name: str) -> bytes | None:
        content = self.session.tflite_model(name)
        if content is not None:
            return content
        return read_tflite_file(self.folder.path, name, self.done_stages(), self.recipe)

    def run_stage(self, stage: Stage | str, emit: Emit, stop: threading.Event) -> None:
        """Run a stage and keep its outputs in the run folder. Saving them is part of the stage: a file that
        cannot be written (a full disk, a read-only folder) fails the stage with the cause, and the folder
        keeps what was finished before (see _persist)."""
        stage = stage_key(stage, self.recipe)
        started_at = utc_now()
        started = time.monotonic()
        log_fault: list[WriteError] = []

        def log(event: EngineEvent) -> None:
            """Into events.jsonl; a line that cannot be written fails the stage when it ends (see keep)."""
            try:
                self.folder.events.append(event)
            except WriteError as error:
                log_fault.append(error)

        def fail_before(message: str) -> None:
            for event in (StageStarted(stage), StageFailed(stage, time.monotonic() - started, message)):
                log(event)
                emit(event)

        try:
            self._load_inputs(stage, emit)
        except Exception as error:  # noqa: BLE001 - a run folder that cannot be read fails the stage, cleanly
            fail_before(
                f"could not load an earlier stage's output from {self.folder.path}: {one_line_error(error)}"
            )
            return
        # A stage run again keeps its done record (and files) until it finishes: a failed or cancelled
        # rerun leaves the session, and so the folder, as they were.
        was_done = stage in self.done_stages()
        if not was_done:
            try:
                self._write_record(stage, StageRecord(RUNNING, self.fingerprints[stage], started=started_at))
            except WriteError as error:
                fail_before(str(error))
                return

        def keep(_stage: str, seconds: float) -> None:
            if log_fault:
                raise log_fault[0]
            self._persist(stage, seconds, started_at)

        def forward(event: EngineEvent) -> None:
            if isinstance(event, StageFailed) and event.stage == stage and not was_done:
                self._finish_record(stage, FAILED, started_at, event.seconds, error=event.error)
            elif isinstance(event, StageCancelled) and event.stage == stage and not was_done:
                self._finish_record(stage, CANCELLED, started_at, event.seconds)
            log(event)
            emit(event)

        self.session.run_stage(stage, forward, stop, keep=keep)

    # --- the run folder -----------------------------------------------------------------------------

    def settle_interrupted(
        self, stage: Stage | str | None = None, error: str | None = None
    ) -> tuple[Stage | str, str, str | None] | None:
        """Close the records an engine process that died mid-stage left `running`, in manifest and events.

        `stage` ended as its viewer said: cancelled (the process was ended to stop it) when `error` is None,
        else failed with `error`. Any other is failed, its cause unknown. Returns the first, as (stage,
        status, error), or None when there was none.
        """
        settled: tuple[Stage | str, str, str | None] | None = None
        for name, record in list(self._manifest.stages.items()):
            if record.status != RUNNING:
                continue
            which = stage_key(name, self.recipe)
            status, why = FAILED, INTERRUPTED_ERROR
            if stage is not None and which == stage:
                status, why = (CANCELLED, None) if error is None else (FAILED, error)
            seconds = _seconds_since(record.started)
            self._finish_record(which, status, record.started, seconds, error=why)
            event: EngineEvent = (
                StageCancelled(which, seconds) if why is None else StageFailed(which, seconds, why)
            )
            with contextlib.suppress(WriteError):  # best effort, as _finish_record
                self.folder.events.append(event)
            settled = settled or (which, status, why)
        return settled

    def close(self) -> None:
        """Release the run folder's lock."""
        self.folder.close()

    def _load_inputs(self, stage: Stage | str, emit: Emit) -> None:
        """Read back from disk the outputs of done stages that `stage` reads and the session lacks."""
        name = plain_name(stage)
        done = {plain_name(s) for s in self.done_stages()}
        recipe = self.recipe
        data_stage = next(s.name for s in recipe.stages if s.technique == "data")
        # Every stage after Data also reads the dataset (to train, calibrate or evaluate), and today's Convert
        # and PTQ the baseline (the float reference).
        references = REFERENCE_INPUTS.get(Stage(name), ()) if runs_as_pqat(recipe, name) else ()
        sources = (
            [data_stage, *recipe.inputs_of(name), *(plain_name(s) for s in references)]
            if name != data_stage
            else []
        )
        for source in dict.fromkeys(sources):
            if source not in done or self.session.has_outputs(source):
                continue
            if source == data_stage:
                from engine.data import DataOptions, load_dataset

                dataset = load_dataset(self.config.data, DataOptions.from_config(self.config))
                self.session.adopt_outputs(source, dataset=dataset)
                continue
            title = recipe.title(source)
            record = self._manifest.record(source)
            if record is None or not self.folder.artifacts_intact(record):
                files = ", ".join(record.artifacts) if record else f"{title}'s files"
                raise RunStoreError(f"{files}: missing, or changed since {title} wrote them")
            from engine.tf_runtime import load_tensorflow

            load_tensorflow()
            paths = stage_artifact_paths(source, recipe)
            if recipe.stage(source).technique in ("convert", "ptq"):
                # A Convert from before the float reference left no float.tflite: only its own files are read.
                tflite = {
                    model: self.folder.inside(path).read_bytes()
                    for model, path in paths.items()
                    if path in record.artifacts
                }
                self.session.adopt_outputs(source, tflite=tflite)
            else:
                from engine.artifacts import load_model

                path = self.folder.inside(paths[recipe.stage(source).models[0]])
                self.session.adopt_outputs(source, keras_model=load_model(path))
            emit(LogMessage(f"{title}: output read back from {self.folder.path}", stage=stage))  # type: ignore[arg-type]

    def _persist(self, stage: Stage | str, seconds: float, started_at: str) -> None:
        """Write a finished stage's files, then results.json, then the manifest that says they are there.

        A kill or a WriteError at any point leaves the manifest claiming only stages whose files are whole:
        until the last write, it still holds the stage's earlier record, whose file hashes no longer match
        a file already replaced, so a resume runs that stage again. Files of the stages downstream, which
        the new output makes stale, are deleted only once the manifest no longer names them.
        """
        artifacts: dict[str, str] = {}
        previous = self._manifest.record(stage)
        downstream = [stage_key(later, self.recipe) for later in self.recipe.downstream_of(stage)]
        dropped = [self._manifest.record(later) for later in downstream]
        try:
            self._write_artifacts(stage, artifacts)
            self.folder.write_results(self.session.results)
            metrics = stage_metrics(stage, self.session.results, self.recipe)
            record = self._ended(stage, DONE, started_at, seconds, metrics=metrics, artifacts=artifacts)
            manifest = self._manifest.without(downstream).with_record(stage, record)
            self.folder.write_manifest(manifest)
        except BaseException:
            if previous is None or previous.status != DONE:
                for relative in artifacts:  # no record names them: they would only fill the disk
                    self.folder.remove_artifact(relative)
            raise
        self._manifest = manifest
        self._stale -= {stage, *downstream}
        for old in dropped:
            for relative in old.artifacts if old else ():
                self.folder.remove_artifact(relative)

    def _write_artifacts(self, stage: Stage | str, artifacts: dict[str, str]) -> None:
        """Write the stage's model files, adding each to `artifacts` (path -> sha256) once written."""
        paths = stage_artifact_paths(stage, self.recipe)
        technique = self.recipe.stage(plain_name(stage)).technique
        if technique in ("convert", "ptq"):
            for name, path in paths.items():
                content = self.session.tflite_model(name)
                if content is not None:
                    artifacts[path] = self.folder.write_artifact(path, content)
        elif paths:  # a training stage: its one Keras model
            from engine.artifacts import model_bytes

            (path,) = paths.values()
            content = model_bytes(self.session.keras_model(stage), "." + path.rsplit(".", 1)[-1])
            artifacts[path] = self.folder.write_artifact(path, content)

    def _finish_record(
        self, stage: Stage | str, status: str, started_at: str, seconds: float, error: str | None = None
    ) -> None:
        """Record how a stage ended. Best effort: when the disk is what failed, the manifest keeps saying
        the stage was running (which a resume reads as not done), and the listener still hears why."""
        record = self._ended(stage, status, started_at, seconds, error=error)
        with contextlib.suppress(WriteError):
            self._write_record(stage, record)
            self.folder.write_results(self.session.results)

    def _ended(
        self, stage: Stage | str, status: str, started_at: str, seconds: float, **details: Any
    ) -> StageRecord:
        """The record of a stage that ended now with `status`."""
        return StageRecord(
            status,
            self.fingerprints[stage],
            started=started_at,
            finished=utc_now(),
            seconds=round(seconds, 3),
            **details,
        )

    def _write_record(self, stage: Stage | str, record: StageRecord) -> None:
        manifest = self._manifest.with_record(stage, record)
        self.folder.write_manifest(manifest)
        self._manifest = manifest


def _seconds_since(started: str) -> float:
    try:
        then = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


def open_run(config: PipelineConfig, run_dir: Path, **options: Any) -> StoredSession:
    """Lock the run folder (creating it if need be) and open a StoredSession on it.

    RunStoreError (RunLockedError when another process holds the run) before any work.
    """
    folder = RunFolder.open(run_dir)
    try:
        return StoredSession(config, folder, **options)
    except BaseException:
        folder.close()
        raise
