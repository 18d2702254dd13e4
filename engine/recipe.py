"""The plan as data: which stages a run has, which technique each applies, what each reads and makes.

Pure Python (no TensorFlow): the app, the run folder and the reports may import it freely.

A `Recipe` is an ordered tuple of `StageSpec`s, each naming a technique from `TECHNIQUES` (data, train,
prune, cluster, qat, ptq, convert, evaluate), the technique's variant (`params`: a pruning schedule, a QAT
scheme, a PTQ mode, sparse encoding on or off), the stages it reads, the model name it makes under
`results.models`, and its config section. Two are built in: `pqat` (today's eight stages, edges and model
names, exactly) and `collaborative` (every branch of tfmot's collaborative-optimization tree, a superset of
`pqat`: its first eight stages are `pqat`'s, unchanged). A user defines more in TOML (`recipe_from_mapping`).

How the next wave plumbs it in (nothing here is wired yet):
- Stage names replace the enum. `Stage` values are `pqat`'s stage names, in the same order, so events,
  events.jsonl, manifests and results.json keep their meaning. Make event/session/run-folder stage fields
  `str`; engine/stages.py becomes a shim over `PQAT` (`STAGE_INPUTS = {s: PQAT.inputs_of(s)}`,
  `MODEL_OF_STAGE = PQAT.models_by_stage()`, `downstream_of`/`missing_inputs` delegate) until every caller
  takes the session's recipe; then the shim goes. Titles come from `spec.title`.
- The session holds outputs by stage name and dispatches on `spec.technique` + `spec.params` (see
  engine/recipe_runner.py: `run_stage` is the body `PipelineSession._compute` becomes); a finished stage
  drops `recipe.downstream_of(stage)`; `_epochs_of` reads `stage_config(...)`.
- Fingerprints per stage: hash `recipe.identity(stage)` (technique, params, inline settings, section) with
  the stage's resolved config and the fingerprints of `inputs_of(stage)` in order. Changing one branch then
  invalidates that branch only. A `pqat` run folder resumes under `collaborative` without training again:
  its training stages have the same names and identities (only convert and ptq differ, by
  `sparse_encoding`, and take seconds).
- The app's stage list: `recipe.tree()` rows (depth, name, the other inputs it reads). The built-ins list
  their stages in tree order, so stepping with n walks the list top to bottom (a test keeps it so).
- results.json schema 2: top-level `recipe` = `recipe.to_json()` ({stage: [inputs]}); a reader checks it
  with `graph_from_json`. `recipe.deployed_models()`: the models whose .tflite files the comparison shows.
- config: the `[recipe]` table of the TOML file picks the recipe (`name = "collaborative"`) or defines one
  (`name` plus `stages`), a `--recipe NAME` flag overrides its name, and `resolve_recipe(name, table)`
  gives the Recipe. (A top-level `recipe = "..."` key would clash with the table in TOML.) The sections
  of engine.collab_config merge into PipelineConfig.

A user recipe in TOML (every error is one line naming the key, as engine.config_file's are):

    [recipe]
    name = "prune80"
    base = "pqat"                 # optional: start from a built-in's stages
    without = ["qat"]             # optional: leave out base stages and everything that reads them

    [recipe.stages.prune80]
    technique = "prune"
    inputs = ["baseline"]
    model = "pruned80"            # default: the stage's name
    schedule = "polynomial"       # the technique's variant (see TECHNIQUES)
    final_sparsity = 0.8          # inline settings over its config section (default: the technique's)

    [recipe.stages.convert80]
    technique = "convert"
    inputs = ["prune80"]
    sparse_encoding = true
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from engine.collab_config import TECHNIQUE_CONFIG, CollabConfig
from engine.config import PipelineConfig, RecipeConfig
from engine.config_file import ConfigError, check_setting, toml_value, unknown_key_error

# What a stage hands to the stages that read it.
DATASET = "dataset"
MODEL = "model"  # a Keras model (and its entry under results.models)
TFLITE = "tflite"  # .tflite files of its input models, not yet evaluated
DEPLOYED = "deployed"  # evaluated .tflite files
# Stage and model names become file names (models/<name>.keras) and JSON keys: keep them plain.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KIND_WORDS = {
    DATASET: "the dataset",
    MODEL: "a Keras model",
    TFLITE: ".tflite files",
    DEPLOYED: "evaluated .tflite files",
}


def plain_name(stage: Any) -> str:
    """A stage's name as a plain str: engine.stages.Stage members (a str Enum) give their value."""
    value = getattr(stage, "value", stage)
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Technique:
    """One entry of the registry: what a stage of this technique reads and makes, and its variants."""

    name: str
    reads: str | None  # the kind its inputs make; None: reads nothing
    makes: str
    min_inputs: int
    max_inputs: int | None  # None: any number
    variants: Mapping[str, tuple[Any, ...]]  # param -> allowed values, the first the default
    section: str | None  # the config section a stage reads unless it names another
    summary: str

    @property
    def settings(self) -> tuple[str, ...]:
        """The keys a stage may override inline: its config dataclass's fields."""
        config = TECHNIQUE_CONFIG.get(self.name)
        return tuple(f.name for f in fields(config)) if config else ()

    @property
    def makes_model(self) -> bool:
        """Whether a stage of it writes an entry of its own under results.models."""
        return self.makes == MODEL or self.name == "ptq"


