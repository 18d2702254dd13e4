"""`--model PATH` with TensorFlow: checks against the data, tfmot's refusals, and a run around them."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.config import PipelineConfig, TrainConfig
from engine.events import EngineEvent, StageFinished
from engine.pipeline import PipelineSession
from engine.run_store import EventLog
from engine.stages import Stage
from engine.user_model import UserModelError, load_user_model
from pqat_tui.cli import main

pytestmark = pytest.mark.real_engine

TINY = ["--data", "sample", "--epochs", "1", "--prune-epochs", "1", "--set", "ptq.representative_images=100"]


def _model(*middle: object, input_shape: tuple[int, ...] = (28, 28), classes: int = 10) -> object:
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    return keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=input_shape),
            *([keras.layers.Reshape((28, 28, 1))] if input_shape == (28, 28) else []),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv2d"),
            *middle,
            keras.layers.Flatten(),
            keras.layers.Dense(classes, name="dense"),
        ]
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    import tf_keras as keras

    folder = tmp_path_factory.mktemp("models")
    built = {
        "plain.h5": _model(),
        "layer_norm.keras": _model(keras.layers.LayerNormalization(name="ln")),
        "rescaling.keras": _model(keras.layers.Rescaling(0.5, name="scale")),
        "lambda.keras": _model(keras.layers.Lambda(lambda x: x * 2, name="doubling")),
        "channels.keras": _model(input_shape=(28, 28, 1)),
        "five.keras": _model(classes=5),
    }
    from engine.artifacts import model_bytes

    paths = {}
    for name, model in built.items():
        paths[name] = folder / name
        paths[name].write_bytes(model_bytes(model, paths[name].suffix))
    return paths


def test_a_model_is_checked_against_the_data(models: dict[str, Path]) -> None:
    wrong_input = r"input is \(None, 28, 28\) but the data's images are \(32, 32, 3\)"
    with pytest.raises(UserModelError, match=wrong_input):
        load_user_model(models["plain.h5"], (32, 32, 3), 10)
    # Grey images feed a (28, 28) input and a (28, 28, 1) one alike.
    assert load_user_model(models["channels.keras"], (28, 28, 1), 10).unsupported == {}
    with pytest.raises(UserModelError, match=r"output is \(None, 5\) but the data has 10 classes"):
        load_user_model(models["five.keras"], (28, 28), 10)
    with pytest.raises(UserModelError, match="safe mode: it holds a Lambda layer with Python code"):
        load_user_model(models["lambda.keras"], (28, 28), 10)
    accepted = load_user_model(models["plain.h5"], (28, 28), 10)
    assert accepted.unsupported == {} and len(accepted.sha256) == 64


def test_layers_tfmot_cannot_handle_are_named_with_the_reason(models: dict[str, Path]) -> None:
    rescaling = load_user_model(models["rescaling.keras"], (28, 28), 10)
    assert rescaling.unsupported == {}  # one layer tfmot lacks no longer refuses a stage
    scale = {layer.name: layer for layer in rescaling.layer_support}["scale"]
    assert not scale.prunable and scale.prune_note.startswith("not wrapped: tfmot cannot prune Rescaling")
    norm = {
        layer.name: layer for layer in load_user_model(models["layer_norm.keras"], (28, 28), 10).layer_support
    }
    assert norm["ln"].quantize_note == (
        "left float: tfmot's default 8-bit scheme has no QuantizeConfig for LayerNormalization"
    )
    assert norm["conv2d"].prunable and norm["conv2d"].quantizable


@pytest.mark.slow
def test_an_unsupported_layer_is_left_float_and_every_stage_runs(
    models: dict[str, Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["run", *TINY, "--model", str(models["layer_norm.keras"]), "--run-dir", str(run_dir)])
    assert status == 0, out.getvalue()
    assert "Left float (tfmot cannot quantize them): ln (tfmot's default 8-bit scheme" in out.getvalue()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {record["status"] for record in manifest["stages"].values()} == {"done"}
    assert manifest["inputs"]["model"]["path"] == str(models["layer_norm.keras"])
    results = json.loads((run_dir / "results.json").read_text())
    assert results["failures"] == {}
    assert results["models"]["qat"]["layers_left_float"] == ["ln"]
    assert results["models"]["pqat"]["layers_left_float"] == ["ln"]
    assert results["models"]["ptq"]["tflite"]["accuracy"] > 0.5
    assert results["models"]["baseline"]["history"]  # fine-tuned: one epoch
    names = [layer["name"] for layer in results["layer_support"]]
    assert len(names) == 5 and names[1:3] == ["conv2d", "ln"] and names[-1] == "dense"  # the table lists all

    # Resuming without --model reuses the run's model: what finished is kept.
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--resume", str(run_dir)]) == 0
    started = [e["stage"] for e in EventLog(run_dir / "events.jsonl").read() if e["event"] == "StageStarted"]
    assert started.count("baseline") == 1 and started.count("prune") == 1 and started.count("ptq") == 1
    resumed = json.loads((run_dir / "results.json").read_text())
    assert resumed["layer_support"] == results["layer_support"]


def test_no_train_evaluates_the_model_as_given(models: dict[str, Path]) -> None:
    user = load_user_model(models["plain.h5"], (28, 28), 10)
    before = [w.copy() for w in user.model.get_weights()]
    session = PipelineSession(
        PipelineConfig(data="sample", baseline=TrainConfig(epochs=1)),
        baseline_model=user.model,
        train_baseline=False,
    )
    events: list[EngineEvent] = []
    for stage in (Stage.DATA, Stage.BASELINE):
        session.run_stage(stage, events.append, threading.Event())
    assert isinstance(events[-1], StageFinished)
    baseline = session.results.models["baseline"]
    assert baseline.history == ()
    assert 0.0 <= baseline.keras_accuracy <= 0.3  # an untrained model guesses
    for a, b in zip(before, user.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the user's model itself is never changed
