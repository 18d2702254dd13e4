"""The `[recipe]` table and `--recipe NAME`: picked, written back, refused in one line (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from test_recipe import USER_RECIPE

from engine.config import PipelineConfig, RecipeConfig
from engine.config_file import ConfigError, config_from_mapping, config_to_toml, read_config_file
from engine.recipe import COLLABORATIVE, PQAT, recipe_of, with_recipe


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pqat_tui.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_default_recipe_is_pqat() -> None:
    assert recipe_of(PipelineConfig()) is PQAT


def test_a_built_in_recipe_is_picked_by_name_and_round_trips() -> None:
    config = config_from_mapping({"recipe": {"name": "collaborative"}})
    assert recipe_of(config) is COLLABORATIVE
    again = config_from_mapping(tomllib.loads(config_to_toml(config)))
    assert again == config
    assert PipelineConfig.from_dict(config.to_dict()) == config


def test_a_user_recipe_round_trips_through_toml_and_to_dict(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(USER_RECIPE)
    config = read_config_file(path)
    recipe = recipe_of(config)
    assert recipe.name == "prune80"
    assert "prune80" in recipe and "qat" not in recipe
    assert recipe.stage("prune80").settings == {"final_sparsity": 0.8, "epochs": 2}
    path.write_text(config_to_toml(config))
    assert read_config_file(path) == config
    assert recipe_of(PipelineConfig.from_dict(config.to_dict())) == recipe


def test_recipe_flag_overrides_the_table(tmp_path: Path) -> None:
    config = config_from_mapping(tomllib.loads(USER_RECIPE))
    assert recipe_of(with_recipe(config, "collaborative")) is COLLABORATIVE
    assert with_recipe(config, "prune80") == config
    assert with_recipe(PipelineConfig(), "pqat").recipe == RecipeConfig()


def test_an_unknown_recipe_name_is_one_line() -> None:
    with pytest.raises(
        ConfigError, match=r"^--recipe nope: no such recipe \(built in: pqat, collaborative\)$"
    ):
        with_recipe(PipelineConfig(), "nope")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('name = "x"', 'recipe.name = "x": no such recipe'),
        ("name = 3", "recipe.name = 3: must be a non-empty string"),
        ('name = "x"\nbase = "pqat"\n[recipe.stages.c]\ntechnique = "clust"\ninputs = ["baseline"]', "clust"),
        ('name = "x"\nbase = "pqat"\n[recipe.stages.c]\ntechnique = "cluster"\ninputs = ["c"]', "cycle"),
        ('name = "pqat"\ncolour = 1', "unknown key 'recipe.colour'"),
    ],
)
def test_a_bad_recipe_table_stops_the_command_with_one_line(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "bad.toml").write_text(f"[recipe]\n{table}\n")
    done = _cli("run", "--config", "bad.toml", "--data", "sample", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pqat-tui: error: bad.toml: ") and message in lines[0]
    assert not (tmp_path / "runs").exists()


def test_recipe_flag_on_the_command_line(tmp_path: Path) -> None:
    shown = _cli("config", "--recipe", "collaborative", cwd=tmp_path)
    assert shown.returncode == 0
    assert tomllib.loads(shown.stdout)["recipe"] == {"name": "collaborative"}
    refused = _cli("run", "--recipe", "colaborative", "--data", "sample", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "pqat-tui: error: --recipe colaborative: no such recipe (built in: pqat, collaborative)"
    ]
