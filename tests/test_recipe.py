"""The plan as data: the built-in recipes against today's stage graph, user recipes in TOML, and a one-line
refusal (naming the key) for every fault a recipe can have. Pure Python: no TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.collab_config import (
    ClusterConfig,
    CollabConfig,
    PruneScheduleConfig,
    section_config,
    stage_config,
)
from engine.config import PipelineConfig, TrainConfig
from engine.config_file import ConfigError, config_from_mapping, config_to_toml, read_config_file
from engine.recipe import (
    BUILT_IN,
    COLLABORATIVE,
    PQAT,
    TECHNIQUES,
    Recipe,
    StageSpec,
    graph_from_json,
    recipe_from_mapping,
    resolve_recipe,
)
from engine.stages import MODEL_NAMES, MODEL_OF_STAGE, STAGE_INPUTS, Stage, downstream_of, missing_inputs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NEW_MODELS = (
    "clustered",
    "sparse_clustered",
    "cqat",
    "pcqat",
    "pruned_2by4",
    "pqat_2by4",
    "ptq_dynamic",
    "ptq_float16",
)


# --- The built-ins --------------------------------------------------------------------------------------


def test_pqat_recipe_is_exactly_todays_stage_graph() -> None:
    assert PQAT.names() == tuple(s.value for s in Stage)
    assert PQAT.to_json() == {s.value: [i.value for i in STAGE_INPUTS[s]] for s in Stage}
    assert PQAT.models_by_stage() == {s.value: m for s, m in MODEL_OF_STAGE.items()}
    assert PQAT.model_names() == MODEL_NAMES
    assert [PQAT.title(s.value) for s in Stage] == [s.title for s in Stage]
    for stage in Stage:
        assert PQAT.downstream_of(stage.value) == [s.value for s in downstream_of(stage)]
        assert PQAT.model_of_stage(stage.value) == MODEL_OF_STAGE.get(stage)
        done = [Stage.DATA, Stage.BASELINE, Stage.QAT]
        assert PQAT.missing_inputs(stage.value, [s.value for s in done]) == [
            s.value for s in missing_inputs(stage, done)
        ]


def test_pqat_recipe_variants_are_todays_techniques() -> None:
    assert PQAT.stage("prune").param("schedule") == "constant"
    assert PQAT.stage("qat").param("scheme") == "default"
    assert PQAT.stage("pqat").param("scheme") == "prune_preserve"
    assert PQAT.stage("ptq").param("mode") == "full_integer"
    assert PQAT.stage("convert").param("sparse_encoding") is False
    assert [PQAT.stage(s).section for s in PQAT.names()] == [
        None,
        "baseline",
        "prune",
        "qat",
        "pqat",
        None,
        None,
        "ptq",
    ]
    assert PQAT.deployed_models() == ("qat", "pqat", "ptq")
    assert PQAT.converted_models("evaluate") == ("qat", "pqat")


def test_collaborative_has_every_branch_and_the_issue_model_names() -> None:
    assert COLLABORATIVE.names()[:8] == PQAT.names()
    assert set(COLLABORATIVE.model_names()) == set(MODEL_NAMES) | set(NEW_MODELS)
    for model in NEW_MODELS:
        assert model in COLLABORATIVE.deployed_models(), model
    assert set(COLLABORATIVE.deployed_models()) == set(COLLABORATIVE.model_names()) - {"baseline", "pruned"}
    expected = {
        "clustered": ("baseline",),
        "sparse_clustered": ("prune",),
        "cqat": ("cluster",),
        "pcqat": ("sparse_cluster",),
        "pruned_2by4": ("baseline",),
        "pqat_2by4": ("prune_2by4",),
        "ptq_dynamic": ("prune",),
        "ptq_float16": ("prune",),
    }
    for model, inputs in expected.items():
        assert COLLABORATIVE.inputs_of(COLLABORATIVE.stage_of_model(model)) == inputs, model
    assert COLLABORATIVE.stage("pcqat").param("scheme") == "prune_cluster_preserve"
    assert COLLABORATIVE.stage("cqat").param("scheme") == "cluster_preserve"
    assert COLLABORATIVE.stage("sparse_cluster").param("preserve_sparsity") is True
    assert COLLABORATIVE.stage("cluster").param("preserve_sparsity") is False
    assert COLLABORATIVE.stage("prune_2by4").param("schedule") == "m_by_n"


def test_pqat_training_stages_keep_their_identity_in_collaborative() -> None:
    for name in ("data", "baseline", "prune", "qat", "pqat", "evaluate"):
        assert COLLABORATIVE.identity(name) == PQAT.identity(name), name
    # Only conversion differs: the collaborative recipe also writes the sparse-encoded files.
    assert COLLABORATIVE.identity("convert")["params"] == {"sparse_encoding": True}


def test_each_branch_is_converted_and_evaluated_on_its_own() -> None:
    """Re-running one branch leaves the others' files alone: resume stays granular."""
    assert COLLABORATIVE.downstream_of("cqat") == ["convert_clustered", "evaluate_clustered"]
    assert COLLABORATIVE.downstream_of("prune_2by4") == ["pqat_2by4", "convert_2by4", "evaluate_2by4"]
    assert "convert" not in COLLABORATIVE.downstream_of("cluster")
    assert COLLABORATIVE.downstream_of("prune")[:4] == ["qat", "pqat", "convert", "evaluate"]
    assert COLLABORATIVE.converted_models("evaluate_sparse_clustered") == ("sparse_clustered", "pcqat")
    assert COLLABORATIVE.upstream_of("pcqat") == ["data", "baseline", "prune", "sparse_cluster"]
    m_by_n = [s for s in COLLABORATIVE.names() if COLLABORATIVE.m_by_n_applies(s)]
    assert m_by_n == ["prune_2by4", "pqat_2by4", "convert_2by4", "evaluate_2by4"]


