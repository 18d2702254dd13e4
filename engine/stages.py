"""The pipeline's stages and what each one reads: the dependency graph, with no TensorFlow in it."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


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
        return _TITLES[self]


_TITLES = {
    Stage.DATA: "Data",
    Stage.BASELINE: "Baseline",
    Stage.PRUNE: "Prune",
    Stage.QAT: "QAT",
    Stage.PQAT: "PQAT",
    Stage.CONVERT: "Convert",
    Stage.EVALUATE: "Evaluate",
    Stage.PTQ: "PTQ",
}

# The stages whose outputs a stage reads. QAT starts from the stripped pruned model, as the example does,
# so that it shows what plain QAT does to the zeros; PTQ quantizes that same stripped model.
STAGE_INPUTS: dict[Stage, tuple[Stage, ...]] = {
    Stage.DATA: (),
    Stage.BASELINE: (Stage.DATA,),
    Stage.PRUNE: (Stage.BASELINE,),
    Stage.QAT: (Stage.PRUNE,),
    Stage.PQAT: (Stage.PRUNE,),
    Stage.CONVERT: (Stage.QAT, Stage.PQAT),
    Stage.EVALUATE: (Stage.CONVERT,),
    Stage.PTQ: (Stage.PRUNE,),
}

# Upstream stages whose model a stage also uses, beyond its inputs': Convert and PTQ convert the baseline
# without optimization, the float reference their files are compared with. The baseline is upstream of both
# (through Prune), so the graph and the fingerprints need no edge for it; a resumed run reads its model back.
REFERENCE_INPUTS: dict[Stage, tuple[Stage, ...]] = {
    Stage.CONVERT: (Stage.BASELINE,),
    Stage.PTQ: (Stage.BASELINE,),
}

# The key under RunResults.models that a training stage writes.
MODEL_OF_STAGE: dict[Stage, str] = {
    Stage.BASELINE: "baseline",
    Stage.PRUNE: "pruned",
    Stage.QAT: "qat",
    Stage.PQAT: "pqat",
    Stage.PTQ: "ptq",
}

MODEL_NAMES: tuple[str, ...] = ("baseline", "pruned", "qat", "pqat", "ptq")


def downstream_of(stage: Stage) -> list[Stage]:
    """Every stage that reads `stage`'s output, directly or not, in pipeline order."""
    found: set[Stage] = set()
    frontier = [stage]
    while frontier:
        current = frontier.pop()
        for candidate, inputs in STAGE_INPUTS.items():
            if current in inputs and candidate not in found:
                found.add(candidate)
                frontier.append(candidate)
    return [s for s in Stage if s in found]


def missing_inputs(stage: Stage, done: Iterable[Stage]) -> list[Stage]:
    """The inputs of `stage` that are not among the `done` stages."""
    finished = set(done)
    return [s for s in STAGE_INPUTS[stage] if s not in finished]
