from __future__ import annotations

from engine.results import DatasetInfo, EpochMetrics, ModelResult, RunResults, TFLiteInfo, WeightSparsity
from engine.stages import Stage, downstream_of, missing_inputs


def _results() -> RunResults:
    weights = (WeightSparsity("conv2d/kernel", 54, 108), WeightSparsity("conv2d/bias", 0, 12))
    return RunResults(
        config={"prune": {"sparsity": 0.5}},
        dataset=DatasetInfo(
            "sample",
            4000,
            1000,
            (400,) * 10,
            note="offline",
            preview_images=(bytes(range(256)) * 3 + bytes(16),),
            preview_labels=(7,),
        ),
        models={
            "pqat": ModelResult(
                keras_accuracy=0.93,
                sparsity=weights,
                tflite=TFLiteInfo(20000, 14000, 0.938, (WeightSparsity("dense", 10, 20),)),
                history=(EpochMetrics(1, {"loss": 0.3, "accuracy": 0.9}),),
            )
        },
        stage_seconds={"pqat": 3.5},
    )


def test_json_round_trip_keeps_every_value() -> None:
    original = _results()
    assert RunResults.from_json(original.to_json()) == original


def test_json_has_issue_shape() -> None:
    data = _results().to_json()
    assert data["schema"] == 1
    assert data["dataset"]["train"] == 4000
    model = data["models"]["pqat"]
    assert model["sparsity"] == {"conv2d/kernel": 0.5, "conv2d/bias": 0.0}
    assert model["tflite"]["zipped_bytes"] == 14000
    assert model["tflite"]["weight_sparsity"] == {"dense": 0.5}


def test_downstream_and_missing_inputs() -> None:
    assert downstream_of(Stage.PRUNE) == [Stage.QAT, Stage.PQAT, Stage.CONVERT, Stage.EVALUATE, Stage.PTQ]
    assert downstream_of(Stage.EVALUATE) == []
    assert missing_inputs(Stage.CONVERT, [Stage.QAT]) == [Stage.PQAT]
