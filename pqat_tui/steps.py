"""The rows of the app's stage list and the state of each: plain Python, no Textual, easy to test.

The rows are the recipe's stages in tree order (engine.recipe.Recipe.tree), then a last row, Compare, which
runs nothing: it is the whole run's results side by side, complete once every engine stage is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from engine.recipe import PQAT, Recipe, StageSpec, plain_name
from engine.stages import Stage, StageName, stage_key, stage_title

COMPARE = "compare"


class _Steps(type):
    def __iter__(cls) -> Iterator[Step]:
        """`list(Step)`: the `pqat` recipe's rows (see `steps_of` for any recipe's)."""
        return iter(steps_of(PQAT))

    def __len__(cls) -> int:
        return len(PQAT.names()) + 1


class Step(str, metaclass=_Steps):
    """A row of the stage list: a recipe stage's name, or Compare. One object per name, so `is` compares.

    `Step.DATA` ... `Step.PTQ` are the `pqat` recipe's rows, `Step.COMPARE` the last row of every recipe.
    """

    _made: ClassVar[dict[str, Step]] = {}
    _specs: ClassVar[dict[str, tuple[StageSpec, str]]] = {}  # name -> (spec, title) of the recipe shown

    DATA: ClassVar[Step]
    BASELINE: ClassVar[Step]
    PRUNE: ClassVar[Step]
    QAT: ClassVar[Step]
    PQAT: ClassVar[Step]
    CONVERT: ClassVar[Step]
    EVALUATE: ClassVar[Step]
    PTQ: ClassVar[Step]
    COMPARE: ClassVar[Step]

    def __new__(cls, name: str | Stage) -> Step:
        plain = plain_name(name)
        made = cls._made.get(plain)
        if made is None:
            made = cls._made[plain] = super().__new__(cls, plain)
        return made

    def __repr__(self) -> str:
        return f"<Step.{self.value}>"

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def stage(self) -> Stage | StageName | None:
        """The engine stage this row runs; None for Compare."""
        return None if self is Step.COMPARE else stage_key(self.value)

    @property
    def spec(self) -> StageSpec | None:
        """The stage's spec in the recipe shown (None for Compare)."""
        known = Step._specs.get(self.value)
        if known is not None:
            return known[0]
        return PQAT.stage(self.value) if self.value in PQAT else None

    @property
    def title(self) -> str:
        if self is Step.COMPARE:
            return "Compare"
        known = Step._specs.get(self.value)
        return known[1] if known else stage_title(self.value)

    @classmethod
    def of(cls, stage: Stage | str) -> Step:
        return cls(plain_name(stage))


for _name in (*PQAT.names(), COMPARE):
    setattr(Step, _name.upper(), Step(_name))


def steps_of(recipe: Recipe) -> list[Step]:
    """A recipe's rows in tree order (each stage under the input it was placed beneath), then Compare."""
    rows = [Step(row.name) for row in recipe.tree()]
    for name in recipe.names():
        Step._specs[name] = (recipe.stage(name), recipe.title(name))
    return [*rows, Step.COMPARE]


def step_depths(recipe: Recipe) -> dict[Step, int]:
    """How far each row is indented: its depth in the recipe's tree; `pqat`'s list stays flat, as it was."""
    if recipe == PQAT:
        return {}
    return {Step(row.name): row.depth for row in recipe.tree()}


class StepState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALE = "stale"  # done in an earlier run or before a settings change, which changed what it reads


# What each stage of `pqat` does, in one line: the panel's subtitle and the help screen's list.
STEP_PURPOSE: dict[Step, str] = {
    Step.DATA: "load the images and labels",
    Step.BASELINE: "train the float model",
    Step.PRUNE: "prune the weights to the target sparsity and fine-tune",
    Step.QAT: "quantization-aware training of the pruned model",
    Step.PQAT: "pruning-preserving quantization-aware training",
    Step.CONVERT: "convert QAT and PQAT to int8 .tflite files, the baseline to float (the reference)",
    Step.EVALUATE: "accuracy per class, latency and changed predictions of each .tflite file",
    Step.PTQ: "post-training quantization of the pruned model",
    Step.COMPARE: "every model side by side",
}


