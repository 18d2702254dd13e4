"""The config as a TOML file: strict reading, validation of every value, and writing it back.

Precedence is defaults < the config file (`--config FILE`, else `pqat-tui.toml` in the current folder) <
command-line flags. Every value, wherever it comes from, goes through the same `check_setting`, so a file, a
flag and the app's settings screen refuse the same things with the same one-line message: the key, the value
and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from engine.config import PipelineConfig, RecipeConfig, parse_image_size
from engine.strict_json import FileContentError, read_bounded

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE_NAME = "pqat-tui.toml"
# tfmot.clustering.keras.CentroidInitialization, by the lower-case name a config file spells.
CENTROID_INITS = ("kmeans_plus_plus", "linear", "random", "density_based")


class ConfigError(ValueError):
    """A value the pipeline cannot run with; `str(error)` is one line a person can act on."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Rule:
    """What one leaf of the config accepts."""

    kind: type  # int, float or str; bool is never accepted for int or float
    allowed: str  # the end of "must be ...", e.g. "an integer >= 1"
    accepts: Callable[[Any], bool]
    help: str


def _finite(value: float) -> bool:
    return math.isfinite(value)


# Rules by leaf name: a stage section's `epochs` follows the same rule whichever stage it is in.
def _image_size(value: str) -> bool:
    try:
        parse_image_size(value)
    except ValueError:
        return False
    return True


RULES: dict[str, Rule] = {
    "data": Rule(
        str,
        "a non-empty string: mnist, fashion_mnist, sample, a .npz file, a folder of MNIST IDX files or a "
        "folder of images with one sub-folder per class",
        lambda v: bool(v.strip()),
        "data source",
    ),
    "seed": Rule(int, "an integer in [0, 4294967295]", lambda v: 0 <= v < 2**32, "random seed"),
    "image_size": Rule(
        str,
        'HEIGHTxWIDTH, e.g. "32x32" (each 1 to 4096), or "" to keep the images\' own size',
        _image_size,
        'resize every image to HEIGHTxWIDTH ("" keeps their size)',
    ),
    "color_mode": Rule(
        str,
        "one of auto, grayscale, rgb",
        lambda v: v in ("auto", "grayscale", "rgb"),
        "auto keeps the channels; grayscale or rgb converts",
    ),
    "test_split": Rule(
        float,
        "a number in (0, 1)",
        lambda v: _finite(v) and 0 < v < 1,
        "share of each class held out for testing (an image folder without test/)",
    ),
    "strategy": Rule(
        str,
        "one of default, mirrored, multiworker",
        lambda v: v in ("default", "mirrored", "multiworker"),
        "tf.distribute strategy of the training stages",
    ),
    "epochs": Rule(int, "an integer >= 1", lambda v: v >= 1, "training epochs"),
    "batch_size": Rule(int, "an integer >= 1", lambda v: v >= 1, "images per training batch"),
    "learning_rate": Rule(float, "a number > 0", lambda v: _finite(v) and v > 0, "Adam learning rate"),
    "validation_split": Rule(
        float,
        "a number in [0, 1)",
        lambda v: _finite(v) and 0 <= v < 1,
        "share of the training images held out for validation",
    ),
    "sparsity": Rule(
        float,
        "a number in [0, 1)",
        lambda v: _finite(v) and 0 <= v < 1,
        "target share of zero weights (constant sparsity)",
    ),
    "begin_step": Rule(int, "an integer >= 0", lambda v: v >= 0, "training step at which pruning starts"),
    "frequency": Rule(int, "an integer >= 1", lambda v: v >= 1, "training steps between pruning updates"),
    "representative_images": Rule(
        int, "an integer >= 1", lambda v: v >= 1, "images that calibrate post-training quantization"
    ),
    # The collaborative techniques' (engine.collab_config).
    "end_step": Rule(
        int,
        "an integer >= 0",
        lambda v: v >= 0,
        "step the final sparsity is reached (0: last fine-tune step)",
    ),
    "number_of_clusters": Rule(
        int, "an integer in [2, 256]", lambda v: 2 <= v <= 256, "unique values each kernel keeps"
    ),
    "centroid_init": Rule(
        str,
        "one of " + ", ".join(CENTROID_INITS),
        lambda v: v in CENTROID_INITS,
        "how cluster centroids start",
    ),
}
# The same range as the constant schedule's `sparsity`.
RULES["initial_sparsity"] = replace(
    RULES["sparsity"], help="share of zero weights at begin_step (polynomial)"
)
RULES["final_sparsity"] = replace(
    RULES["sparsity"], help="share of zero weights from end_step on (polynomial)"
)

