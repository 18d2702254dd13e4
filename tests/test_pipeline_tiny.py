"""The real engine through every stage on a few hundred digits, one epoch each: seconds, not minutes.

The default suite's check that the engine works end to end: the figures are not the reference's (that is
tests/test_pipeline_real.py, marked slow), but a broken stage, a pruning that keeps no zeros, a conversion
that loses them or a model that learns nothing fails here.
"""

from __future__ import annotations

import pytest
from conftest import TINY_TEST, TINY_TRAIN, TinyRun

from engine.results import ModelResult, RunResults
from engine.run_store import EventLog
from engine.stages import Stage

# One worker makes the shared tiny run and runs every test that reads it: no other worker waits on its lock.
pytestmark = [pytest.mark.real_engine, pytest.mark.xdist_group("tiny_run")]


def _kernels(model: ModelResult) -> dict[str, float]:
    return {w.name: w.fraction for w in model.kernel_sparsity()}


def test_every_stage_ran_and_the_results_have_the_issue_shape(tiny_run: TinyRun) -> None:
    raw = tiny_run.results
    assert raw["schema"] == 2
    assert (raw["dataset"]["train"], raw["dataset"]["test"]) == (TINY_TRAIN, TINY_TEST)
    assert set(raw["stage_seconds"]) == {s.value for s in Stage}
    assert set(raw["models"]) >= {"baseline", "pruned", "qat", "pqat", "ptq"}
    for name in ("qat", "pqat", "ptq"):
        assert set(raw["models"][name]["tflite"]) >= {"bytes", "zipped_bytes", "accuracy", "weight_sparsity"}
    assert not raw.get("failures")
    assert [e.epoch for e in _models(tiny_run)["baseline"].history] == [1]


def _models(tiny_run: TinyRun) -> dict[str, ModelResult]:
    return RunResults.from_json(tiny_run.results).models


def test_pruned_and_pqat_kernels_reach_the_target_and_qat_does_not(tiny_run: TinyRun) -> None:
    models = _models(tiny_run)
    for name in ("pruned", "pqat"):
        kernels = _kernels(models[name])
        assert set(kernels) == {"conv2d/kernel", "dense/kernel"}
        assert all(abs(fraction - 0.5) <= 0.01 for fraction in kernels.values()), (name, kernels)
    assert _kernels(models["qat"])["dense/kernel"] < 0.25  # plain QAT does not keep the zeros


def test_pqat_tflite_keeps_its_zeros_and_is_smaller_zipped(tiny_run: TinyRun) -> None:
    models = _models(tiny_run)
    qat, pqat = models["qat"].tflite, models["pqat"].tflite
    assert qat is not None and pqat is not None
    assert pqat.zipped_bytes < qat.zipped_bytes and pqat.zipped_bytes < pqat.bytes
    inside = pqat.weight_sparsity
    assert sum(w.zeros for w in inside) / sum(w.total for w in inside) >= 0.49
    assert (tiny_run.run_dir / "models" / "pqat.tflite").stat().st_size == pqat.bytes


def test_every_model_learned_something(tiny_run: TinyRun) -> None:
    models = _models(tiny_run)
    tflite = {name: models[name].tflite for name in ("qat", "pqat", "ptq")}
    accuracies = {
        "baseline": models["baseline"].keras_accuracy,
        "pruned": models["pruned"].keras_accuracy,
        **{f"{name} tflite": info.accuracy if info else None for name, info in tflite.items()},
    }
    assert all(a is not None and a > 0.5 for a in accuracies.values()), accuracies  # chance is 0.1
    for name in ("qat", "pqat"):  # the same int8 arithmetic, simulated in Keras or run by LiteRT
        keras_accuracy, info = models[name].keras_accuracy, tflite[name]
        assert keras_accuracy is not None and info is not None and info.accuracy is not None
        assert abs(keras_accuracy - info.accuracy) <= 0.03


def test_run_prints_the_tables_without_cutting_a_number(tiny_run: TinyRun) -> None:
    printed = tiny_run.printed
    for heading in ("Accuracy on the test set", "Per-layer sparsity", "TFLite models", "Comparison"):
        assert heading in printed
    assert "Traceback" not in printed
    assert "…" not in printed[printed.index("Accuracy on the test set") :]  # the tables, at 80 columns
    assert "int8 .tflite (" in printed


def test_engine_log_lines_leave_their_stage_name_to_the_listener(tiny_run: TinyRun) -> None:
    """The app writes "PTQ: " before a PTQ line; a line that starts with "PTQ" again reads "PTQ: PTQ …"."""
    logged = [
        (Stage(event["stage"]), event["text"])
        for event in EventLog(tiny_run.run_dir / "events.jsonl").read()
        if event["event"] == "LogMessage" and event.get("stage")
    ]
    assert any(stage is Stage.PTQ for stage, _ in logged)
    repeats = [text for stage, text in logged if text.startswith((f"{stage.title} ", f"{stage.title}:"))]
    assert not repeats
