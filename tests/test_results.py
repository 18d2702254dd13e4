from __future__ import annotations

import base64

import pytest

from engine.results import DatasetInfo, EpochMetrics, ModelResult, RunResults, TFLiteInfo, WeightSparsity
from engine.stages import Stage, downstream_of, missing_inputs
from engine.strict_json import ShapeError


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


def test_dataset_shape_and_class_names_round_trip_and_older_files_still_load() -> None:
    from dataclasses import replace

    base = _results()
    assert base.dataset is not None
    dataset = replace(
        base.dataset,
        image_shape=(32, 32, 3),
        classes=("cat", "dog"),
        preview_images=(bytes(range(256)) * 3,),
        preview_shape=(16, 16, 3),
    )
    results = replace(base, dataset=dataset)
    data = results.to_json()
    assert data["dataset"]["image_shape"] == [32, 32, 3]
    assert data["dataset"]["classes"] == ["cat", "dog"]
    assert RunResults.from_json(data) == results
    wrong = {**data, "dataset": {**data["dataset"], "preview_shape": [28, 28, 1]}}
    with pytest.raises(
        ShapeError, match=r"dataset.preview_images\[0\]: expected 784 pixels \(28x28x1\), got 768"
    ):
        RunResults.from_json(wrong)
    with pytest.raises(ShapeError, match=r"dataset.image_shape: expected \[height, width, channels\]"):
        RunResults.from_json({**data, "dataset": {**data["dataset"], "image_shape": [32, 32]}})
    for key in ("image_shape", "classes", "preview_shape"):
        del data["dataset"][key]
    data["dataset"]["preview_images"] = [base64.b64encode(bytes(784)).decode()]  # an older file's digit
    older = RunResults.from_json(data).dataset
    assert older is not None and older.image_shape == () and older.classes == ()
    assert older.preview_dims() == (28, 28, 1) and older.class_name(7) == "7"