# One line of explanation per section, written above it in the TOML file.
SECTION_HELP: dict[str, str] = {
    "baseline": "Training the example model from scratch (or fine-tuning your own).",
    "prune": "Magnitude pruning of the baseline to a constant target sparsity.",
    "qat": "Quantization-aware training of the stripped pruned model.",
    "pqat": "Pruning-preserving quantization-aware training of the stripped pruned model.",
    "ptq": "Post-training full-integer quantization of the stripped pruned model.",
    "cluster": "Weight clustering of the baseline, fine-tuned and stripped.",
    "sparse_cluster": "Sparsity-preserving clustering of the stripped pruned model.",
    "cqat": "Cluster-preserving quantization-aware training of the clustered model.",
    "pcqat": "Prune- and cluster-preserving QAT of the sparse clustered model.",
    "prune_2by4": "Structured 2:4 pruning of the baseline (2 zeros in every 4 inputs).",
    "pqat_2by4": "Pruning-preserving QAT of the 2:4 pruned model.",
}
# The `[recipe]` table: not a section of settings (engine.recipe reads and checks it).
RECIPE_TABLE = "recipe"
RECIPE_HELP = (
    'Which stages run: "pqat" (the default), "collaborative" (every branch of tfmot\'s tree),\n'
    "or your own: name, base, without and [recipe.stages.NAME] tables (see README)."
)


def _sections(config: PipelineConfig) -> dict[str, Any]:
    """The config's sub-dataclasses by name (baseline, prune, ...); not the `[recipe]` table."""
    return {
        f.name: getattr(config, f.name)
        for f in fields(config)
        if is_dataclass(getattr(config, f.name)) and f.name != RECIPE_TABLE
    }


def setting_keys(config: PipelineConfig | None = None) -> list[str]:
    """Every dotted key of the config, in file order: top-level values first, then each section's."""
    config = config or PipelineConfig()
    sections = _sections(config)
    keys = [f.name for f in fields(config) if f.name not in sections and f.name != RECIPE_TABLE]
    for name, section in sections.items():
        keys.extend(f"{name}.{f.name}" for f in fields(section))
    return keys


def rule_for(key: str) -> Rule:
    return RULES[key.rsplit(".", 1)[-1]]