def _technique(
    name: str,
    reads: str | None,
    makes: str,
    inputs: tuple[int, int | None],
    section: str | None,
    summary: str,
    **variants: tuple[Any, ...],
) -> Technique:
    return Technique(name, reads, makes, inputs[0], inputs[1], MappingProxyType(variants), section, summary)


TECHNIQUES: Mapping[str, Technique] = MappingProxyType(
    {
        t.name: t
        for t in (
            _technique("data", None, DATASET, (0, 0), None, "load and check the images"),
            _technique("train", DATASET, MODEL, (1, 1), "baseline", "train the float model"),
            _technique(
                "prune",
                MODEL,
                MODEL,
                (1, 1),
                "prune",
                "magnitude pruning, fine-tuned and stripped",
                schedule=("constant", "polynomial", "m_by_n"),
            ),
            _technique(
                "cluster",
                MODEL,
                MODEL,
                (1, 1),
                "cluster",
                "weight clustering, fine-tuned and stripped",
                preserve_sparsity=(False, True),
            ),
            _technique(
                "qat",
                MODEL,
                MODEL,
                (1, 1),
                "qat",
                "quantization-aware training",
                scheme=("default", "prune_preserve", "cluster_preserve", "prune_cluster_preserve"),
            ),
            _technique(
                "ptq",
                MODEL,
                DEPLOYED,
                (1, 1),
                "ptq",
                "post-training quantization to a .tflite file, evaluated",
                mode=("full_integer", "dynamic", "float16"),
                sparse_encoding=(False, True),
            ),
            _technique(
                "convert",
                MODEL,
                TFLITE,
                (1, None),
                None,
                "TFLite conversion of the models it reads",
                sparse_encoding=(False, True),
            ),
            _technique(
                "evaluate", TFLITE, DEPLOYED, (1, None), None, "test accuracy of the .tflite files it reads"
            ),
        )
    }
)
# The techniques whose stages train a Keras model for epochs (the others load, convert or measure).
TRAINING_TECHNIQUES: tuple[str, ...] = tuple(name for name, t in TECHNIQUES.items() if t.makes == MODEL)


@dataclass(frozen=True)
class StageSpec:
    """One stage of a recipe. `params` holds the technique's variant; `settings` inline config overrides."""

    name: str
    technique: str
    inputs: tuple[str, ...] = ()
    title: str = ""
    purpose: str = ""
    models: tuple[str, ...] = ()  # the name(s) it writes under results.models
    section: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        """A variant parameter, or the technique's default for it."""
        if name in self.params:
            return self.params[name]
        return TECHNIQUES[self.technique].variants[name][0]


def _spec(
    name: str,
    technique: str,
    inputs: tuple[str, ...],
    title: str,
    purpose: str,
    model: str | None = None,
    section: str | None = "",
    **params: Any,
) -> StageSpec:
    """A built-in stage: its section is its technique's unless given (None: no section)."""
    return StageSpec(
        name=name,
        technique=technique,
        inputs=inputs,
        title=title,
        purpose=purpose,
        models=(model,) if model else (),
        section=TECHNIQUES[technique].section if section == "" else section,
        params=MappingProxyType(params),
    )


@dataclass(frozen=True)
class TreeRow:
    """A row of the app's stage tree: a stage under the input it was placed beneath."""

    name: str
    depth: int
    parent: str | None
    also_reads: tuple[str, ...]  # its other inputs, shown beside it


