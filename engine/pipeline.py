"""`PipelineSession`: the real engine, holding every stage's output and running one stage at a time.

Creating a session is cheap; TensorFlow is imported when the first stage that needs it runs. A stage's
outputs are committed only when it finishes: a failed or cancelled stage leaves the session exactly as it
was, and a stage that finishes drops the outputs of every stage downstream of it (they are stale).
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from engine.config import PipelineConfig
from engine.data import DataError, DataOptions, Dataset, load_dataset
from engine.events import (
    EngineEvent,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
    one_line_error,
)
from engine.results import LayerSupport, ModelResult, RunResults, TFLiteInfo
from engine.stages import MODEL_OF_STAGE, Stage, downstream_of, missing_inputs
from engine.tf_runtime import installed_versions, is_loaded, load_tensorflow
from engine.writes import WriteError

if TYPE_CHECKING:
    from engine.conversion import ConvertedModel

Emit = Callable[[EngineEvent], None]
Keep = Callable[[Stage, float], None]
CONVERTED_MODELS = ("qat", "pqat")
# The baseline converted without optimization by Convert: the deployed files' reference (`models.float`).
FLOAT_MODEL = "float"


class _Stopped(Exception):
    """A stop the session notices itself: before a stage starts (TensorFlow perhaps not loaded yet, so
    engine.training's StageStopped is out of reach) or after the stage computed its output."""


@dataclass(frozen=True)
class _State:
    """Everything a stage's commit changes, to put back when its outputs cannot be saved."""

    done: frozenset[Stage]
    dataset: Dataset | None
    keras: dict[Stage, Any]
    converted: dict[str, ConvertedModel]
    ptq: ConvertedModel | None
    results: RunResults


@dataclass
class _Outputs:
    """What a stage hands to the session when it finishes, committed all at once."""

    dataset: Dataset | None = None
    keras_model: Any = None
    models: dict[str, ModelResult] = field(default_factory=dict)
    converted: dict[str, ConvertedModel] = field(default_factory=dict)
    layer_support: tuple[LayerSupport, ...] | None = None  # the example model's, found by the Data stage


class PipelineSession:
    """Implements engine.protocol.PipelineEngine with TensorFlow, tfmot and LiteRT."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        baseline_model: Any = None,
        train_baseline: bool = True,
        refusals: Mapping[Stage, str] | None = None,
        layer_support: tuple[LayerSupport, ...] = (),
    ) -> None:
        """`baseline_model`: a user's Keras model the baseline stage fine-tunes (or, with `train_baseline`
        false, only evaluates) instead of training the example's. `refusals`: stages known to be unable to
        run (tfmot cannot wrap the user's model at all) and why; they fail at once with that message.
        `layer_support`: tfmot's verdict on each layer of the user's model (the Data stage finds the
        example model's, whose shape follows the data's).
        """
        self.config = config
        self._baseline_model = baseline_model
        self._train_baseline = train_baseline
        self._refusals = dict(refusals or {})
        self._layer_support = tuple(layer_support)
        self._results = RunResults(
            config=config.to_dict(), versions=installed_versions(), layer_support=self._layer_support
        )
        self._done: set[Stage] = set()
        self._dataset: Dataset | None = None
        self._keras: dict[Stage, Any] = {}
        self._converted: dict[str, ConvertedModel] = {}
        self._ptq: ConvertedModel | None = None
        self._running = threading.Lock()
        self._strategies_told: set[str] = {"default"}

    @property
    def results(self) -> RunResults:
        return self._results

    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    def done_stages(self) -> set[Stage]:
        return set(self._done)

    def tflite_model(self, name: str) -> bytes | None:
        """The converted .tflite file of `float`, `qat`, `pqat` or `ptq`, when it has been made."""
        if name == "ptq":
            return self._ptq.content if self._ptq else None
        converted = self._converted.get(name)
        return converted.content if converted else None

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event, *, keep: Keep | None = None) -> None:
        """Run one stage (see engine.protocol).

        `keep(stage, seconds)`, when given, saves the stage's committed outputs (engine.stored_session writes
        its run folder). It is part of the stage: when it raises, the commit is undone and the stage fails
        with the cause, leaving the session as it was.
        """
        with self._running:
            self._run_stage(Stage(stage), emit, stop, keep)

    def _run_stage(self, stage: Stage, emit: Emit, stop: threading.Event, keep: Keep | None = None) -> None:
        started = time.monotonic()
        emit(StageStarted(stage, epochs=self._epochs_of(stage)))

        def seconds() -> float:
            return time.monotonic() - started

        missing = missing_inputs(stage, self._done)
        if missing:
            names = ", ".join(s.title for s in missing)
            self._fail(
                stage,
                f"needs the output of {names}: run {'it' if len(missing) == 1 else 'them'} first",
                seconds(),
                emit,
            )
            return
        if stage in self._refusals:
            self._fail(stage, self._refusals[stage], seconds(), emit)
            return
        try:
            if stop.is_set():
                raise _Stopped
            if stage is not Stage.DATA or self.config.strategy != "default":
                # A multi-worker strategy must exist before any TensorFlow operation runs (a folder's
                # Data stage decodes images): it is made with TensorFlow, before the first stage.
                self._ensure_tensorflow(stage, emit)
            with self._strategy_scope(stage):
                outputs = self._compute(stage, emit, stop)
            if stop.is_set():
                # Stopped after the last batch (during evaluation, say): the output is dropped all the same,
                # so that a set stop event always ends in StageCancelled.
                raise _Stopped
        except (DataError, WriteError) as error:
            self._fail(stage, str(error), seconds(), emit)
            return
        except Exception as error:  # noqa: BLE001 - every failure of a stage becomes a StageFailed
            if stop.is_set() and _is_stop(error):
                emit(StageCancelled(stage, seconds()))
                return
            emit(LogMessage(traceback.format_exc().rstrip(), level="error", stage=stage))
            self._fail(stage, one_line_error(error), seconds(), emit)
            return
        elapsed = seconds()
        before = self._state()
        self._commit(stage, outputs, elapsed)
        if keep is not None:
            try:
                keep(stage, elapsed)
            except Exception as error:  # noqa: BLE001 - an output that cannot be saved fails its stage
                self._restore_state(before)
                if not isinstance(error, WriteError):
                    emit(LogMessage(traceback.format_exc().rstrip(), level="error", stage=stage))
                reason = str(error) if isinstance(error, WriteError) else one_line_error(error)
                self._fail(stage, f"not saved: {reason}", seconds(), emit)
                return
        emit(StageFinished(stage, elapsed, self._results))

    def _ensure_tensorflow(self, stage: Stage, emit: Emit) -> None:
        if not is_loaded():
            emit(LogMessage("Loading TensorFlow…", stage=stage))
        versions = load_tensorflow()
        if versions != self._results.versions:
            self._results = replace(self._results, versions=versions)
        if self.config.strategy not in self._strategies_told:
            from engine.distribution import describe

            self._strategies_told.add(self.config.strategy)
            emit(LogMessage(describe(self.config.strategy), stage=stage))

    def _strategy_scope(self, stage: Stage) -> contextlib.AbstractContextManager[Any]:
        """The training stages build, wrap and compile their models in the distribution strategy's scope."""
        if stage not in (Stage.BASELINE, Stage.PRUNE, Stage.QAT, Stage.PQAT):
            return contextlib.nullcontext()
        from engine.distribution import training_strategy

        return training_strategy(self.config.strategy).scope()

    def _fail(self, stage: Stage, error: str, seconds: float, emit: Emit) -> None:
        self._results = replace(self._results, failures={**self._results.failures, stage.value: error})
        emit(StageFailed(stage, seconds, error))

    def _epochs_of(self, stage: Stage) -> int:
        trained = {
            Stage.BASELINE: self.config.baseline,
            Stage.PRUNE: self.config.prune,
            Stage.QAT: self.config.qat,
            Stage.PQAT: self.config.pqat,
        }
        if stage is Stage.BASELINE and not self._train_baseline:
            return 0
        return trained[stage].epochs if stage in trained else 0

    def _compute(self, stage: Stage, emit: Emit, stop: threading.Event) -> _Outputs:
        if stage is Stage.DATA:
            dataset = load_dataset(self.config.data, DataOptions.from_config(self.config))
            if dataset.info.note:
                emit(LogMessage(dataset.info.note, level="warning", stage=stage))
            info = dataset.info
            height, width, channels = dataset.image_shape
            streamed = "" if dataset.train.images is not None else "; streamed from disk (too large to cache)"
            test_from = f" ({dataset.test_from})" if dataset.test_from else ""
            emit(
                LogMessage(
                    f"{info.train:,} training and {info.test:,} test images{test_from}, "
                    f"{height}x{width}x{channels}, {dataset.num_classes} classes{streamed}",
                    stage=stage,
                )
            )
            return _Outputs(dataset=dataset, layer_support=self._example_support(dataset, stage, emit))

        from engine import conversion, training

        data = self._dataset
        assert data is not None  # DATA is an input of every other stage
        if stage in (Stage.BASELINE, Stage.PRUNE, Stage.QAT, Stage.PQAT):
            training.seed_everything(self.config.seed)
            if stage is Stage.BASELINE:
                given = self._baseline_model
                trained = training.baseline_stage(
                    data,
                    self.config.baseline,
                    emit,
                    stop,
                    model=None if given is None else training.copy_model(given),
                    train=self._train_baseline,
                )
            elif stage is Stage.PRUNE:
                trained = training.prune_stage(
                    self._keras[Stage.BASELINE], data, self.config.prune, emit, stop
                )
            elif stage is Stage.QAT:
                trained = training.qat_stage(
                    self._keras[Stage.PRUNE], data, self.config.qat, emit, stop, self._left_dense()
                )
            else:
                trained = training.pqat_stage(
                    self._keras[Stage.PRUNE], data, self.config.pqat, emit, stop, self._left_dense()
                )
            accuracy = trained.result.keras_accuracy
            # The event names its stage; listeners add that context themselves.
            emit(LogMessage(f"test accuracy {accuracy:.4f}", stage=stage))
            return _Outputs(keras_model=trained.model, models={MODEL_OF_STAGE[stage]: trained.result})
        if stage is Stage.CONVERT:
            sources = {FLOAT_MODEL: self._keras[Stage.BASELINE]}
            sources.update({name: self._keras[Stage(name)] for name in CONVERTED_MODELS})
            converted = conversion.convert_stage(sources, emit, stop)
            return _Outputs(converted=converted, models=self._with_tflite(converted))
        if stage is Stage.EVALUATE:
            evaluated = conversion.evaluate_stage(self._converted, data, emit, stop)
            return _Outputs(converted=evaluated, models=self._with_tflite(evaluated))
        if stage is Stage.PTQ:
            ptq = conversion.ptq_stage(
                self._keras[Stage.PRUNE],
                data,
                self.config.ptq,
                emit,
                stop,
                baseline=self._keras[Stage.BASELINE],
            )
            result = ModelResult(tflite=ptq.info, layers_left_dense=self._left_dense())
            return _Outputs(converted={"ptq": ptq}, models={"ptq": result})
        raise ValueError(f"unknown stage {stage!r}")

    def _left_dense(self) -> tuple[str, ...]:
        """The layers the Prune stage left dense (read by the stages that start from its model)."""
        pruned = self._results.models.get("pruned")
        return pruned.layers_left_dense if pruned else ()

    def _example_support(self, dataset: Dataset, stage: Stage, emit: Emit) -> tuple[LayerSupport, ...] | None:
        """tfmot's verdict on each layer of the model built for this data, shown before training."""
        if self._baseline_model is not None:
            return None  # the user's: found when it loaded
        self._ensure_tensorflow(stage, emit)
        from engine import layer_support, training

        model = training.build_model(dataset.image_shape, dataset.num_classes)
        return layer_support.inspect_model(model).layers

    def _with_tflite(self, converted: dict[str, ConvertedModel]) -> dict[str, ModelResult]:
        return {
            name: replace(self._results.models.get(name, ModelResult()), tflite=model.info)
            for name, model in converted.items()
        }

    def _commit(self, stage: Stage, outputs: _Outputs, seconds: float) -> None:
        for stale in downstream_of(stage):
            self._drop(stale)
        results = self._results
        if stage is Stage.DATA:
            self._dataset = outputs.dataset
            results = replace(results, dataset=outputs.dataset.info if outputs.dataset else None)
            if outputs.layer_support is not None:
                results = replace(results, layer_support=outputs.layer_support)
        elif stage is Stage.PTQ:
            self._ptq = outputs.converted["ptq"]
        elif stage in (Stage.CONVERT, Stage.EVALUATE):
            self._converted = dict(outputs.converted)
        else:
            self._keras[stage] = outputs.keras_model
        for name, model in outputs.models.items():
            results = results.with_model(name, model)
        self._results = replace(
            results,
            stage_seconds={**results.stage_seconds, stage.value: round(seconds, 3)},
            failures={k: v for k, v in results.failures.items() if k != stage.value},
        )
        self._done.add(stage)

    def _state(self) -> _State:
        return _State(
            frozenset(self._done),
            self._dataset,
            dict(self._keras),
            dict(self._converted),
            self._ptq,
            self._results,
        )

    def _restore_state(self, state: _State) -> None:
        self._done = set(state.done)
        self._dataset = state.dataset
        self._keras = dict(state.keras)
        self._converted = dict(state.converted)
        self._ptq = state.ptq
        self._results = state.results

    def _drop(self, stage: Stage) -> None:
        """Forget a stage's outputs, in the session and in the results."""
        self._done.discard(stage)
        results = self._results.without(stages=(stage.value,))
        if stage is Stage.DATA:
            self._dataset = None
            results = replace(results, dataset=None, layer_support=self._layer_support)
        elif stage is Stage.CONVERT:
            self._converted = {}
            results = results.without(FLOAT_MODEL)
            for name in CONVERTED_MODELS:
                if name in results.models:
                    results = results.with_model(name, replace(results.models[name], tflite=None))
        elif stage is Stage.EVALUATE:
            self._converted = {
                name: replace(model, info=_unevaluated(model.info)) for name, model in self._converted.items()
            }
            for name in (FLOAT_MODEL, *CONVERTED_MODELS):
                model = results.models.get(name)
                if model is not None and model.tflite is not None:
                    results = results.with_model(name, replace(model, tflite=_unevaluated(model.tflite)))
        else:
            self._keras.pop(stage, None)
            if stage is Stage.PTQ:
                self._ptq = None
            results = results.without(MODEL_OF_STAGE[stage])
        self._results = results

    # --- Resuming from a run folder (engine.stored_session) -----------------------------------------

    def restore(self, results: RunResults, done: Iterable[Stage]) -> None:
        """Start from an earlier run's `results`, with the `done` stages counting as finished.

        Everything the results hold for the other stages is dropped. The done stages' in-memory outputs
        (dataset, Keras models, .tflite files) are handed back with `adopt_outputs` only when a stage that
        reads them runs, so a resumed session costs nothing for the stages it does not run again.
        """
        with self._running:
            self._results = replace(
                results,
                config=self.config.to_dict(),
                versions=self._results.versions,
                layer_support=self._layer_support or results.layer_support,
            )
            self._done = set(Stage)
            finished = {Stage(s) for s in done}
            for stage in Stage:
                if stage not in finished:
                    self._drop(stage)

    def has_outputs(self, stage: Stage) -> bool:
        """Whether a done stage's in-memory outputs are here (not yet, for one restored from disk)."""
        stage = Stage(stage)
        if stage is Stage.DATA:
            return self._dataset is not None
        if stage in (Stage.CONVERT, Stage.EVALUATE):
            return bool(self._converted)
        if stage is Stage.PTQ:
            return self._ptq is not None
        return stage in self._keras

    def keras_model(self, stage: Stage) -> Any:
        """The Keras model a training stage made (for pruning, the stripped model), or None."""
        return self._keras.get(Stage(stage))

    def adopt_outputs(
        self,
        stage: Stage,
        *,
        dataset: Dataset | None = None,
        keras_model: Any = None,
        tflite: dict[str, bytes] | None = None,
    ) -> None:
        """Hand a restored stage its in-memory outputs back, read from a run folder."""
        stage = Stage(stage)
        with self._running:
            if stage not in self._done:
                raise ValueError(f"{stage.title} is not done: nothing to adopt")
            if stage is Stage.DATA:
                self._dataset = dataset
            elif stage in (Stage.CONVERT, Stage.EVALUATE, Stage.PTQ):
                from engine.conversion import ConvertedModel

                converted = {
                    name: ConvertedModel(content, self._results.models[name].tflite)
                    for name, content in (tflite or {}).items()
                }
                if stage is Stage.PTQ:
                    self._ptq = converted["ptq"]
                else:
                    self._converted = converted
            else:
                self._keras[stage] = keras_model


def _unevaluated(info: TFLiteInfo) -> TFLiteInfo:
    """A converted file as Convert left it: what Evaluate measured dropped."""
    return replace(info, accuracy=None, latency=None, classes=None, changed=None)


def _is_stop(error: BaseException) -> bool:
    if isinstance(error, _Stopped):
        return True
    from engine.training import StageStopped

    return isinstance(error, StageStopped)
