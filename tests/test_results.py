from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.recipe import BUILT_IN
from engine.results import (
    DatasetInfo,
    EpochMetrics,
    ModelResult,
    ResultsFileError,
    RunResults,
    TFLiteInfo,
    WeightSparsity,
)
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
    assert data["schema"] == 2
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


STORED_SCHEMA_1 = Path(__file__).parent / "data" / "sample_results.json"


def _schema_2_results() -> RunResults:
    from dataclasses import replace

    base = _results()
    tflite = TFLiteInfo(
        20000,
        9000,
        0.933,
        unique_values={"conv2d/kernel (int8)": 16, "dense/kernel (int8)": 16},
        sparse_encoded_bytes=18000,
    )
    return replace(
        base,
        models={**base.models, "pcqat": ModelResult(keras_accuracy=0.93, tflite=tflite)},
        recipe=BUILT_IN["collaborative"].to_json(),
    )


def test_schema_2_keys_round_trip() -> None:
    results = _schema_2_results()
    data = results.to_json()
    assert data["schema"] == 2
    assert data["models"]["pcqat"]["tflite"]["unique_values"] == {
        "conv2d/kernel (int8)": 16,
        "dense/kernel (int8)": 16,
    }
    assert data["models"]["pcqat"]["tflite"]["sparse_encoded_bytes"] == 18000
    assert data["models"]["pqat"]["tflite"]["sparse_encoded_bytes"] is None
    assert data["recipe"]["pqat"] == ["prune"]
    assert RunResults.from_json(data) == results
    assert RunResults.from_json(json.loads(json.dumps(data))) == results


def test_stored_schema_1_file_still_reads() -> None:
    assert json.loads(STORED_SCHEMA_1.read_text())["schema"] == 1
    results = RunResults.read_json(STORED_SCHEMA_1)
    assert results.recipe is None
    assert set(results.models) == {"baseline", "pruned", "qat", "pqat", "ptq"}
    pqat = results.models["pqat"].tflite
    assert pqat is not None and pqat.unique_values == {} and pqat.sparse_encoded_bytes is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["models"]["pcqat"]["tflite"].update(unique_values=[16]),
            "unique_values: expected an object",
        ),
        (
            lambda d: d["models"]["pcqat"]["tflite"].update(unique_values={"k": "16"}),
            r"models.pcqat.tflite.unique_values.k: expected an integer, got a string",
        ),
        (
            lambda d: d["models"]["pcqat"]["tflite"].update(sparse_encoded_bytes=0),
            r"models.pcqat.tflite.sparse_encoded_bytes: expected an integer >= 1",
        ),
        (lambda d: d.update(recipe=["data"]), "recipe: must be an object"),
        (lambda d: d.update(recipe={"data": [], "prune": ["baseline"]}), "recipe.prune: reads 'baseline'"),
        (lambda d: d.update(schema=3), r"unsupported results schema 3 \(expected 1 or 2\)"),
    ],
)
def test_schema_2_keys_are_read_strictly(
    change: Callable[[dict[str, Any]], None], message: str, tmp_path: Path
) -> None:
    data = _schema_2_results().to_json()
    change(data)
    with pytest.raises(ShapeError, match=message):
        RunResults.from_json(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsFileError, match=f"^{path}: ") as error:
        RunResults.read_json(path)
    assert "\n" not in str(error.value)