class Recipe:
    """An ordered, validated stage graph. Every query answers in the recipe's (topological) order."""

    def __init__(self, name: str, stages: Iterable[StageSpec], *, source: str = "recipe") -> None:
        self.name = name
        self.stages: tuple[StageSpec, ...] = tuple(stages)
        self._by_name = _validate(self.stages, source)

    def __repr__(self) -> str:
        return f"Recipe({self.name!r}, {list(self.names())})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and (self.name, self.stages) == (other.name, other.stages)

    def __hash__(self) -> int:
        return hash((self.name, tuple(s.name for s in self.stages)))

    def __contains__(self, stage: object) -> bool:
        return stage in self._by_name

    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str) -> StageSpec:
        try:
            return self._by_name[plain_name(name)]
        except KeyError:
            raise KeyError(f"{name!r} is not a stage of recipe {self.name!r}") from None

    def title(self, name: str) -> str:
        return self.stage(name).title

    def technique_of(self, name: str) -> Technique:
        return TECHNIQUES[self.stage(name).technique]

    def inputs_of(self, name: str) -> tuple[str, ...]:
        return self.stage(name).inputs

    def readers_of(self, name: str) -> list[str]:
        """The stages that read `name`'s output directly."""
        return [s.name for s in self.stages if name in s.inputs]

    def downstream_of(self, name: str) -> list[str]:
        """Every stage that reads `name`'s output, directly or not, in recipe order."""
        found = {plain_name(name)}
        for spec in self.stages:  # topological order: one pass sees every path
            if any(i in found for i in spec.inputs):
                found.add(spec.name)
        return [s for s in self.names() if s in found and s != plain_name(name)]

    def upstream_of(self, name: str) -> list[str]:
        """Every stage whose output `name` reads, directly or not, in recipe order."""
        found: set[str] = set()
        frontier = list(self.inputs_of(name))
        while frontier:
            current = frontier.pop()
            if current not in found:
                found.add(current)
                frontier.extend(self.inputs_of(current))
        return [s for s in self.names() if s in found]

    def first_pending(self, done: Iterable[str]) -> str | None:
        """The first stage, in recipe order, not in `done`: its inputs come earlier, so it can run next."""
        finished = {plain_name(s) for s in done}
        return next((name for name in self.names() if name not in finished), None)

    def missing_inputs(self, name: str, done: Iterable[str]) -> list[str]:
        """The inputs of `name` that are not among the `done` stages."""
        finished = {plain_name(s) for s in done}
        return [s for s in self.inputs_of(name) if s not in finished]

    def model_of_stage(self, name: str) -> str | None:
        """The key under results.models that a stage writes (None for data, convert, evaluate)."""
        models = self.stage(name).models
        return models[0] if models else None

    def models_by_stage(self) -> dict[str, str]:
        """{stage: model} for every stage that writes a model: engine/stages.py's MODEL_OF_STAGE."""
        return {s.name: s.models[0] for s in self.stages if s.models}

    def model_names(self) -> tuple[str, ...]:
        return tuple(m for s in self.stages for m in s.models)

    def stage_of_model(self, model: str) -> str:
        for spec in self.stages:
            if model in spec.models:
                return spec.name
        raise KeyError(f"no stage of recipe {self.name!r} makes model {model!r}")

    def converted_models(self, name: str) -> tuple[str, ...]:
        """The models whose .tflite file a stage makes (convert, ptq) or evaluates (evaluate)."""
        spec = self.stage(name)
        if spec.technique == "ptq":
            return spec.models
        if spec.technique == "convert":
            return tuple(m for i in spec.inputs for m in self.stage(i).models)
        if spec.technique == "evaluate":
            return tuple(m for i in spec.inputs for m in self.converted_models(i))
        return ()

    def deployed_models(self) -> tuple[str, ...]:
        """Every model that ends with an evaluated .tflite file, in recipe order of the stage doing it."""
        found: list[str] = []
        for spec in self.stages:
            if TECHNIQUES[spec.technique].makes == DEPLOYED:
                found.extend(m for m in self.converted_models(spec.name) if m not in found)
        return tuple(found)

    def m_by_n_applies(self, name: str) -> bool:
        """Whether a stage's model comes from m:n pruning (the 2:4 block check applies to it)."""
        return any(
            self.stage(s).technique == "prune" and self.stage(s).param("schedule") == "m_by_n"
            for s in (name, *self.upstream_of(name))
        )

    def identity(self, name: str) -> dict[str, Any]:
        """What a stage is, as JSON-ready values: the recipe's part of its fingerprint."""
        spec = self.stage(name)
        technique = TECHNIQUES[spec.technique]
        return {
            "technique": spec.technique,
            "params": {p: spec.param(p) for p in technique.variants},
            "settings": dict(spec.settings),
            "section": spec.section,
            "inputs": list(spec.inputs),
            "models": list(spec.models),
        }

    def to_json(self) -> dict[str, list[str]]:
        """The graph as results.json schema 2 writes it: {stage: [inputs]}, in recipe order."""
        return {s.name: list(s.inputs) for s in self.stages}

    def tree(self) -> tuple[TreeRow, ...]:
        """The stages as a tree for the app: each under its input that comes last in the recipe.

        Rows are in depth-first order, children in recipe order; a stage reading several inputs sits under
        the latest of them (so it is listed after all of them) and names the others in `also_reads`.
        """
        position = {name: i for i, name in enumerate(self.names())}
        children: dict[str | None, list[str]] = {}
        for spec in self.stages:
            parent = max(spec.inputs, key=position.__getitem__) if spec.inputs else None
            children.setdefault(parent, []).append(spec.name)
        rows: list[TreeRow] = []

        def visit(name: str, depth: int, parent: str | None) -> None:
            others = tuple(i for i in self.inputs_of(name) if i != parent)
            rows.append(TreeRow(name, depth, parent, others))
            for child in children.get(name, []):
                visit(child, depth + 1, name)

        for root in children.get(None, []):
            visit(root, 0, None)
        return tuple(rows)


