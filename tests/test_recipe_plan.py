"""The recipe as the one plan, without TensorFlow: stage names, fingerprints, files and the Stages table."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from test_run_store import _config

from engine.events import StageStarted
from engine.recipe import COLLABORATIVE, PQAT, recipe_from_mapping, runs_as_pqat
from engine.results import ModelResult, RunResults, TFLiteInfo
from engine.run_store import (
    DONE,
    Manifest,
    StageRecord,
    event_from_json,
    event_json,
    stage_artifact_paths,
    stage_fingerprints,
    stage_metrics,
)
from engine.stages import (
    MODEL_OF_STAGE,
    STAGE_INPUTS,
    Stage,
    StageName,
    downstream_of,
    stage_key,
    stage_title,
)
from engine.strict_json import ShapeError
from pqat_tui.tables import stage_statuses

CLUSTER_BRANCH = {"cluster", "cqat", "convert_clustered", "evaluate_clustered"}


# --- stage names ------------------------------------------------------------------------------------------


def test_the_stage_enum_is_a_shim_over_the_pqat_recipe() -> None:
    assert tuple(s.value for s in Stage) == PQAT.names()
    assert STAGE_INPUTS[Stage.CONVERT] == (Stage.QAT, Stage.PQAT)
    assert MODEL_OF_STAGE[Stage.PRUNE] == "pruned"
    assert downstream_of(Stage.PRUNE) == [Stage.QAT, Stage.PQAT, Stage.CONVERT, Stage.EVALUATE, Stage.PTQ]
    assert Stage.PRUNE == "prune" and {"prune": 1}[Stage.PRUNE] == 1
    assert PQAT.downstream_of(Stage.QAT) == ["convert", "evaluate"]


def test_other_stages_are_str_names_with_a_title() -> None:
    assert stage_key("prune") is Stage.PRUNE
    cqat = stage_key("cqat")
    assert isinstance(cqat, StageName) and cqat == "cqat" and cqat.value == "cqat" and cqat.title == "CQAT"
    assert stage_title("convert_2by4") == "Convert 2:4"
    assert stage_title("mine") == "Mine"
    line = event_json(StageStarted(cqat, epochs=2))  # type: ignore[arg-type]
    assert line["stage"] == "cqat"
    again = event_from_json(json.loads(json.dumps(line)))
    assert again.stage == "cqat" and again.stage.title == "CQAT"  # type: ignore[union-attr]


def test_pqat_stages_keep_todays_code_in_the_collaborative_recipe() -> None:
    assert all(runs_as_pqat(COLLABORATIVE, name) for name in PQAT.names())
    assert not runs_as_pqat(COLLABORATIVE, "cqat")
    changed = recipe_from_mapping(
        {
            "name": "mine",
            "base": "pqat",
            "without": ["prune"],
            "stages": {"prune80": {"technique": "prune", "inputs": ["baseline"], "final_sparsity": 0.8}},
        }
    )
    assert runs_as_pqat(changed, "baseline") and not runs_as_pqat(changed, "prune80")


# --- fingerprints -----------------------------------------------------------------------------------------


# What main computed before recipes, for PipelineConfig(data="sample") and data digest "sample|abc".
PRINTS_BEFORE_RECIPES = {
    "data": "042e65a116e3adc2",
    "baseline": "0d5c777b909a07ba",
    "prune": "a13fe9e58808e29c",
    "qat": "1d4ce8e27b137c67",
    "pqat": "22236976d3b78927",
    "convert": "3924085bbe2d98c8",
    "evaluate": "cb2a825b4f13e032",
    "ptq": "cd3c1c254f12336a",
}


def test_pqat_fingerprints_are_those_of_runs_made_before_recipes() -> None:
    # So a run folder from before recipes resumes without running anything again.
    assert stage_fingerprints(_config(), "sample|abc") == PRINTS_BEFORE_RECIPES
    assert stage_fingerprints(_config(), "sample|abc", recipe=PQAT) == PRINTS_BEFORE_RECIPES


def test_collaborative_shares_the_training_stages_fingerprints_with_pqat() -> None:
    pqat = stage_fingerprints(_config(), "d")
    collaborative = stage_fingerprints(_config(), "d", recipe=COLLABORATIVE)
    same = {name for name in PQAT.names() if pqat[name] == collaborative[name]}
    # Only convert and ptq differ (sparse encoding) and evaluate, which reads convert.
    assert same == {"data", "baseline", "prune", "qat", "pqat"}


def test_changing_one_branchs_setting_changes_that_branch_only() -> None:
    before = stage_fingerprints(_config(), "d", recipe=COLLABORATIVE)
    after = stage_fingerprints(_config(cluster__number_of_clusters=8), "d", recipe=COLLABORATIVE)
    assert {name for name in before if before[name] != after[name]} == CLUSTER_BRANCH
    upstream = stage_fingerprints(_config(prune__sparsity=0.8), "d", recipe=COLLABORATIVE)
    assert {name for name in before if before[name] != upstream[name]} == {
        "prune",
        *COLLABORATIVE.downstream_of("prune"),
    }


def test_an_inline_setting_of_a_user_stage_is_part_of_its_fingerprint() -> None:
    def recipe(sparsity: float):  # noqa: ANN202 - a Recipe
        table = {"technique": "prune", "inputs": ["baseline"], "final_sparsity": sparsity}
        return recipe_from_mapping({"name": "mine", "base": "pqat", "stages": {"prune80": table}})

    first = stage_fingerprints(_config(), "d", recipe=recipe(0.8))
    second = stage_fingerprints(_config(), "d", recipe=recipe(0.7))
    assert {name for name in first if first[name] != second[name]} == {"prune80"}


# --- files and the manifest -------------------------------------------------------------------------------


def test_new_models_have_their_own_files() -> None:
    assert stage_artifact_paths("cluster", COLLABORATIVE) == {"clustered": "models/clustered.keras"}
    assert stage_artifact_paths("pcqat", COLLABORATIVE) == {"pcqat": "models/pcqat.h5"}
    assert stage_artifact_paths("convert_2by4", COLLABORATIVE) == {
        "pruned_2by4": "models/pruned_2by4.tflite",
        "pqat_2by4": "models/pqat_2by4.tflite",
    }
    assert stage_artifact_paths("ptq_float16", COLLABORATIVE) == {"ptq_float16": "models/ptq_float16.tflite"}
    assert stage_artifact_paths("evaluate_clustered", COLLABORATIVE) == {}
    # pqat's stages keep theirs, in either recipe.
    assert stage_artifact_paths("convert", COLLABORATIVE) == stage_artifact_paths(Stage.CONVERT)


def test_the_manifest_reads_recipe_stages_and_refuses_paths_outside_models() -> None:
    record = StageRecord(DONE, "f", artifacts={"models/cqat.h5": "d"})
    manifest = (
        Manifest(created="t").with_record("cqat", record).with_record(Stage.DATA, StageRecord(DONE, "g"))
    )
    document = json.loads(json.dumps(manifest.to_json()))
    assert list(document["stages"]) == ["data", "cqat"]
    assert Manifest.from_json(document).record("cqat") == record
    document["stages"]["cqat"]["artifacts"] = {"models/../x.h5": "d"}
    with pytest.raises(ShapeError, match=r"'models/../x.h5' is not a file CQAT writes"):
        Manifest.from_json(document)


def test_stage_metrics_of_a_recipe_stage() -> None:
    results = RunResults(
        models={
            "clustered": ModelResult(keras_accuracy=0.9),
            "cqat": ModelResult(tflite=TFLiteInfo(bytes=10, zipped_bytes=5, accuracy=0.8)),
        }
    )
    assert stage_metrics("cluster", results, COLLABORATIVE) == {"accuracy": 0.9}
    assert stage_metrics("evaluate_clustered", results, COLLABORATIVE) == {"cqat_tflite_accuracy": 0.8}


# --- the Stages table -------------------------------------------------------------------------------------


def test_the_stages_table_lists_the_runs_recipe() -> None:
    config = replace(_config(), recipe=replace(_config().recipe, name="collaborative")).to_dict()
    results = RunResults(
        config=config,
        stage_seconds={"cluster": 1.5},
        models={"clustered": ModelResult(keras_accuracy=0.9)},
        failures={"cqat": "boom"},
    )
    statuses = {s.stage.value: s for s in stage_statuses(results)}
    assert list(statuses) == list(COLLABORATIVE.names())
    assert statuses["cluster"].state == "done" and statuses["cluster"].stage.title == "Cluster"
    assert statuses["cqat"].state == "failed"
    assert statuses["pcqat"].state == "not run"
    assert [s.stage for s in stage_statuses(RunResults())] == list(Stage)  # results from before recipes
