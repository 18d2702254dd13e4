"""The `pqat` recipe's stages as an enum: a shim over engine.recipe.PQAT for callers that predate recipes.

Stage names are plain strings from the session's recipe (engine.recipe); `Stage` is a str Enum, so
`Stage.PRUNE == "prune"` and both find the same dict entry. `stage_key` gives a `Stage` for the `pqat` names
(callers that read `.title` keep working) and the plain name for every other stage; `stage_title` names any.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from engine.recipe import BUILT_IN, PQAT, Recipe, plain_name


class Stage(str, Enum):
    DATA = "data"
    BASELINE = "baseline"
    PRUNE = "prune"
    QAT = "qat"
    PQAT = "pqat"
    CONVERT = "convert"
    EVALUATE = "evaluate"
    PTQ = "ptq"

    @property
    def title(self) -> str:
        return PQAT.title(self.value)


STAGE_NAMES: tuple[str, ...] = PQAT.names()

# The stages whose outputs a stage reads. QAT starts from the stripped pruned model, as the example does,
# so that it shows what plain QAT does to the zeros; PTQ quantizes that same stripped model.
STAGE_INPUTS: dict[Stage, tuple[Stage, ...]] = {
    Stage(name): tuple(Stage(i) for i in PQAT.inputs_of(name)) for name in STAGE_NAMES
}

# Upstream stages whose model a stage also uses, beyond its inputs': Convert and PTQ convert the baseline
# without optimization, the float reference their files are compared with. The baseline is upstream of both
# (through Prune), so the graph and the fingerprints need no edge for it; a resumed run reads its model back.
REFERENCE_INPUTS: dict[Stage, tuple[Stage, ...]] = {
    Stage.CONVERT: (Stage.BASELINE,),
    Stage.PTQ: (Stage.BASELINE,),
}

# The key under RunResults.models that a training stage writes.
MODEL_OF_STAGE: dict[Stage, str] = {Stage(name): model for name, model in PQAT.models_by_stage().items()}

MODEL_NAMES: tuple[str, ...] = PQAT.model_names()


class StageName(str):
    """A recipe stage that `Stage` lacks: its name (a str, equal to and hashed as the name) with a `title` and
    a `value`, as `Stage` members have them, for the callers that read those."""

    title: str

    def __new__(cls, name: str, title: str) -> StageName:
        named = super().__new__(cls, name)
        named.title = title
        return named

    @property
    def value(self) -> str:
        return str.__str__(self)


def stage_key(stage: Stage | str, recipe: Recipe | None = None) -> Stage | StageName:
    """`Stage` for a `pqat` stage name, a `StageName` for any other (what events and done sets carry)."""
    name = plain_name(stage)
    if name in STAGE_NAMES:
        return Stage(name)
    return StageName(name, stage_title(name, recipe))


def stage_title(stage: Stage | str, recipe: Recipe | None = None) -> str:
    """A stage's title: from `recipe` when it has the stage, else from the built-in recipes, else its name."""
    name = plain_name(stage)
    for candidate in (recipe, *BUILT_IN.values()):
        if candidate is not None and name in candidate:
            return candidate.title(name)
    return name.replace("_", " ").capitalize()


def downstream_of(stage: Stage) -> list[Stage]:
    """Every stage that reads `stage`'s output, directly or not, in pipeline order."""
    return [Stage(s) for s in PQAT.downstream_of(plain_name(stage))]


def missing_inputs(stage: Stage, done: Iterable[Stage]) -> list[Stage]:
    """The inputs of `stage` that are not among the `done` stages."""
    return [Stage(s) for s in PQAT.missing_inputs(plain_name(stage), done)]