# --- Validation -----------------------------------------------------------------------------------------


def _validate(stages: tuple[StageSpec, ...], source: str) -> dict[str, StageSpec]:
    """The stages by name, or ConfigError naming the first fault (`source` prefixes the key)."""
    by_name: dict[str, StageSpec] = {}
    model_maker: dict[str, str] = {}
    for spec in stages:
        key = f"{source}.stages.{spec.name}"
        for name, what in ((spec.name, "stage"), *((m, "model") for m in spec.models)):
            if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
                raise ConfigError(
                    f"{source}.stages: {what} name {name!r} must be 1-40 lower-case letters, digits or _ "
                    "starting with a letter (it names files)",
                    key,
                )
        if spec.name in by_name:
            raise ConfigError(f"{key}: two stages are named {spec.name!r}", key)
        technique = _check_technique(spec, key)
        _check_params(spec, technique, key)
        for model in spec.models:
            if model in model_maker:
                raise ConfigError(
                    f"{key}.model = {toml_value(model)}: model {model!r} is already made by stage "
                    f"{model_maker[model]!r} (every model needs its own name)",
                    f"{key}.model",
                )
            model_maker[model] = spec.name
        if technique.makes_model and len(spec.models) != 1:
            raise ConfigError(f"{key}: a {technique.name} stage makes exactly one model", f"{key}.model")
        if not technique.makes_model and spec.models:
            raise ConfigError(
                f"{key}.model: a {technique.name} stage makes no model of its own", f"{key}.model"
            )
        by_name[spec.name] = spec
    names = [s.name for s in stages]
    for spec in stages:
        _check_known_inputs(spec, names, f"{source}.stages.{spec.name}")
    _check_order(stages, source)
    for spec in stages:
        _check_input_kinds(spec, by_name, f"{source}.stages.{spec.name}")
    data_stages = [s.name for s in stages if s.technique == "data"]
    if not data_stages:
        raise ConfigError(
            f'{source}: no stage has technique "data" (every recipe starts from one: '
            '[recipe.stages.data] technique = "data")',
            f"{source}.stages",
        )
    if len(data_stages) > 1:
        raise ConfigError(f"{source}: two data stages ({', '.join(data_stages)}); a recipe has one", source)
    return by_name


def _check_technique(spec: StageSpec, key: str) -> Technique:
    technique = TECHNIQUES.get(spec.technique)
    if technique is None:
        close = difflib.get_close_matches(str(spec.technique), list(TECHNIQUES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{key}.technique = {toml_value(spec.technique)}: unknown technique "
            f"({hint}allowed: {', '.join(TECHNIQUES)})",
            f"{key}.technique",
        )
    return technique


def _check_params(spec: StageSpec, technique: Technique, key: str) -> None:
    for param, value in spec.params.items():
        allowed = technique.variants.get(param)
        if allowed is None:
            raise unknown_key_error(f"{key}.{param}", [f"{key}.{v}" for v in technique.variants], None)
        same_type = all(isinstance(value, bool) == isinstance(a, bool) for a in allowed)
        if not same_type or value not in allowed:
            shown = ", ".join(toml_value(a) for a in allowed)
            raise ConfigError(
                f"{key}.{param} = {toml_value(value)}: must be one of {shown}", f"{key}.{param}"
            )
    for setting, value in spec.settings.items():
        if setting not in technique.settings:
            raise unknown_key_error(f"{key}.{setting}", [f"{key}.{s}" for s in technique.settings], None)
        check_setting(setting, value, shown=f"{key}.{setting} = {toml_value(value)}")
    if spec.section is not None and spec.section not in known_sections():
        raise ConfigError(
            f"{key}.section = {toml_value(spec.section)}: no such config section "
            f"(sections: {', '.join(known_sections())})",
            f"{key}.section",
        )


def _check_known_inputs(spec: StageSpec, names: list[str], key: str) -> None:
    for name in spec.inputs:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{key}.inputs: {name!r} is not a stage of this recipe ({hint}stages: {', '.join(names)})",
                f"{key}.inputs",
            )