def get_setting(config: PipelineConfig, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def with_setting(config: PipelineConfig, key: str, value: Any) -> PipelineConfig:
    """A copy of `config` with one dotted key changed; the value is checked first."""
    if key not in setting_keys(config):
        raise unknown_key_error(key, setting_keys(config), source=None)
    checked = check_setting(key, value)
    if "." not in key:
        return replace(config, **{key: checked})
    section_name, leaf = key.split(".", 1)
    section = getattr(config, section_name)
    return replace(config, **{section_name: replace(section, **{leaf: checked})})


def toml_value(value: Any) -> str:
    """A value as TOML writes it (also how error messages show a value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # always has a '.' or an exponent, as TOML floats must
    if isinstance(value, str):
        # JSON's escapes (\" \\ \n \uXXXX) are all valid in a TOML basic string. A name that was not UTF-8
        # (lone surrogates) is refused by check_setting; its message shows it escaped.
        return json.dumps(value, ensure_ascii=not _is_text(value))
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def _toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (a newline in a key stays on one line)."""
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else json.dumps(key)


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", str: "a string", int: "an integer", float: "a float"}
    for kind, name in kinds.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def check_setting(key: str, value: Any, *, label: str | None = None, shown: str | None = None) -> Any:
    """`value` as the config holds it (ints for int keys, floats for float keys), or ConfigError.

    The message names the setting as `label VALUE` when a label (a flag such as `--epochs`) is given, as
    `shown` verbatim when that is given, and as `key = VALUE` otherwise.
    """
    rule = rule_for(key)
    if _is_huge(value):
        # Not even shown: Python refuses to write an integer of thousands of digits in decimal.
        named = shown or label or key
        raise ConfigError(
            f"{named}: must be {rule.allowed}, not an integer of {value.bit_length()} bits", key
        )
    if shown is None:
        shown = f"{label} {toml_value(value)}" if label else f"{key} = {toml_value(value)}"
    wrong_type = isinstance(value, bool) or not isinstance(
        value, (int, float) if rule.kind is float else rule.kind
    )
    if wrong_type:
        raise ConfigError(f"{shown}: must be {rule.allowed}, not {_describe(value)}", key)
    if isinstance(value, str) and not _is_text(value):
        raise ConfigError(f"{shown}: must be valid Unicode text (rename the file: it is stored as TOML)", key)
    typed = float(value) if rule.kind is float else value
    if not rule.accepts(typed):
        raise ConfigError(f"{shown}: must be {rule.allowed}", key)
    return typed


def _is_huge(value: Any) -> bool:
    """An integer beyond 64 bits: no setting takes one, and TensorFlow would overflow on it."""
    return isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 63


def _is_text(value: str) -> bool:
    """Whether `value` can be written as UTF-8 (a file name that was not UTF-8 holds lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_setting(key: str, text: str, *, shown: str | None = None) -> Any:
    """A value typed by a person (`--set`, the settings screen), parsed by the key's rule and checked.

    `shown` names the setting and the text in a message (default: `key = 'text'`).
    """
    rule = rule_for(key)
    shown = shown or f"{key} = {text!r}"
    stripped = text.strip()
    if rule.kind is str:
        return check_setting(key, stripped, shown=shown)
    try:
        value: Any = int(stripped) if rule.kind is int else float(stripped)
    except ValueError:
        raise ConfigError(f"{shown}: must be {rule.allowed}", key) from None
    return check_setting(key, value, shown=shown)


def unknown_key_error(key: str, allowed: list[str], source: str | None) -> ConfigError:
    """The one-line refusal of a key the config does not have, with the closest allowed key as a hint."""
    prefix = f"{source}: " if source else ""
    leaf_allowed = [k.rsplit(".", 1)[-1] for k in allowed]
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], leaf_allowed, n=1)
    hint = ""
    if close:
        hint = f"did you mean {allowed[leaf_allowed.index(close[0])]!r}? "
    return ConfigError(f"{prefix}unknown key {key!r} ({hint}allowed: {', '.join(allowed)})", key)


def config_from_mapping(
    values: Mapping[str, Any], *, source: str | None = None, base: PipelineConfig | None = None
) -> PipelineConfig:
    """A config from nested values (a parsed TOML file); keys left out keep `base`'s (the defaults').

    Strict: an unknown key, a section that is not a table or a value of the wrong type or range raises
    ConfigError whose message starts with `source` (the file's name) when one is given.
    """
    config = base or PipelineConfig()
    prefix = f"{source}: " if source else ""
    sections = _sections(config)
    top_level = [f.name for f in fields(config)]
    for name, value in values.items():
        if name not in top_level:
            raise unknown_key_error(name, top_level, source)
        if name == RECIPE_TABLE:
            config = replace(config, recipe=recipe_config(value, source=source))
        elif name in sections:
            if not isinstance(value, Mapping):
                shown = f"{prefix}{name} = {toml_value(value)}"
                raise ConfigError(f"{shown}: must be a table ([{name}]), not {_describe(value)}", name)
            leaves = [f.name for f in fields(sections[name])]
            for leaf, leaf_value in value.items():
                if leaf not in leaves:
                    raise unknown_key_error(f"{name}.{leaf}", [f"{name}.{k}" for k in leaves], source)
                config = _with_checked(config, f"{name}.{leaf}", leaf_value, prefix)
        else:
            config = _with_checked(config, name, value, prefix)
    return config


def recipe_config(table: Any, *, source: str | None = None) -> RecipeConfig:
    """A `[recipe]` table checked by engine.recipe (ConfigError, one line naming the key)."""
    from engine.recipe import recipe_from_mapping

    recipe_from_mapping(table, source=source)
    return RecipeConfig(
        name=str(table["name"]).strip(), definition={k: v for k, v in table.items() if k != "name"}
    )


def _with_checked(config: PipelineConfig, key: str, value: Any, prefix: str) -> PipelineConfig:
    try:
        return with_setting(config, key, value)
    except ConfigError as error:
        raise ConfigError(f"{prefix}{error}", key) from None


# A config file is a few dozen lines; anything this big is not one.
MAX_CONFIG_BYTES = 2**20


def read_config_file(path: Path, *, base: PipelineConfig | None = None) -> PipelineConfig:
    """The config a TOML file describes, over `base` (the defaults); ConfigError for anything wrong.

    Only a regular file of at most MAX_CONFIG_BYTES is read (never a FIFO or a device such as /dev/zero).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file")
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileContentError as error:
        raise ConfigError(str(error)) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text)") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a config file (nested too deeply)") from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise ConfigError(f"{path}: not valid TOML: {' '.join(str(error).split())}") from None
    return config_from_mapping(values, source=str(path), base=base)