def purpose_of(step: Step) -> str:
    """A row's one-line purpose: `pqat`'s own words, else the recipe's (lower-cased, no full stop)."""
    if step in STEP_PURPOSE:
        return STEP_PURPOSE[step]
    spec = step.spec
    text = spec.purpose if spec is not None else ""
    return (text[:1].lower() + text[1:]).rstrip(".")


@dataclass(frozen=True)
class Blocked:
    """Why a stage cannot start now."""

    stage: Stage | StageName
    missing: tuple[Stage | StageName, ...]

    @property
    def message(self) -> str:
        names = " and ".join(s.title for s in self.missing)
        return f"{self.stage.title} needs {names} first"


class StageBoard:
    """The state of every stage as the app shows it.

    `done` always comes from the engine (`done_stages()`), which knows what a re-run dropped; the board adds
    what only the app sees: which stage runs now and which ones failed or were cancelled.
    """

    def __init__(self, recipe: Recipe = PQAT) -> None:
        self.recipe = recipe
        self._done: set[Stage | StageName] = set()
        self._running: Stage | StageName | None = None
        self._ended: dict[str, StepState] = {}  # FAILED or CANCELLED, until the stage runs again
        self._stale: set[Stage | StageName] = set()  # from the engine (a resumed run, a settings change)

    @property
    def running(self) -> Stage | StageName | None:
        return self._running

    @property
    def done(self) -> frozenset[Stage | StageName]:
        return frozenset(self._done)

    def state(self, step: Step) -> StepState:
        stage = step.stage
        if stage is None:
            return StepState.DONE if self.all_done() else StepState.PENDING
        if stage == self._running:
            return StepState.RUNNING
        if stage in self._done:
            return StepState.DONE
        if stage in self._stale:
            return StepState.STALE
        return self._ended.get(stage, StepState.PENDING)

    def all_done(self) -> bool:
        return all(name in self._done for name in self.recipe.names())

    def started(self, stage: Stage | StageName) -> None:
        self._running = stage
        # A run (or re-run) drops the outputs of the stage and its downstream, as the engine does.
        for dropped in (stage, *self.recipe.downstream_of(stage)):
            self._ended.pop(plain_name(dropped), None)
            self._done.discard(dropped)
            self._stale.discard(dropped)

    def ended(self, stage: Stage | StageName, state: StepState, done: Iterable[Stage | StageName]) -> None:
        """The engine's final word on `stage`: DONE, FAILED or CANCELLED, with its current done set."""
        if self._running == stage:
            self._running = None
        self._done = set(done)
        if state in (StepState.FAILED, StepState.CANCELLED):
            self._ended[stage] = state

    def sync(
        self, done: Iterable[Stage | StageName], stale: Iterable[Stage | StageName] | None = None
    ) -> None:
        self._done = set(done)
        if stale is not None:
            self._stale = set(stale)

    def next_stage(self) -> Stage | StageName | None:
        """The first stage without output, in recipe order: its inputs come earlier, so it can run."""
        pending = self.recipe.first_pending(self._done)
        return None if pending is None else stage_key(pending, self.recipe)

    def blocked(self, stage: Stage | StageName) -> Blocked | None:
        missing = self.recipe.missing_inputs(stage, self._done)
        found = tuple(stage_key(name, self.recipe) for name in missing)
        return Blocked(stage, found) if found else None


def inputs_of(step: Step, recipe: Recipe = PQAT) -> tuple[Stage | StageName, ...]:
    """What a row reads; Compare reads every stage."""
    names = recipe.names() if step.stage is None else recipe.inputs_of(step.value)
    return tuple(stage_key(name, recipe) for name in names)
