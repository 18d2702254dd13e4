"""The rows of the app's stage list and the state of each: plain Python, no Textual, easy to test.

The engine knows eight stages; the app shows a ninth row, Compare, which runs nothing: it is the whole
run's results side by side, complete once every engine stage is done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from engine.stages import STAGE_INPUTS, Stage, downstream_of, missing_inputs


class Step(str, Enum):
    DATA = "data"
    BASELINE = "baseline"
    PRUNE = "prune"
    QAT = "qat"
    PQAT = "pqat"
    CONVERT = "convert"
    EVALUATE = "evaluate"
    PTQ = "ptq"
    COMPARE = "compare"

    @property
    def stage(self) -> Stage | None:
        """The engine stage this row runs; None for Compare."""
        return None if self is Step.COMPARE else Stage(self.value)

    @property
    def title(self) -> str:
        return "Compare" if self is Step.COMPARE else Stage(self.value).title

    @classmethod
    def of(cls, stage: Stage) -> Step:
        return cls(stage.value)


class StepState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALE = "stale"  # done in an earlier run or before a settings change, which changed what it reads


# What each stage does, in one line: the panel's subtitle and the help screen's list.
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


@dataclass(frozen=True)
class Blocked:
    """Why a stage cannot start now."""

    stage: Stage
    missing: tuple[Stage, ...]

    @property
    def message(self) -> str:
        names = " and ".join(s.title for s in self.missing)
        return f"{self.stage.title} needs {names} first"


class StageBoard:
    """The state of every stage as the app shows it.

    `done` always comes from the engine (`done_stages()`), which knows what a re-run dropped; the board adds
    what only the app sees: which stage runs now and which ones failed or were cancelled.
    """

    def __init__(self) -> None:
        self._done: set[Stage] = set()
        self._running: Stage | None = None
        self._ended: dict[Stage, StepState] = {}  # FAILED or CANCELLED, until the stage runs again
        self._stale: set[Stage] = set()  # from the engine (a resumed run, a settings change)

    @property
    def running(self) -> Stage | None:
        return self._running

    @property
    def done(self) -> frozenset[Stage]:
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
        return all(stage in self._done for stage in Stage)

    def started(self, stage: Stage) -> None:
        self._running = stage
        # A run (or re-run) drops the outputs of the stage and its downstream, as the engine does.
        for dropped in (stage, *downstream_of(stage)):
            self._ended.pop(dropped, None)
            self._done.discard(dropped)
            self._stale.discard(dropped)

    def ended(self, stage: Stage, state: StepState, done: Iterable[Stage]) -> None:
        """The engine's final word on `stage`: DONE, FAILED or CANCELLED, with its current done set."""
        if self._running == stage:
            self._running = None
        self._done = set(done)
        if state in (StepState.FAILED, StepState.CANCELLED):
            self._ended[stage] = state

    def sync(self, done: Iterable[Stage], stale: Iterable[Stage] | None = None) -> None:
        self._done = set(done)
        if stale is not None:
            self._stale = set(stale)

    def next_stage(self) -> Stage | None:
        """The first stage without output, in pipeline order: its inputs come earlier, so it can run."""
        return next((stage for stage in Stage if stage not in self._done), None)

    def blocked(self, stage: Stage) -> Blocked | None:
        missing = missing_inputs(stage, self._done)
        return Blocked(stage, tuple(missing)) if missing else None


def inputs_of(step: Step) -> tuple[Stage, ...]:
    """What a row reads; Compare reads every stage."""
    return tuple(Stage) if step.stage is None else STAGE_INPUTS[step.stage]