def _check_input_kinds(spec: StageSpec, by_name: Mapping[str, StageSpec], key: str) -> None:
    technique = TECHNIQUES[spec.technique]
    count = len(spec.inputs)
    if count < technique.min_inputs or (technique.max_inputs is not None and count > technique.max_inputs):
        if technique.max_inputs == technique.min_inputs:
            wanted = f"exactly {technique.min_inputs}"
        else:
            wanted = f"at least {technique.min_inputs}"
        raise ConfigError(
            f"{key}.inputs: a {technique.name} stage reads {wanted} stage(s), not {count}", f"{key}.inputs"
        )
    if len(set(spec.inputs)) != count:
        raise ConfigError(f"{key}.inputs: lists a stage twice", f"{key}.inputs")
    for name in spec.inputs:
        made = TECHNIQUES[by_name[name].technique].makes
        if made != technique.reads:
            raise ConfigError(
                f"{key}.inputs: {name!r} makes {_KIND_WORDS[made]}, but a {technique.name} stage reads "
                f"{_KIND_WORDS[technique.reads or DATASET]}",
                f"{key}.inputs",
            )


def _check_order(stages: tuple[StageSpec, ...], source: str) -> None:
    """Every stage after its inputs; a cycle is named as one."""
    seen: set[str] = set()
    for spec in stages:
        late = [i for i in spec.inputs if i not in seen]
        if late:
            cycle = _find_cycle(stages)
            if cycle:
                raise ConfigError(f"{source}.stages: cycle {' -> '.join(cycle)}", f"{source}.stages")
            raise ConfigError(
                f"{source}.stages.{spec.name}: listed before its input {late[0]!r} (list stages in order)",
                f"{source}.stages.{spec.name}",
            )
        seen.add(spec.name)


def _find_cycle(stages: Iterable[StageSpec]) -> list[str] | None:
    inputs = {s.name: s.inputs for s in stages}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for parent in inputs.get(name, ()):
            if state.get(parent) == 1:
                return [*path[path.index(parent) :], parent]
            if parent in inputs and parent not in state:
                found = visit(parent)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in inputs:
        if name not in state:
            found = visit(name)
            if found:
                return list(reversed(found))
    return None


def known_sections() -> tuple[str, ...]:
    """Every config section a stage may name: the pipeline's and the collaborative techniques'."""
    found: list[str] = []
    for config in (PipelineConfig(), CollabConfig()):
        found.extend(
            f.name
            for f in fields(config)
            if hasattr(getattr(config, f.name), "__dataclass_fields__") and f.name != "recipe"
        )
    return tuple(found)


def topological(stages: Iterable[StageSpec]) -> tuple[StageSpec, ...]:
    """The stages ordered so that each comes after its inputs, otherwise keeping their order.

    Stages left over (a cycle, or an input that is not a stage) keep their order at the end, for `Recipe`
    to name the fault.
    """
    pending = list(stages)
    names = {s.name for s in pending}
    ordered: list[StageSpec] = []
    placed: set[str] = set()
    progress = True
    while pending and progress:
        progress = False
        for spec in list(pending):
            if all(i in placed or i not in names for i in spec.inputs):
                ordered.append(spec)
                placed.add(spec.name)
                pending.remove(spec)
                progress = True
                break
    return (*ordered, *pending)


# --- The built-in recipes -----------------------------------------------------------------------------

_PQAT_STAGES = (
    _spec("data", "data", (), "Data", "Load the images and check them."),
    _spec(
        "baseline", "train", ("data",), "Baseline", "Train the float model (or fine-tune yours).", "baseline"
    ),
    _spec(
        "prune",
        "prune",
        ("baseline",),
        "Prune",
        "Magnitude pruning to a constant sparsity, fine-tuned and stripped.",
        "pruned",
        schedule="constant",
    ),
    _spec("qat", "qat", ("prune",), "QAT", "Plain QAT of the pruned model: shows it loses the zeros.", "qat"),
    _spec(
        "pqat",
        "qat",
        ("prune",),
        "PQAT",
        "Pruning-preserving QAT: the zeros survive quantization.",
        "pqat",
        section="pqat",
        scheme="prune_preserve",
    ),
    _spec("convert", "convert", ("qat", "pqat"), "Convert", "TFLite int8 files of QAT and PQAT."),
    _spec("evaluate", "evaluate", ("convert",), "Evaluate", "Test accuracy of the converted files."),
    _spec(
        "ptq",
        "ptq",
        ("prune",),
        "PTQ",
        "Full-integer post-training quantization of the pruned model.",
        "ptq",
        mode="full_integer",
    ),
)

