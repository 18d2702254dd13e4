"""The config file: TOML in and out, precedence, and a one-line refusal for every invalid value."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.config import PipelineConfig
from engine.config_file import (
    CONFIG_FILE_NAME,
    ConfigError,
    config_from_mapping,
    config_to_toml,
    get_setting,
    parse_setting,
    read_config_file,
    rule_for,
    setting_keys,
    validate_config,
    with_setting,
)
from pqat_tui.cli import build_parser, config_from_args, main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _args(*argv: str) -> PipelineConfig:
    return config_from_args(build_parser().parse_args(list(argv)))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- TOML in and out -----------------------------------------------------------------------------------


def test_every_config_value_has_a_rule_and_is_in_the_file() -> None:
    config = PipelineConfig()
    keys = setting_keys(config)
    assert len(keys) == 26 + 34  # the pqat stages' and the collaborative sections' (engine.collab_config)
    parsed = tomllib.loads(config_to_toml(config))
    for key in keys:
        assert rule_for(key) is not None
        section, _, leaf = key.rpartition(".")
        assert (parsed[section][leaf] if section else parsed[leaf]) == get_setting(config, key)


def test_defaults_round_trip_through_toml(tmp_path: Path) -> None:
    config = PipelineConfig()
    path = _write(tmp_path / "c.toml", config_to_toml(config, header="effective config\n\nsecond line"))
    assert read_config_file(path) == config


def test_changed_values_and_odd_strings_round_trip(tmp_path: Path) -> None:
    config = PipelineConfig()
    for key, value in {
        "data": 'C:\\data\\"quoted" digits ünï\tcode.npz',
        "seed": 4294967295,
        "prune.sparsity": 0.0,
        "prune.learning_rate": 3.5e-07,
        "qat.validation_split": 0.0,
        "ptq.representative_images": 1,
    }.items():
        config = with_setting(config, key, value)
    assert read_config_file(_write(tmp_path / "c.toml", config_to_toml(config))) == config


def test_a_partial_file_keeps_the_defaults_of_what_it_leaves_out(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.toml", "[prune]\nsparsity = 0.8\n")
    config = read_config_file(path)
    assert config.prune.sparsity == 0.8
    assert config == with_setting(PipelineConfig(), "prune.sparsity", 0.8)


def test_an_integer_is_accepted_where_a_float_is_expected(tmp_path: Path) -> None:
    config = read_config_file(_write(tmp_path / "c.toml", "[prune]\nsparsity = 0\n"))
    assert config.prune.sparsity == 0.0
    assert isinstance(config.prune.sparsity, float)


# --- precedence ----------------------------------------------------------------------------------------


def test_precedence_defaults_then_folder_file_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _args() == PipelineConfig()
    _write(
        tmp_path / CONFIG_FILE_NAME,
        'data = "sample"\nseed = 7\n[baseline]\nepochs = 2\n[prune]\nsparsity = 0.6\nfrequency = 50\n',
    )
    from_file = _args()
    assert (from_file.data, from_file.seed, from_file.baseline.epochs) == ("sample", 7, 2)
    assert (from_file.prune.sparsity, from_file.prune.frequency) == (0.6, 50)
    assert from_file.qat == PipelineConfig().qat  # untouched keys keep their defaults

    flagged = _args("run", "--sparsity", "0.7", "--epochs", "3", "--set", "prune.frequency=25")
    assert (flagged.prune.sparsity, flagged.baseline.epochs, flagged.prune.frequency) == (0.7, 3, 25)
    assert (flagged.data, flagged.seed) == ("sample", 7)  # the file's, where no flag says otherwise


def test_named_flag_beats_set_and_set_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / CONFIG_FILE_NAME, "[prune]\nsparsity = 0.6\n")
    assert _args("--set", "prune.sparsity=0.65").prune.sparsity == 0.65
    assert _args("--set", "prune.sparsity=0.65", "--sparsity", "0.7").prune.sparsity == 0.7


def test_config_option_replaces_the_folder_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / CONFIG_FILE_NAME, "seed = 1\n[prune]\nsparsity = 0.6\n")
    other = _write(tmp_path / "other.toml", "seed = 2\n")
    config = _args("run", "--config", str(other))
    assert config.seed == 2
    assert config.prune.sparsity == PipelineConfig().prune.sparsity  # the folder file is not layered in


def test_options_before_the_subcommand_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    other = _write(tmp_path / "other.toml", "seed = 2\n")
    config = _args("--config", str(other), "--sparsity", "0.7", "run")
    assert (config.seed, config.prune.sparsity) == (2, 0.7)


def test_config_command_prints_the_effective_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / CONFIG_FILE_NAME, "[qat]\nepochs = 4\n")
    assert main(["config", "--sparsity", "0.75"]) == 0
    printed = capsys.readouterr().out
    assert CONFIG_FILE_NAME in printed.splitlines()[0]
    reread = read_config_file(_write(tmp_path / "printed.toml", printed))
    assert reread == _args("--sparsity", "0.75")
    assert (reread.qat.epochs, reread.prune.sparsity) == (4, 0.75)


# --- invalid values ------------------------------------------------------------------------------------

INVALID_FILES = [
    # (file text, words the message must contain)
    ("[prune]\nsparsity = 1.0\n", ["prune.sparsity = 1.0", "[0, 1)"]),
    ("[prune]\nsparsity = -0.1\n", ["prune.sparsity = -0.1", "[0, 1)"]),
    ("[prune]\nsparsity = nan\n", ["prune.sparsity = nan", "[0, 1)"]),
    ("[baseline]\nepochs = 0\n", ["baseline.epochs = 0", "integer >= 1"]),
    ("[prune]\nepochs = -3\n", ["prune.epochs = -3", "integer >= 1"]),
    ("[qat]\nepochs = 0\n", ["qat.epochs = 0", "integer >= 1"]),
    ("[pqat]\nepochs = 0\n", ["pqat.epochs = 0", "integer >= 1"]),
    ("[baseline]\nbatch_size = 0\n", ["baseline.batch_size = 0", "integer >= 1"]),
    ("[qat]\nlearning_rate = 0\n", ["qat.learning_rate = 0", "> 0"]),
    ("[pqat]\nlearning_rate = -1e-3\n", ["pqat.learning_rate = -0.001", "> 0"]),
    ("[baseline]\nlearning_rate = inf\n", ["baseline.learning_rate = inf", "> 0"]),
    ("[baseline]\nvalidation_split = 1.0\n", ["baseline.validation_split = 1.0", "[0, 1)"]),
    ("[prune]\nvalidation_split = -0.5\n", ["prune.validation_split = -0.5", "[0, 1)"]),
    ("[prune]\nbegin_step = -1\n", ["prune.begin_step = -1", "integer >= 0"]),
    ("[prune]\nfrequency = 0\n", ["prune.frequency = 0", "integer >= 1"]),
    ("[ptq]\nrepresentative_images = 0\n", ["ptq.representative_images = 0", "integer >= 1"]),
    ("seed = -1\n", ["seed = -1", "[0, 4294967295]"]),
    ('data = ""\n', ['data = ""', "non-empty string"]),
    ('image_size = "32"\n', ['image_size = "32"', 'HEIGHTxWIDTH, e.g. "32x32"']),
    ('image_size = "0x32"\n', ['image_size = "0x32"', "each 1 to 4096"]),
    ("image_size = 32\n", ["image_size = 32", "not an integer"]),
    ('color_mode = "sepia"\n', ['color_mode = "sepia"', "one of auto, grayscale, rgb"]),
    ("test_split = 0.0\n", ["test_split = 0.0", "(0, 1)"]),
    ("test_split = 1\n", ["test_split = 1", "(0, 1)"]),
    ('strategy = "tpu"\n', ['strategy = "tpu"', "one of default, mirrored, multiworker"]),
    # wrong types, bool-for-int and float-for-int included
    ("[baseline]\nepochs = true\n", ["baseline.epochs = true", "integer >= 1", "not a boolean"]),
    ("[baseline]\nepochs = 2.5\n", ["baseline.epochs = 2.5", "integer >= 1", "not a float"]),
    ('[baseline]\nepochs = "10"\n', ['baseline.epochs = "10"', "integer >= 1", "not a string"]),
    ("[prune]\nsparsity = false\n", ["prune.sparsity = false", "[0, 1)", "not a boolean"]),
    ('[prune]\nsparsity = "0.5"\n', ['prune.sparsity = "0.5"', "not a string"]),
    ("seed = true\n", ["seed = true", "not a boolean"]),
    ("data = 3\n", ["data = 3", "non-empty string", "not an integer"]),
    ("prune = 3\n", ["prune = 3", "must be a table"]),
    ("[prune]\nsparsity = [0.5]\n", ["prune.sparsity = [0.5]", "not an array"]),
    # unknown keys, at the top and inside a section, with a hint
    ("sparsity = 0.5\n", ["unknown key 'sparsity'", "allowed: data, seed, image_size"]),
    ("[prune]\nsparsty = 0.5\n", ["unknown key 'prune.sparsty'", "did you mean 'prune.sparsity'"]),
    ("[quantize]\nepochs = 1\n", ["unknown key 'quantize'"]),
    ("[ptq]\nepochs = 1\n", ["unknown key 'ptq.epochs'", "allowed: ptq.representative_images"]),
    # not TOML at all
    ("[prune\nsparsity = 0.5\n", ["not valid TOML", "line 1"]),
]


@pytest.mark.parametrize(("text", "expected"), INVALID_FILES, ids=[t for t, _ in INVALID_FILES])
def test_each_invalid_file_value_is_refused_in_one_line(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        read_config_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for words in expected:
        assert words in message, message


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--sparsity", "1"], "--sparsity 1.0: must be a number in [0, 1)"),
        (["--sparsity", "-0.2"], "--sparsity -0.2: must be a number in [0, 1)"),
        (["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
        (["--prune-epochs", "0"], "--prune-epochs 0: must be an integer >= 1"),
        (["--seed", "-4"], "--seed -4: must be an integer in [0, 4294967295]"),
        (["--set", "qat.batch_size=0"], "--set qat.batch_size=0: must be an integer >= 1"),
        (["--set", "qat.learning_rate=0"], "--set qat.learning_rate=0: must be a number > 0"),
        (["--set", "pqat.validation_split=1"], "--set pqat.validation_split=1: must be a number in [0, 1)"),
        (["--set", "prune.epochs=two"], "--set prune.epochs=two: must be an integer >= 1"),
        (["--set", "prune.epochs=2.0"], "--set prune.epochs=2.0: must be an integer >= 1"),
        (["--set", "prune.sparsty=0.5"], "--set: unknown key 'prune.sparsty' (did you mean 'prune.spars"),
        (["--set", "prune"], "--set 'prune': must be KEY=VALUE"),
    ],
)
@pytest.mark.parametrize("command", [[], ["run"], ["config"]])
def test_invalid_flags_exit_2_with_one_line_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "pqat_tui.headless", None)  # importing it (doing work) would fail
    monkeypatch.setitem(sys.modules, "pqat_tui.app_command", None)
    with pytest.raises(SystemExit) as exit_info:
        main([*command, *argv])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("pqat-tui: error: ")
    assert expected in captured.err


def test_an_invalid_folder_file_stops_the_run_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "pqat_tui.headless", None)
    _write(tmp_path / CONFIG_FILE_NAME, "[prune]\nsparsity = 1.5\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["run"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"pqat-tui: error: {tmp_path / CONFIG_FILE_NAME}: prune.sparsity = 1.5: must be a number in [0, 1)\n"
    )


def test_a_missing_config_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["config", "--config", str(tmp_path / "nope.toml")])
    assert exit_info.value.code == 2
    assert "nope.toml: no such config file" in capsys.readouterr().err


def test_a_folder_or_binary_file_as_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        read_config_file(tmp_path)
    binary = tmp_path / "model.keras"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not a TOML file"):
        read_config_file(binary)


# --- the helpers the settings screen shares --------------------------------------------------------------


def test_parse_setting_types_text_by_the_key() -> None:
    assert parse_setting("prune.sparsity", " 0.8 ") == 0.8
    assert parse_setting("baseline.epochs", "3") == 3
    assert parse_setting("data", " sample ") == "sample"
    with pytest.raises(ConfigError) as caught:
        parse_setting("baseline.epochs", "3.5")
    assert str(caught.value) == "baseline.epochs = '3.5': must be an integer >= 1"
    assert caught.value.key == "baseline.epochs"


def test_validate_config_catches_a_bad_value_built_in_code() -> None:
    from dataclasses import replace

    config = PipelineConfig()
    assert validate_config(config) is config
    bad = replace(config, prune=replace(config.prune, sparsity=1.0))
    with pytest.raises(ConfigError, match=r"prune.sparsity = 1.0: must be a number in \[0, 1\)"):
        validate_config(bad)


def test_config_from_mapping_builds_over_a_base() -> None:
    base = with_setting(PipelineConfig(), "seed", 5)
    config = config_from_mapping({"prune": {"frequency": 10}}, base=base)
    assert (config.seed, config.prune.frequency) == (5, 10)


def test_the_readme_example_is_complete_and_current(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("## Configuration", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    assert example == config_to_toml(PipelineConfig())
    assert read_config_file(_write(tmp_path / "readme.toml", example)) == PipelineConfig()