@pytest.mark.parametrize("recipe", list(BUILT_IN.values()), ids=list(BUILT_IN))
def test_built_ins_are_listed_in_tree_order(recipe: Recipe) -> None:
    """The app's stage tree read top to bottom is the recipe's order: stepping with n walks the list."""
    rows = recipe.tree()
    assert [r.name for r in rows] == list(recipe.names())
    for row in rows:
        if row.parent is not None:
            assert row.parent in recipe.inputs_of(row.name)
            assert set(row.also_reads) == set(recipe.inputs_of(row.name)) - {row.parent}
    assert {r.name: r.depth for r in PQAT.tree()} == {
        "data": 0,
        "baseline": 1,
        "prune": 2,
        "qat": 3,
        "pqat": 3,
        "convert": 4,
        "evaluate": 5,
        "ptq": 3,
    }


@pytest.mark.parametrize("recipe", list(BUILT_IN.values()), ids=list(BUILT_IN))
def test_every_stage_has_a_title_a_purpose_and_a_registered_technique(recipe: Recipe) -> None:
    titles = [recipe.title(s) for s in recipe.names()]
    assert len(set(titles)) == len(titles)
    for spec in recipe.stages:
        assert spec.title and spec.purpose.endswith(".")
        assert spec.technique in TECHNIQUES
        assert spec.section is None or section_config(spec.section, PipelineConfig(), CollabConfig())


def test_json_graph_round_trips_and_a_bad_graph_is_one_line() -> None:
    graph = graph_from_json(COLLABORATIVE.to_json())
    assert graph == {s.name: s.inputs for s in COLLABORATIVE.stages}
    for bad, message in [
        ([], "must be an object"),
        ({"a": "b"}, "recipe.a: must be a list"),
        ({"a": ["b"], "b": []}, "reads 'b', which is not a stage listed before it"),
        ({"a": [1]}, "must be a list of stage names"),
    ]:
        with pytest.raises(ValueError, match=message):
            graph_from_json(bad)


def test_recipe_module_imports_no_tensorflow() -> None:
    code = "import sys, engine.recipe, engine.collab_config; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- User recipes -----------------------------------------------------------------------------------------