PQAT = Recipe("pqat", _PQAT_STAGES)


def _collaborative_stages() -> tuple[StageSpec, ...]:
    """`pqat`'s stages plus every other branch, in tree order (see `Recipe.tree`)."""
    data, baseline, prune, qat, pqat, _convert, _evaluate, ptq = _PQAT_STAGES
    sparse = {"sparse_encoding": True}
    return (
        data,
        baseline,
        prune,
        qat,
        pqat,
        _spec(
            "convert", "convert", ("qat", "pqat"), "Convert", "TFLite int8 files of QAT and PQAT.", **sparse
        ),
        _evaluate,
        _spec("ptq", "ptq", ("prune",), ptq.title, ptq.purpose, "ptq", mode="full_integer", **sparse),
        _spec(
            "ptq_dynamic",
            "ptq",
            ("prune",),
            "PTQ dynamic",
            "Dynamic-range quantization of the pruned model: int8 weights, float activations.",
            "ptq_dynamic",
            section=None,
            mode="dynamic",
        ),
        _spec(
            "ptq_float16",
            "ptq",
            ("prune",),
            "PTQ float16",
            "Float16 quantization of the pruned model's weights.",
            "ptq_float16",
            section=None,
            mode="float16",
        ),
        _spec(
            "sparse_cluster",
            "cluster",
            ("prune",),
            "Sparse cluster",
            "Sparsity-preserving clustering of the pruned model, fine-tuned and stripped.",
            "sparse_clustered",
            section="sparse_cluster",
            preserve_sparsity=True,
        ),
        _spec(
            "pcqat",
            "qat",
            ("sparse_cluster",),
            "PCQAT",
            "Prune- and cluster-preserving QAT: zeros and clusters survive quantization.",
            "pcqat",
            section="pcqat",
            scheme="prune_cluster_preserve",
        ),
        _spec(
            "convert_sparse_clustered",
            "convert",
            ("sparse_cluster", "pcqat"),
            "Convert sparse clustered",
            "TFLite files of the sparse clustered model and PCQAT.",
            **sparse,
        ),
        _spec(
            "evaluate_sparse_clustered",
            "evaluate",
            ("convert_sparse_clustered",),
            "Evaluate sparse clustered",
            "Test accuracy of the sparse clustered and PCQAT files.",
        ),
        _spec(
            "cluster",
            "cluster",
            ("baseline",),
            "Cluster",
            "Weight clustering of the baseline, fine-tuned and stripped.",
            "clustered",
        ),
        _spec(
            "cqat",
            "qat",
            ("cluster",),
            "CQAT",
            "Cluster-preserving QAT: the clusters survive quantization.",
            "cqat",
            section="cqat",
            scheme="cluster_preserve",
        ),
        _spec(
            "convert_clustered",
            "convert",
            ("cluster", "cqat"),
            "Convert clustered",
            "TFLite files of the clustered model and CQAT.",
        ),
        _spec(
            "evaluate_clustered",
            "evaluate",
            ("convert_clustered",),
            "Evaluate clustered",
            "Test accuracy of the clustered and CQAT files.",
        ),
        _spec(
            "prune_2by4",
            "prune",
            ("baseline",),
            "Prune 2:4",
            "Structured pruning: 2 zeros in every block of 4 inputs, as sparse hardware wants.",
            "pruned_2by4",
            section="prune_2by4",
            schedule="m_by_n",
        ),
        _spec(
            "pqat_2by4",
            "qat",
            ("prune_2by4",),
            "PQAT 2:4",
            "Pruning-preserving QAT of the 2:4 model: the blocks survive quantization.",
            "pqat_2by4",
            section="pqat_2by4",
            scheme="prune_preserve",
        ),
        _spec(
            "convert_2by4",
            "convert",
            ("prune_2by4", "pqat_2by4"),
            "Convert 2:4",
            "TFLite files of the 2:4 pruned model and its PQAT.",
            **sparse,
        ),
        _spec(
            "evaluate_2by4",
            "evaluate",
            ("convert_2by4",),
            "Evaluate 2:4",
            "Test accuracy of the 2:4 files.",
        ),
    )


