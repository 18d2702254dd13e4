"""A recipe's stages run in memory, one call per stage: what each technique name dispatches to.

`run_stage` is the body `PipelineSession._compute` becomes when the next wave plumbs recipes in (see the
design note in engine/recipe.py); until then `run_recipe` composes every stage in order for the
collaborative benchmark and the slow tests. No run folder, no resume, no StageStarted/StageFinished
(those stay the session's job): stages emit their progress and log lines, stamped with their own name.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import tf_keras as keras

from engine import clustering, collab_qat, pruning_schedules, stage_cost, training
from engine.collab_config import TECHNIQUE_CONFIG, CollabConfig, stage_config
from engine.config import PipelineConfig
from engine.data import DataOptions, Dataset, load_dataset
from engine.events import EngineEvent, LogMessage
from engine.fine_tune import stamped
from engine.kernel_checks import BlockCheck
from engine.recipe import TRAINING_TECHNIQUES, Recipe, StageSpec
from engine.results import ModelResult
from engine.tflite_variants import (
    DeployedModel,
    convert_models_stage,
    evaluate_deployed_stage,
    ptq_variant_stage,
)
from engine.weight_structure import keras_block_check, keras_unique_values

Emit = Callable[[EngineEvent], None]


@dataclass(frozen=True)
class KerasStructure:
    """What a Keras model's kernels keep: unique values per output channel and the 2:4 blocks."""

    unique_values: dict[str, int]
    blocks: BlockCheck


@dataclass
class RecipeRun:
    """Every output so far, by stage (Keras models) and by model name (results and .tflite files)."""

    recipe: Recipe
    dataset: Dataset | None = None
    keras: dict[str, keras.Model] = field(default_factory=dict)
    models: dict[str, ModelResult] = field(default_factory=dict)
    structure: dict[str, KerasStructure] = field(default_factory=dict)
    deployed: dict[str, DeployedModel] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)


def run_recipe(
    recipe: Recipe,
    pipeline: PipelineConfig,
    collab: CollabConfig,
    emit: Emit,
    stop: threading.Event,
    *,
    dataset: Dataset | None = None,
    stages: Iterable[str] | None = None,
) -> RecipeRun:
    """Run `stages` (default: all) in recipe order. A given `dataset` stands in for the data stage."""
    run = RecipeRun(recipe, dataset=dataset)
    if dataset is not None:
        run.done.append(next(s.name for s in recipe.stages if s.technique == "data"))
    wanted = set(recipe.names() if stages is None else stages)
    for name in recipe.names():
        if name in wanted and name not in run.done:
            run_stage(run, name, pipeline, collab, emit, stop)
    return run


def run_stage(
    run: RecipeRun,
    name: str,
    pipeline: PipelineConfig,
    collab: CollabConfig,
    emit: Emit,
    stop: threading.Event,
    *,
    baseline_model: keras.Model | None = None,
    train_baseline: bool = True,
) -> None:
    """Run one stage of `run.recipe` on the outputs of its inputs and record its outputs in `run`."""
    recipe = run.recipe
    spec = recipe.stage(name)
    missing = recipe.missing_inputs(name, run.done)
    if missing:
        raise ValueError(f"{spec.title} needs the output of {', '.join(recipe.title(s) for s in missing)}")
    config = stage_config(
        spec.section, dict(spec.settings), TECHNIQUE_CONFIG.get(spec.technique), pipeline, collab
    )
    started = time.monotonic()
    if spec.technique == "data":
        run.dataset = load_dataset(pipeline.data, DataOptions.from_config(pipeline))
    elif spec.technique in TRAINING_TECHNIQUES:
        assert run.dataset is not None  # every training stage reads the data stage, directly or not
        source = run.keras[spec.inputs[0]] if spec.technique != "train" else baseline_model
        if source is not None:
            warning = stage_cost.warning_for(
                stage_cost.estimate(source, spec, config, run.dataset.info.train)
            )
            if warning:
                emit(LogMessage(warning, level="warning", stage=name))  # type: ignore[arg-type]
        training.seed_everything(pipeline.seed)
        trained = _train(spec, source, run.dataset, config, emit, stop, train_baseline)
        emit(LogMessage(f"test accuracy {trained.result.keras_accuracy:.4f}", stage=name))  # type: ignore[arg-type]
        run.keras[name] = trained.model
        model_name = spec.models[0]
        run.models[model_name] = trained.result
        run.structure[model_name] = KerasStructure(
            keras_unique_values(trained.model), keras_block_check(trained.model)
        )
    elif spec.technique == "ptq":
        assert run.dataset is not None
        model_name = spec.models[0]
        deployed = ptq_variant_stage(
            run.keras[spec.inputs[0]],
            run.dataset,
            config,
            emit,
            stop,
            mode=spec.param("mode"),
            sparse_encoding=spec.param("sparse_encoding"),
            name=model_name,
            stage=name,
        )
        run.deployed[model_name] = deployed
        run.models[model_name] = ModelResult(tflite=deployed.info)
    elif spec.technique == "convert":
        sources = {recipe.model_of_stage(i) or i: run.keras[i] for i in spec.inputs}
        converted = convert_models_stage(
            sources, emit, stop, sparse_encoding=spec.param("sparse_encoding"), stage=name
        )
        _record_deployed(run, converted)
    elif spec.technique == "evaluate":
        assert run.dataset is not None
        files = {model: run.deployed[model] for model in recipe.converted_models(name)}
        _record_deployed(run, evaluate_deployed_stage(files, run.dataset, emit, stop, stage=name))
    else:  # pragma: no cover - recipe validation admits only registered techniques
        raise ValueError(f"no runner for technique {spec.technique!r}")
    run.seconds[name] = round(time.monotonic() - started, 3)
    run.done.append(name)


def _train(
    spec: StageSpec,
    source: keras.Model | None,
    data: Dataset,
    config: Any,
    emit: Emit,
    stop: threading.Event,
    train_baseline: bool,
) -> training.TrainedModel:
    """The training techniques: today's stage functions for today's variants, the new modules for the rest."""
    name = spec.name
    same_events = stamped(emit, name)
    if spec.technique == "train":
        model = None if source is None else training.copy_model(source)
        return training.baseline_stage(data, config, same_events, stop, model=model, train=train_baseline)
    assert source is not None
    if spec.technique == "prune":
        schedule = spec.param("schedule")
        if schedule == "constant":
            return training.prune_stage(source, data, config, same_events, stop)
        if schedule == "polynomial":
            return pruning_schedules.prune_polynomial_stage(source, data, config, emit, stop, stage=name)
        return pruning_schedules.prune_m_by_n_stage(source, data, config, emit, stop, stage=name)
    if spec.technique == "cluster":
        preserve = spec.param("preserve_sparsity")
        return clustering.cluster_stage(
            source, data, config, emit, stop, preserve_sparsity=preserve, stage=name
        )
    scheme = spec.param("scheme")
    if scheme == "default":
        return training.qat_stage(source, data, config, same_events, stop)
    if scheme == "prune_preserve":
        return training.pqat_stage(source, data, config, same_events, stop)
    return collab_qat.quantize_aware_stage(source, data, config, emit, stop, scheme=scheme, stage=name)


def _record_deployed(run: RecipeRun, files: dict[str, DeployedModel]) -> None:
    for model, deployed in files.items():
        run.deployed[model] = deployed
        run.models[model] = replace(run.models.get(model, ModelResult()), tflite=deployed.info)
