"""Each stage's headline figure: the one number the stage list shows beside a finished stage."""

from __future__ import annotations

from engine.recipe import PQAT, TRAINING_TECHNIQUES, Recipe
from engine.results import RunResults
from pqat_tui.steps import Step
from pqat_tui.tables import kernel_sparsity

_MODEL_OF_STEP = {
    Step.BASELINE: "baseline",
    Step.PRUNE: "pruned",
    Step.QAT: "qat",
    Step.PQAT: "pqat",
    Step.PTQ: "ptq",
}


def headline(results: RunResults, step: Step, recipe: Recipe = PQAT) -> str:
    """A short figure (at most 11 characters), or "" where the results do not have it. `recipe`: the one
    the row's stage belongs to."""
    models = results.models
    if step not in list(Step):
        return _recipe_headline(results, step, recipe)
    if step is Step.DATA:
        return f"{results.dataset.train:,} img" if results.dataset else ""
    if step is Step.BASELINE:
        model = models.get("baseline")
        return _accuracy(model.keras_accuracy if model else None)
    if step in (Step.PRUNE, Step.QAT, Step.PQAT):
        sparsity = kernel_sparsity(models.get(_MODEL_OF_STEP[step]))
        return "" if sparsity is None else f"{sparsity:.1%} sp"
    if step is Step.CONVERT:
        pqat = models.get("pqat")
        return f"{pqat.tflite.zipped_bytes / 1000:.1f} KB" if pqat and pqat.tflite else ""
    if step is Step.EVALUATE:
        pqat = models.get("pqat")
        return _accuracy(pqat.tflite.accuracy if pqat and pqat.tflite else None)
    if step is Step.PTQ:
        ptq = models.get("ptq")
        return _accuracy(ptq.tflite.accuracy if ptq and ptq.tflite else None)
    qat, pqat = models.get("qat"), models.get("pqat")
    if qat and pqat and qat.tflite and pqat.tflite and qat.tflite.zipped_bytes:
        saving = 1 - pqat.tflite.zipped_bytes / qat.tflite.zipped_bytes
        return f"{saving:.0%} smaller"
    return ""


def _recipe_headline(results: RunResults, step: Step, recipe: Recipe) -> str:
    """The headline of a stage the `pqat` recipe lacks: its model's accuracy, or its last file's figure."""
    if step.value not in recipe:
        return ""
    spec = recipe.stage(step.value)
    model = results.models.get(spec.models[0]) if spec.models else None
    if spec.technique in TRAINING_TECHNIQUES:
        return _accuracy(model.keras_accuracy if model else None)
    if model is None:  # convert or evaluate: the last of the files it makes or measures
        files = recipe.converted_models(step.value)
        model = results.models.get(files[-1]) if files else None
    tflite = model.tflite if model else None
    if tflite is None:
        return ""
    if spec.technique == "convert":
        return f"{tflite.zipped_bytes / 1000:.1f} KB"
    return _accuracy(tflite.accuracy)


def _accuracy(value: float | None) -> str:
    return "" if value is None else f"acc {value:.3f}"