USER_RECIPE = """
[recipe]
name = "prune80"
base = "pqat"
without = ["qat"]

[recipe.stages.convert80]
technique = "convert"
inputs = ["prune80"]
sparse_encoding = true

[recipe.stages.prune80]
technique = "prune"
inputs = ["baseline"]
model = "pruned80"
schedule = "polynomial"
final_sparsity = 0.8
epochs = 2

[recipe.stages.evaluate80]
technique = "evaluate"
inputs = ["convert80"]
"""


def test_a_user_recipe_extends_a_built_in() -> None:
    recipe = recipe_from_mapping(tomllib.loads(USER_RECIPE)["recipe"])
    assert recipe.name == "prune80"
    # qat and what reads it (convert, evaluate) are left out; the new stages follow in dependency order.
    assert recipe.names() == (
        "data",
        "baseline",
        "prune",
        "pqat",
        "ptq",
        "prune80",
        "convert80",
        "evaluate80",
    )
    prune80 = recipe.stage("prune80")
    assert prune80.param("schedule") == "polynomial"
    assert dict(prune80.settings) == {"final_sparsity": 0.8, "epochs": 2}
    assert prune80.section == "prune" and prune80.title == "Prune80"
    assert recipe.model_of_stage("prune80") == "pruned80"
    assert recipe.deployed_models() == ("ptq", "pruned80")
    config = stage_config(
        prune80.section, dict(prune80.settings), PruneScheduleConfig, PipelineConfig(), CollabConfig()
    )
    assert isinstance(config, PruneScheduleConfig)
    assert (config.final_sparsity, config.epochs, config.learning_rate) == (0.8, 2, 1e-5)


def test_a_standalone_user_recipe_and_picking_recipes_by_name() -> None:
    table = {
        "name": "mine",
        "stages": {
            "data": {"technique": "data"},
            "float": {"technique": "train", "inputs": ["data"], "epochs": 1},
            "fp16": {"technique": "ptq", "inputs": ["float"], "mode": "float16"},
        },
    }
    recipe = recipe_from_mapping(table)
    assert recipe.to_json() == {"data": [], "float": ["data"], "fp16": ["float"]}
    assert recipe.model_names() == ("float", "fp16")
    assert recipe_from_mapping({"name": "collaborative"}) is COLLABORATIVE
    assert resolve_recipe("pqat") is PQAT
    assert resolve_recipe("mine", table) == recipe
    with pytest.raises(ConfigError, match="no such recipe .*yours: mine"):
        resolve_recipe("other", table)


STAGE_FAULTS = [
    (
        {"technique": "prun", "inputs": ["baseline"]},
        "recipe.stages.x.technique = \"prun\": unknown technique (did you mean 'prune'?",
        "recipe.stages.x.technique",
    ),
    (
        {"technique": "prune", "inputs": ["baselin"]},
        "recipe.stages.x.inputs: 'baselin' is not a stage of this recipe (did you mean 'baseline'?",
        "recipe.stages.x.inputs",
    ),
    (
        {"technique": "prune", "inputs": ["convert"]},
        "'convert' makes .tflite files, but a prune stage reads a Keras model",
        "recipe.stages.x.inputs",
    ),
    (
        {"technique": "prune", "inputs": ["baseline", "prune"]},
        "a prune stage reads exactly 1 stage(s), not 2",
        "recipe.stages.x.inputs",
    ),
    (
        {"technique": "convert", "inputs": []},
        "a convert stage reads at least 1 stage(s), not 0",
        "recipe.stages.x.inputs",
    ),
    (
        {"technique": "prune", "inputs": ["baseline"], "schedule": "linear"},
        'recipe.stages.x.schedule = "linear": must be one of "constant", "polynomial", "m_by_n"',
        "recipe.stages.x.schedule",
    ),
    (
        {"technique": "convert", "inputs": ["qat"], "sparse_encoding": 1},
        "recipe.stages.x.sparse_encoding = 1: must be one of false, true",
        "recipe.stages.x.sparse_encoding",
    ),
    (
        {"technique": "prune", "inputs": ["baseline"], "final_sparsity": 1.5},
        "recipe.stages.x.final_sparsity = 1.5: must be a number in [0, 1)",
        "final_sparsity",
    ),
    (
        {"technique": "cluster", "inputs": ["baseline"], "number_of_clusters": 1},
        "recipe.stages.x.number_of_clusters = 1: must be an integer in [2, 256]",
        "number_of_clusters",
    ),
    (
        {"technique": "prune", "inputs": ["baseline"], "clusters": 8},
        "unknown key 'recipe.stages.x.clusters'",
        "recipe.stages.x.clusters",
    ),
    (
        {"technique": "prune", "inputs": ["baseline"], "model": "pruned"},
        "recipe.stages.x.model = \"pruned\": model 'pruned' is already made by stage 'prune'",
        "recipe.stages.x.model",
    ),
    (
        {"technique": "prune", "inputs": ["baseline"], "section": "nowhere"},
        'recipe.stages.x.section = "nowhere": no such config section',
        "recipe.stages.x.section",
    ),
    (
        {"technique": "evaluate", "inputs": ["convert"], "model": "m"},
        "makes no model of its own",
        "recipe.stages.x.model",
    ),
    ({"inputs": ["baseline"]}, "recipe.stages.x.technique: missing", "recipe.stages.x.technique"),
    (
        {"technique": "prune", "inputs": "baseline"},
        'recipe.stages.x.inputs = "baseline": must be an array',
        "recipe.stages.x.inputs",
    ),
    ("prune", 'recipe.stages.x = "prune": must be a table', "recipe.stages.x"),
    (
        {"technique": "prune", "inputs": ["baseline"], "model": "../pruned"},
        "recipe.stages: model name '../pruned' must be 1-40 lower-case letters, digits or _",
        "recipe.stages.x",
    ),
]