def find_config_file(explicit: Path | str | None, cwd: Path | None = None) -> Path | None:
    """The file to read: `--config FILE` when given, else `pqat-tui.toml` in `cwd` if there is one."""
    if explicit is not None:
        return Path(explicit)
    candidate = (cwd or Path.cwd()) / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


def validate_config(config: PipelineConfig) -> PipelineConfig:
    """Check every value of an already-built config (e.g. one made in code); returns it unchanged."""
    for key in setting_keys(config):
        check_setting(key, get_setting(config, key))
    return config


def changed_settings(before: PipelineConfig, after: PipelineConfig) -> list[tuple[str, Any, Any]]:
    """(key, old value, new value) for every setting that differs, in file order."""
    return [
        (key, get_setting(before, key), get_setting(after, key))
        for key in setting_keys(before)
        if get_setting(before, key) != get_setting(after, key)
    ]


def config_to_toml(config: PipelineConfig, *, header: str | None = None) -> str:
    """The whole config as a TOML file that `read_config_file` reads back to the same config."""
    lines: list[str] = []
    if header:
        lines.extend(f"# {line}" if line else "#" for line in header.splitlines())
        lines.append("")
    sections = _sections(config)
    for key in setting_keys(config):
        if "." in key:
            continue
        lines.append(f"{key} = {toml_value(get_setting(config, key))}  # {rule_for(key).help}")
    for name, section in sections.items():
        lines.append("")
        if name in SECTION_HELP:
            lines.append(f"# {SECTION_HELP[name]}")
        lines.append(f"[{name}]")
        for f in fields(section):
            value = toml_value(getattr(section, f.name))
            lines.append(f"{f.name} = {value}  # {RULES[f.name].help}")
    recipe = getattr(config, RECIPE_TABLE, None)
    if not isinstance(recipe, RecipeConfig):
        return "\n".join(lines) + "\n"
    lines.append("")
    lines.extend(f"# {line}" for line in RECIPE_HELP.splitlines())
    lines.append(f"[{RECIPE_TABLE}]")
    stages = recipe.definition.get("stages", {})
    for key, value in recipe.table().items():
        if key != "stages":
            lines.append(f"{key} = {toml_value(value)}")
    for stage, table in stages.items():
        lines.extend(["", f"[{RECIPE_TABLE}.stages.{_toml_key(stage)}]"])
        lines.extend(f"{_toml_key(key)} = {toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"