COLLABORATIVE = Recipe("collaborative", _collaborative_stages())

BUILT_IN: Mapping[str, Recipe] = MappingProxyType({PQAT.name: PQAT, COLLABORATIVE.name: COLLABORATIVE})
DEFAULT_RECIPE = PQAT.name


# --- User recipes in TOML -----------------------------------------------------------------------------

_RECIPE_KEYS = ("name", "base", "without", "stages")
_STAGE_KEYS = ("technique", "inputs", "title", "purpose", "model", "section")


def recipe_from_mapping(values: Mapping[str, Any], *, source: str | None = None) -> Recipe:
    """The recipe a `[recipe]` table describes; ConfigError (one line, naming the key) for any fault.

    `name` alone picks a built-in; with `stages` it names a new recipe, built on `base`'s stages (minus
    `without` and everything downstream of them) when `base` is given, from nothing otherwise.
    """
    prefix = f"{source}: " if source else ""
    try:
        return _recipe_from_mapping(values)
    except ConfigError as error:
        raise ConfigError(f"{prefix}{error}", error.key) from None


def _recipe_from_mapping(values: Mapping[str, Any]) -> Recipe:
    if not isinstance(values, Mapping):
        raise ConfigError(f"recipe = {toml_value(values)}: must be a table ([recipe])", "recipe")
    for key in values:
        if key not in _RECIPE_KEYS:
            raise unknown_key_error(f"recipe.{key}", [f"recipe.{k}" for k in _RECIPE_KEYS], None)
    name = _string(values, "name", "recipe.name", required=True)
    stages_table = values.get("stages", {})
    if not isinstance(stages_table, Mapping):
        raise ConfigError(
            f"recipe.stages = {toml_value(stages_table)}: must be a table of stages", "recipe.stages"
        )
    if not stages_table and "base" not in values:
        if name in BUILT_IN:
            return BUILT_IN[name]
        raise ConfigError(
            f"recipe.name = {toml_value(name)}: no such recipe (built in: {', '.join(BUILT_IN)}; "
            "or define its stages under [recipe.stages.NAME])",
            "recipe.name",
        )
    if name in BUILT_IN:
        raise ConfigError(
            f"recipe.name = {toml_value(name)}: clashes with the built-in recipe (give yours another name)",
            "recipe.name",
        )
    base_stages = _base_stages(values)
    base_names = {s.name for s in base_stages}
    new_stages = []
    for stage_name, table in stages_table.items():
        key = f"recipe.stages.{stage_name}"
        if stage_name in base_names:
            raise ConfigError(
                f"{key}: clashes with stage {stage_name!r} of base recipe {values['base']!r} "
                "(give yours another name, or leave the base's out with `without`)",
                key,
            )
        new_stages.append(_stage_from_mapping(stage_name, table, key))
    return Recipe(name, topological((*base_stages, *new_stages)))


def _base_stages(values: Mapping[str, Any]) -> tuple[StageSpec, ...]:
    if "base" not in values:
        if "without" in values:
            raise ConfigError("recipe.without: needs a base recipe to leave stages out of", "recipe.without")
        return ()
    base_name = _string(values, "base", "recipe.base", required=True)
    base = BUILT_IN.get(base_name)
    if base is None:
        raise ConfigError(
            f"recipe.base = {toml_value(base_name)}: no such built-in recipe "
            f"(allowed: {', '.join(BUILT_IN)})",
            "recipe.base",
        )
    dropped: set[str] = set()
    for stage in _strings(values, "without", "recipe.without"):
        if stage not in base:
            raise ConfigError(
                f"recipe.without: {stage!r} is not a stage of {base.name!r} "
                f"(stages: {', '.join(base.names())})",
                "recipe.without",
            )
        dropped.update([stage, *base.downstream_of(stage)])
    return tuple(s for s in base.stages if s.name not in dropped)


def _stage_from_mapping(name: str, table: Any, key: str) -> StageSpec:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{key} = {toml_value(table)}: must be a table ([{key}])", key)
    technique_name = _string(table, "technique", f"{key}.technique", required=True)
    technique = _check_technique(StageSpec(name, technique_name), key)
    params: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for entry, value in table.items():
        if entry in _STAGE_KEYS:
            continue
        if entry in technique.variants:
            params[entry] = value
        elif entry in technique.settings:
            settings[entry] = value
        else:
            allowed = [*_STAGE_KEYS, *technique.variants, *technique.settings]
            raise unknown_key_error(f"{key}.{entry}", [f"{key}.{a}" for a in allowed], None)
    model = _string(table, "model", f"{key}.model") or (name if technique.makes_model else None)
    section = _string(table, "section", f"{key}.section") or technique.section
    return StageSpec(
        name=name,
        technique=technique.name,
        inputs=tuple(_strings(table, "inputs", f"{key}.inputs")),
        title=_string(table, "title", f"{key}.title") or name.replace("_", " ").capitalize(),
        purpose=_string(table, "purpose", f"{key}.purpose") or technique.summary.capitalize() + ".",
        models=(model,) if model else (),
        section=section,
        params=MappingProxyType(params),
        settings=MappingProxyType(settings),
    )


