"""`PipelineSession`: the real engine, holding every stage's output and running one stage at a time.

Creating a session is cheap; TensorFlow is imported when the first stage that needs it runs. A stage's
outputs are committed only when it finishes: a failed or cancelled stage leaves the session exactly as it
was, and a stage that finishes drops the outputs of every stage downstream of it (they are stale).

The stages are the session's recipe's (engine.recipe), by name. A stage the `pqat` recipe has, as it has it
(TFLite's sparse encoding aside), runs today's code, so its numbers are those of every earlier run; any other
stage runs through engine.recipe_runner, dispatched on its technique and variant.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from engine.collab_config import CollabConfig
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
from engine.recipe import TRAINING_TECHNIQUES, Recipe, plain_name, recipe_of, runs_as_pqat
from engine.results import LayerSupport, ModelResult, RunResults, TFLiteInfo
from engine.stages import MODEL_OF_STAGE, Stage, stage_key
from engine.tf_runtime import installed_versions, is_loaded, load_tensorflow
from engine.writes import WriteError

if TYPE_CHECKING:
    from engine.conversion import ConvertedModel
    from engine.tflite_variants import DeployedModel

Emit = Callable[[EngineEvent], None]
Keep = Callable[[str, float], None]
CONVERTED_MODELS = ("qat", "pqat")
# The baseline converted without optimization by Convert: the deployed files' reference (`models.float`).
FLOAT_MODEL = "float"


class _Stopped(Exception):
    """A stop the session notices itself: before a stage starts (TensorFlow perhaps not loaded yet, so
    engine.training's StageStopped is out of reach) or after the stage computed its output."""


@dataclass(frozen=True)
class _State:
    """Everything a stage's commit changes, to put back when its outputs cannot be saved."""

    done: frozenset[str]
    dataset: Dataset | None
    keras: dict[str, Any]
    converted: dict[str, ConvertedModel]
    ptq: ConvertedModel | None
    deployed: dict[str, DeployedModel]
    results: RunResults


@dataclass
class _Outputs:
    """What a stage hands to the session when it finishes, committed all at once."""

    dataset: Dataset | None = None
    keras_model: Any = None
    models: dict[str, ModelResult] = field(default_factory=dict)
    converted: dict[str, ConvertedModel] = field(default_factory=dict)
    deployed: dict[str, DeployedModel] = field(default_factory=dict)  # a recipe stage's .tflite files
    layer_support: tuple[LayerSupport, ...] | None = None  # the example model's, found by the Data stage


class PipelineSession:
    """Implements engine.protocol.PipelineEngine with TensorFlow, tfmot and LiteRT."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        recipe: Recipe | None = None,
        baseline_model: Any = None,
        train_baseline: bool = True,
        refusals: Mapping[Stage, str] | None = None,
        layer_support: tuple[LayerSupport, ...] = (),
    ) -> None:
        """`baseline_model`: a user's Keras model the baseline stage fine-tunes (or, with `train_baseline`
        false, only evaluates) instead of training the example's. `refusals`: stages known to be unable to
        run (tfmot cannot wrap the user's model at all) and why; they fail at once with that message.
        `layer_support`: tfmot's verdict on each layer of the user's model (the Data stage finds the
        example model's, whose shape follows the data's). `recipe`: the stages (default: the config's).
        """
        self.config = config
        self.recipe = recipe or recipe_of(config)
        self._baseline_model = baseline_model
        self._train_baseline = train_baseline
        self._refusals = dict(refusals or {})
        self._layer_support = tuple(layer_support)
        self._results = RunResults(
            config=config.to_dict(),
            versions=installed_versions(),
            layer_support=self._layer_support,
            recipe=self.recipe.to_json(),
        )
        self._done: set[str] = set()
        self._dataset: Dataset | None = None
        self._keras: dict[str, Any] = {}
        self._converted: dict[str, ConvertedModel] = {}
        self._ptq: ConvertedModel | None = None
        self._deployed: dict[str, DeployedModel] = {}
        self._running = threading.Lock()
        self._strategies_told: set[str] = {"default"}

    @property
    def results(self) -> RunResults:
        return self._results

    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    def done_stages(self) -> set[Stage | str]:
        """The finished stages: `Stage` members for the `pqat` names, plain names for the others."""
        return {stage_key(name, self.recipe) for name in self._done}

    def tflite_model(self, name: str) -> bytes | None:
        """The converted .tflite file of model `name` (`float`, `qat`, `pqat`, `ptq`, ...), once made."""
        if name == "ptq" and self._today("ptq"):
            return self._ptq.content if self._ptq else None
        converted = self._converted.get(name) or self._deployed.get(name)
        return converted.content if converted else None

    def run_stage(
        self, stage: Stage | str, emit: Emit, stop: threading.Event, *, keep: Keep | None = None
    ) -> None:
        """Run one stage of the recipe (see engine.protocol).

        `keep(stage, seconds)`, when given, saves the stage's committed outputs (engine.stored_session writes
        its run folder). It is part of the stage: when it raises, the commit is undone and the stage fails
        with the cause, leaving the session as it was.
        """
        name = plain_name(stage)
        self.recipe.stage(name)  # KeyError for a stage the recipe does not have
        with self._running:
            self._run_stage(name, emit, stop, keep)

    def _today(self, name: str) -> bool:
        """Whether stage `name` runs today's code (see engine.recipe.runs_as_pqat)."""
        return runs_as_pqat(self.recipe, name)

    def _run_stage(self, name: str, emit: Emit, stop: threading.Event, keep: Keep | None = None) -> None:
        started = time.monotonic()
        stage = stage_key(name, self.recipe)  # what events carry: a Stage for the pqat names
        emit(StageStarted(stage, epochs=self._epochs_of(name)))  # type: ignore[arg-type]

        def seconds() -> float:
            return time.monotonic() - started

        missing = self.recipe.missing_inputs(name, self._done)
        if missing:
            names = ", ".join(self.recipe.title(s) for s in missing)
            self._fail(
                stage,
                f"needs the output of {names}: run {'it' if len(missing) == 1 else 'them'} first",
                seconds(),
                emit,
            )
            return
        if name in self._refusals:
            self._fail(stage, self._refusals[name], seconds(), emit)  # type: ignore[index]
            return
        try:
            if stop.is_set():
                raise _Stopped
            if name != Stage.DATA.value or self.config.strategy != "default":
                # A multi-worker strategy must exist before any TensorFlow operation runs (a folder's
                # Data stage decodes images): it is made with TensorFlow, before the first stage.
                self._ensure_tensorflow(stage, emit)
            with self._strategy_scope(name):
                outputs = (
                    self._compute(name, emit, stop)
                    if self._today(name)
                    else self._run_recipe_stage(name, emit, stop)
                )
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
        self._commit(name, outputs, elapsed)
        if keep is not None:
            try:
                keep(name, elapsed)
            except Exception as error:  # noqa: BLE001 - an output that cannot be saved fails its stage
                self._restore_state(before)
                if not isinstance(error, WriteError):
                    emit(LogMessage(traceback.format_exc().rstrip(), level="error", stage=stage))
                reason = str(error) if isinstance(error, WriteError) else one_line_error(error)
                self._fail(stage, f"not saved: {reason}", seconds(), emit)
                return
        emit(StageFinished(stage, elapsed, self._results))

    def _ensure_tensorflow(self, stage: Stage | str, emit: Emit) -> None:
        if not is_loaded():
            emit(LogMessage("Loading TensorFlow…", stage=stage))  # type: ignore[arg-type]
        versions = load_tensorflow()
        if versions != self._results.versions:
            self._results = replace(self._results, versions=versions)
        if self.config.strategy not in self._strategies_told:
            from engine.distribution import describe

            self._strategies_told.add(self.config.strategy)
            emit(LogMessage(describe(self.config.strategy), stage=stage))  # type: ignore[arg-type]

    def _strategy_scope(self, name: str) -> contextlib.AbstractContextManager[Any]:
        """The training stages build, wrap and compile their models in the distribution strategy's scope."""
        if self.recipe.stage(name).technique not in TRAINING_TECHNIQUES:
            return contextlib.nullcontext()
        from engine.distribution import training_strategy

        return training_strategy(self.config.strategy).scope()

    def _fail(self, stage: Stage | str, error: str, seconds: float, emit: Emit) -> None:
        name = plain_name(stage)
        self._results = replace(self._results, failures={**self._results.failures, name: error})
        emit(StageFailed(stage_key(name, self.recipe), seconds, error))  # type: ignore[arg-type]

    def _epochs_of(self, name: str) -> int:
        if not self._today(name):
            return self._recipe_epochs(name)
        stage = Stage(name)
        trained = {
            Stage.BASELINE: self.config.baseline,
            Stage.PRUNE: self.config.prune,
            Stage.QAT: self.config.qat,
            Stage.PQAT: self.config.pqat,
        }
        if stage is Stage.BASELINE and not self._train_baseline:
            return 0
        return trained[stage].epochs if stage in trained else 0

    def _recipe_epochs(self, name: str) -> int:
        """A recipe stage's epochs: its resolved section's (0 for stages that do not train)."""
        from engine.collab_config import TECHNIQUE_CONFIG, stage_config

        spec = self.recipe.stage(name)
        if spec.technique not in TRAINING_TECHNIQUES or (
            spec.technique == "train" and not self._train_baseline
        ):
            return 0
        config = stage_config(
            spec.section,
            dict(spec.settings),
            TECHNIQUE_CONFIG.get(spec.technique),
            self.config,
            CollabConfig.of(self.config),
        )
        return int(getattr(config, "epochs", 0))

    def _run_recipe_stage(self, name: str, emit: Emit, stop: threading.Event) -> _Outputs:
        """A stage `pqat` lacks: engine.recipe_runner's technique dispatch, on the session's outputs."""
        from engine import recipe_runner

        run = recipe_runner.RecipeRun(
            self.recipe,
            dataset=self._dataset,
            keras=dict(self._keras),
            models=dict(self._results.models),
            deployed=self._all_deployed(),
            done=sorted(self._done),
        )
        recipe_runner.run_stage(
            run,
            name,
            self.config,
            CollabConfig.of(self.config),
            emit,
            stop,
            baseline_model=self._baseline_model,
            train_baseline=self._train_baseline,
        )
        spec = self.recipe.stage(name)
        written = spec.models if spec.technique in TRAINING_TECHNIQUES else self.recipe.converted_models(name)
        return _Outputs(
            dataset=run.dataset if spec.technique == "data" else None,
            keras_model=run.keras.get(name),
            models={m: run.models[m] for m in written if m in run.models},
            deployed={m: run.deployed[m] for m in written if m in run.deployed},
        )

    def _all_deployed(self) -> dict[str, DeployedModel]:
        """Every .tflite file made so far, as engine.tflite_variants describes them (the recipe runner's)."""
        files = dict(self._deployed)
        made = {**self._converted, **({"ptq": self._ptq} if self._ptq else {})}
        for model, converted in made.items():
            files.setdefault(model, _as_deployed(converted.content, converted.info))
        return files

    def _compute(self, name: str, emit: Emit, stop: threading.Event) -> _Outputs:
        """A stage `pqat` has, run by today's code (and measured as schema 2 adds)."""
        stage = Stage(name)
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
            sources.update({model: self._keras[model] for model in CONVERTED_MODELS})
            converted = self._measured(
                name, conversion.convert_stage(sources, emit, stop), sources, emit, stop
            )
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
            ptq = self._measured(name, {"ptq": ptq}, {"ptq": self._keras[Stage.PRUNE]}, emit, stop)["ptq"]
            result = ModelResult(tflite=ptq.info, layers_left_dense=self._left_dense())
            return _Outputs(converted={"ptq": ptq}, models={"ptq": result})
        raise ValueError(f"unknown stage {stage!r}")

    def _measured(
        self,
        name: str,
        converted: dict[str, ConvertedModel],
        sources: dict[str, Any],
        emit: Emit,
        stop: threading.Event,
    ) -> dict[str, ConvertedModel]:
        """Today's files with schema 2's measures: unique values per output channel of every kernel, and,
        when the recipe asks for it, the raw size of each optimized file's sparse-encoded variant."""
        from engine import tflite_variants
        from engine.conversion import ConvertedModel

        sparse = bool(self.recipe.stage(name).param("sparse_encoding"))
        measured = {}
        for model, file in converted.items():
            sparse_bytes = None
            if sparse and model != FLOAT_MODEL:
                assert self._dataset is not None
                representative = None
                if model == "ptq":  # full-integer: the sparse variant is calibrated as the plain file was
                    representative = tflite_variants.calibration(self._dataset, self.config.ptq, stop)
                sparse_bytes = len(
                    tflite_variants.sparse_encoded(
                        sources[model], model, len(file.content), emit, stop, name, representative
                    )
                )
            info = tflite_variants.with_structure(file.info, file.content, sources[model], sparse_bytes)
            measured[model] = ConvertedModel(file.content, info)
        return measured

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

    def _commit(self, name: str, outputs: _Outputs, seconds: float) -> None:
        for stale in self.recipe.downstream_of(name):
            self._drop(stale)
        results = self._results
        technique = self.recipe.stage(name).technique
        if technique == "data":
            self._dataset = outputs.dataset
            results = replace(results, dataset=outputs.dataset.info if outputs.dataset else None)
            if outputs.layer_support is not None:
                results = replace(results, layer_support=outputs.layer_support)
        elif not self._today(name) and technique not in TRAINING_TECHNIQUES:
            self._deployed.update(outputs.deployed)
        elif name == Stage.PTQ.value:
            self._ptq = outputs.converted["ptq"]
        elif name in (Stage.CONVERT.value, Stage.EVALUATE.value):
            self._converted = dict(outputs.converted)
        else:
            self._keras[name] = outputs.keras_model
        for model_name, model in outputs.models.items():
            results = results.with_model(model_name, model)
        self._results = replace(
            results,
            stage_seconds={**results.stage_seconds, name: round(seconds, 3)},
            failures={k: v for k, v in results.failures.items() if k != name},
        )
        self._done.add(name)

    def _state(self) -> _State:
        return _State(
            frozenset(self._done),
            self._dataset,
            dict(self._keras),
            dict(self._converted),
            self._ptq,
            dict(self._deployed),
            self._results,
        )

    def _restore_state(self, state: _State) -> None:
        self._done = set(state.done)
        self._dataset = state.dataset
        self._keras = dict(state.keras)
        self._converted = dict(state.converted)
        self._ptq = state.ptq
        self._deployed = dict(state.deployed)
        self._results = state.results

    def _drop(self, name: str) -> None:
        """Forget a stage's outputs, in the session and in the results."""
        if not self._today(name) and self.recipe.stage(name).technique != "data":
            self._drop_recipe_stage(name)
            return
        stage = Stage(name)
        self._done.discard(name)
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
            self._keras.pop(name, None)
            if stage is Stage.PTQ:
                self._ptq = None
            results = results.without(MODEL_OF_STAGE[stage])
        self._results = results

    def _drop_recipe_stage(self, name: str) -> None:
        """`_drop` for a stage run by engine.recipe_runner: its Keras model, or its .tflite files."""
        self._done.discard(name)
        results = self._results.without(stages=(name,))
        technique = self.recipe.stage(name).technique
        if technique in TRAINING_TECHNIQUES:
            self._keras.pop(name, None)
            results = results.without(*self.recipe.stage(name).models)
        elif technique == "ptq":
            for model in self.recipe.converted_models(name):
                self._deployed.pop(model, None)
            results = results.without(*self.recipe.converted_models(name))
        else:  # convert: the files go; evaluate: what it measured goes
            for model in self.recipe.converted_models(name):
                deployed = self._deployed.get(model)
                entry = results.models.get(model)
                if technique == "convert":
                    self._deployed.pop(model, None)
                    tflite = None
                else:
                    if deployed is not None:
                        self._deployed[model] = replace(deployed, info=_unevaluated(deployed.info))
                    tflite = _unevaluated(entry.tflite) if entry is not None and entry.tflite else None
                if entry is not None:
                    results = results.with_model(model, replace(entry, tflite=tflite))
        self._results = results

    # --- Resuming from a run folder (engine.stored_session) -----------------------------------------

    def restore(self, results: RunResults, done: Iterable[Stage | str]) -> None:
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
                recipe=self.recipe.to_json(),
            )
            self._done = set(self.recipe.names())
            finished = {plain_name(s) for s in done}
            for name in self.recipe.names():
                if name not in finished:
                    self._drop(name)

    def has_outputs(self, stage: Stage | str) -> bool:
        """Whether a done stage's in-memory outputs are here (not yet, for one restored from disk)."""
        name = plain_name(stage)
        technique = self.recipe.stage(name).technique
        if technique == "data":
            return self._dataset is not None
        if not self._today(name) and technique not in TRAINING_TECHNIQUES:
            return all(m in self._deployed for m in self.recipe.converted_models(name))
        if technique in TRAINING_TECHNIQUES:
            return name in self._keras
        if name == Stage.PTQ.value:
            return self._ptq is not None
        return bool(self._converted)  # today's Convert and Evaluate

    def keras_model(self, stage: Stage | str) -> Any:
        """The Keras model a training stage made (for pruning, the stripped model), or None."""
        return self._keras.get(plain_name(stage))

    def adopt_outputs(
        self,
        stage: Stage | str,
        *,
        dataset: Dataset | None = None,
        keras_model: Any = None,
        tflite: dict[str, bytes] | None = None,
    ) -> None:
        """Hand a restored stage its in-memory outputs back, read from a run folder."""
        name = plain_name(stage)
        technique = self.recipe.stage(name).technique
        with self._running:
            if name not in self._done:
                raise ValueError(f"{self.recipe.title(name)} is not done: nothing to adopt")
            if technique == "data":
                self._dataset = dataset
            elif technique in TRAINING_TECHNIQUES:
                self._keras[name] = keras_model
            elif not self._today(name):
                self._adopt_files(tflite or {})
            else:  # today's Convert, Evaluate or PTQ
                from engine.conversion import ConvertedModel

                converted = {
                    model: ConvertedModel(content, self._results.models[model].tflite)
                    for model, content in (tflite or {}).items()
                }
                if name == Stage.PTQ.value:
                    self._ptq = converted["ptq"]
                else:
                    self._converted = converted

    def _adopt_files(self, tflite: dict[str, bytes]) -> None:
        """A recipe stage's .tflite files read back, described by the results they were saved with."""
        for model, content in tflite.items():
            info = self._results.models[model].tflite
            assert info is not None  # the stage that wrote the file recorded it
            self._deployed[model] = _as_deployed(content, info)


def _as_deployed(content: bytes, info: TFLiteInfo) -> DeployedModel:
    """A .tflite file as engine.recipe_runner's stages take it, described by its results (no 2:4 check)."""
    from engine.kernel_checks import BlockCheck
    from engine.tflite_variants import DeployedModel

    return DeployedModel(content, info, dict(info.unique_values), BlockCheck(2, 4, ()))


def _unevaluated(info: TFLiteInfo) -> TFLiteInfo:
    """A converted file as Convert left it: what Evaluate measured dropped."""
    return replace(info, accuracy=None, latency=None, classes=None, changed=None)


def _is_stop(error: BaseException) -> bool:
    if isinstance(error, _Stopped):
        return True
    from engine.training import StageStopped

    return isinstance(error, StageStopped)