@pytest.mark.parametrize(("stage", "message", "key"), STAGE_FAULTS, ids=[f[1][:40] for f in STAGE_FAULTS])
def test_every_stage_fault_is_one_line_naming_the_key(stage: object, message: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        recipe_from_mapping({"name": "mine", "base": "pqat", "stages": {"x": stage}}, source="my.toml")
    text = str(caught.value)
    assert text.startswith("my.toml: ") and "\n" not in text
    assert message in text
    assert caught.value.key == key


RECIPE_FAULTS = [
    (
        {
            "name": "loop",
            "stages": {
                "data": {"technique": "data"},
                "a": {"technique": "prune", "inputs": ["b"]},
                "b": {"technique": "prune", "inputs": ["a"]},
            },
        },
        "recipe.stages: cycle a -> b -> a",
    ),
    (
        {"name": "nodata", "stages": {"t": {"technique": "train", "inputs": []}}},
        "a train stage reads exactly 1 stage(s), not 0",
    ),
    (
        {
            "name": "nodata",
            "base": "pqat",
            "without": ["data"],
            "stages": {"d": {"technique": "evaluate", "inputs": ["x"]}},
        },
        "is not a stage of this recipe",
    ),
    (
        {"name": "nodata", "stages": {"only": {"technique": "convert", "inputs": ["only"]}}},
        "recipe.stages: cycle only -> only",
    ),
    ({"name": "empty", "base": "pqat", "without": ["data"]}, 'recipe: no stage has technique "data"'),
    (
        {"name": "twice", "base": "pqat", "stages": {"data2": {"technique": "data"}}},
        "recipe: two data stages (data, data2)",
    ),
    (
        {
            "name": "clash",
            "base": "pqat",
            "stages": {"prune": {"technique": "prune", "inputs": ["baseline"]}},
        },
        "recipe.stages.prune: clashes with stage 'prune' of base recipe 'pqat'",
    ),
    (
        {"name": "pqat", "stages": {"data": {"technique": "data"}}},
        'recipe.name = "pqat": clashes with the built-in',
    ),
    ({"name": "nope"}, 'recipe.name = "nope": no such recipe'),
    ({"stages": {}}, "recipe.name: missing"),
    ({"name": "x", "base": "pqat2"}, 'recipe.base = "pqat2": no such built-in recipe'),
    ({"name": "x", "base": "pqat", "without": ["qta"]}, "recipe.without: 'qta' is not a stage of 'pqat'"),
    (
        {"name": "x", "without": ["qat"], "stages": {"d": {"technique": "data"}}},
        "recipe.without: needs a base",
    ),
    ({"name": "x", "stages": ["data"]}, 'recipe.stages = ["data"]: must be a table of stages'),
    ({"name": "x", "steps": {}}, "unknown key 'recipe.steps' (did you mean 'recipe.stages'?"),
    (
        {"name": "x", "base": "pqat", "stages": {"My Stage": {"technique": "prune", "inputs": ["baseline"]}}},
        "recipe.stages: stage name 'My Stage' must be 1-40 lower-case letters",
    ),
]


@pytest.mark.parametrize(("table", "message"), RECIPE_FAULTS, ids=[f[1][:40] for f in RECIPE_FAULTS])
def test_every_recipe_fault_is_one_line(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        recipe_from_mapping(table)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_recipe_built_in_code_refuses_misordered_and_duplicate_stages() -> None:
    data = StageSpec("data", "data", title="Data")
    train = StageSpec("float", "train", ("data",), title="Float", models=("float",))
    with pytest.raises(ConfigError, match="listed before its input 'data'"):
        Recipe("r", [train, data])
    with pytest.raises(ConfigError, match="two stages are named 'data'"):
        Recipe("r", [data, data])
    with pytest.raises(ConfigError, match="a train stage makes exactly one model"):
        Recipe("r", [data, StageSpec("float", "train", ("data",))])
    assert Recipe("r", [data, train]).names() == ("data", "float")


def test_a_recipe_table_in_a_config_file_is_refused_there_with_the_file_named(tmp_path: Path) -> None:
    """Until the next wave reads `[recipe]` from pqat-tui.toml, recipe_from_mapping takes the file's name."""
    path = tmp_path / "r.toml"
    path.write_text('[recipe]\nname = "r"\nbase = "pqat"\n[recipe.stages.x]\ntechnique = "nope"\n')
    with pytest.raises(ConfigError, match=r"^.*r\.toml: recipe\.stages\.x\.technique"):
        recipe_from_mapping(tomllib.loads(path.read_text())["recipe"], source=str(path))


# --- The new config sections -------------------------------------------------------------------------------


def test_collab_config_defaults_come_from_the_tfmot_examples() -> None:
    config = CollabConfig()
    assert config.cluster == ClusterConfig(epochs=3, learning_rate=1e-5)
    assert (config.cluster.number_of_clusters, config.cluster.centroid_init) == (16, "kmeans_plus_plus")
    assert config.cqat == TrainConfig(epochs=1, batch_size=128) == config.pcqat
    assert (config.prune_2by4.epochs, config.prune_2by4.batch_size) == (2, 128)
    schedule = section_config("prune", PipelineConfig(), config)
    assert isinstance(schedule, PruneScheduleConfig)
    assert (schedule.initial_sparsity, schedule.final_sparsity, schedule.end_step) == (0.5, 0.8, 0)
    assert schedule.sparsity == 0.5 and schedule.epochs == 3  # today's [prune] values kept


def test_collab_config_reads_and_writes_toml_with_the_same_rules(tmp_path: Path) -> None:
    text = config_to_toml(CollabConfig())
    assert "[cluster]" in text and "number_of_clusters = 16" in text
    assert config_from_mapping(tomllib.loads(text), base=CollabConfig()) == CollabConfig()
    changed = config_from_mapping({"cluster": {"number_of_clusters": 8}}, base=CollabConfig())
    assert changed.cluster.number_of_clusters == 8
    with pytest.raises(
        ConfigError, match='cluster.centroid_init = "kmeans": must be one of kmeans_plus_plus'
    ):
        config_from_mapping({"cluster": {"centroid_init": "kmeans"}}, base=CollabConfig())
    path = tmp_path / "c.toml"
    path.write_text("[pcqat]\nepochs = 0\n")
    with pytest.raises(ConfigError, match="pcqat.epochs = 0: must be an integer >= 1"):
        read_config_file(path, base=CollabConfig())  # type: ignore[arg-type]


def test_the_first_pending_stage_follows_the_recipe_order() -> None:
    recipe = BUILT_IN["collaborative"]
    names = recipe.names()
    assert recipe.first_pending([]) == names[0]
    assert recipe.first_pending(names[:3]) == names[3]
    assert recipe.first_pending(names) is None