def _string(table: Mapping[str, Any], entry: str, key: str, *, required: bool = False) -> str | None:
    if entry not in table:
        if required:
            raise ConfigError(f"{key}: missing (a string)", key)
        return None
    value = table[entry]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} = {toml_value(value)}: must be a non-empty string", key)
    return value.strip()


def _strings(table: Mapping[str, Any], entry: str, key: str) -> list[str]:
    value = table.get(entry, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{key} = {toml_value(value)}: must be an array of stage names", key)
    return [v.strip() for v in value]


def resolve_recipe(name: str, table: Mapping[str, Any] | None = None, *, source: str | None = None) -> Recipe:
    """The recipe a config selects: a built-in by `name`, or the `[recipe]` table's when that is `name`."""
    if table is not None and table.get("name") == name:
        return recipe_from_mapping(table, source=source)
    if name in BUILT_IN:
        return BUILT_IN[name]
    prefix = f"{source}: " if source else ""
    raise ConfigError(
        f"{prefix}recipe = {toml_value(name)}: no such recipe (built in: {', '.join(BUILT_IN)}"
        + (f"; yours: {table.get('name')}" if table else "")
        + ")",
        "recipe",
    )


def runs_as_pqat(recipe: Recipe, name: str) -> bool:
    """Whether stage `name` of `recipe` is `pqat`'s stage of that name (TFLite's sparse encoding aside): the
    engine runs it with today's code and keeps its files and fingerprint as every earlier run did."""
    name = plain_name(name)
    if name not in PQAT or name not in recipe:
        return False

    def shape(spec: StageSpec) -> tuple[Any, ...]:
        params = {k: v for k, v in spec.params.items() if k != "sparse_encoding"}
        return (spec.technique, spec.inputs, spec.models, spec.section, params, dict(spec.settings))

    return shape(recipe.stage(name)) == shape(PQAT.stage(name))


def recipe_of_results(config: Mapping[str, Any]) -> Recipe:
    """The recipe a run's results were made with, from their `config` (`recipe` table); `pqat` for results
    from before recipes, or whose recipe no longer resolves."""
    table = config.get("recipe") if isinstance(config, Mapping) else None
    if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
        return PQAT
    try:
        return resolve_recipe(table["name"], table if len(table) > 1 else None)
    except ConfigError:
        return PQAT


def recipe_of(config: PipelineConfig) -> Recipe:
    """The recipe a config runs (its `[recipe]` table was checked when the config was read)."""
    return resolve_recipe(config.recipe.name, config.recipe.table() if config.recipe.definition else None)


def with_recipe(config: PipelineConfig, name: str, *, label: str = "--recipe") -> PipelineConfig:
    """`config` running recipe `name` (`--recipe NAME`): a built-in, or the one its `[recipe]` table defines.

    ConfigError (one line) for any other name.
    """
    table = config.recipe.table() if config.recipe.definition else {}
    try:
        resolve_recipe(name, table or None)
    except ConfigError as error:
        raise ConfigError(f"{label} {name}: " + str(error).split(": ", 1)[-1], "recipe") from None
    if table.get("name") == name:
        return config
    return replace(config, recipe=RecipeConfig(name=name))


def graph_from_json(value: Any) -> dict[str, tuple[str, ...]]:
    """A results.json `recipe` graph ({stage: [inputs]}) checked: strings, known inputs, listed in order.

    ValueError with one line for anything else (a reader of schema 2 calls it).
    """
    if not isinstance(value, dict):
        raise ValueError(f"recipe: must be an object of stage: [inputs], not {type(value).__name__}")
    graph: dict[str, tuple[str, ...]] = {}
    for stage, inputs in value.items():
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ValueError(f"recipe.{stage}: must be a list of stage names")
        unknown = [i for i in inputs if i not in graph]
        if unknown:
            raise ValueError(f"recipe.{stage}: reads {unknown[0]!r}, which is not a stage listed before it")
        graph[stage] = tuple(inputs)
    return graph
