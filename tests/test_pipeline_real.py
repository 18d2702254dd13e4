"""The real engine on the bundled sample: the issue's figures, events, cancellation, determinism, fallback.

One full default run (through the headless command, ~15 s on two idle cores) is shared by the module's slow
tests (they check the reference's figures; `pytest -m slow`); the other tests use one-epoch stages.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from engine.config import PipelineConfig, PruneConfig, TrainConfig
from engine.events import (
    BatchProgress,
    EngineEvent,
    EpochEnded,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
)
from engine.pipeline import PipelineSession
from engine.results import RunResults
from engine.stages import Stage
from pqat_tui.cli import main

pytestmark = pytest.mark.real_engine

# The reference script on the same sample (see /work/shared/reference): the engine must be within 1.5 points.
REFERENCE_ACCURACY = {"baseline": 0.945, "pruned": 0.940, "pqat_tflite": 0.944, "ptq": 0.939}
TOLERANCE = 0.015


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResults, dict, str, Path]:
    folder = tmp_path_factory.mktemp("full-run")
    json_path = folder / "results.json"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["run", "--data", "sample", "--json", str(json_path), "--run-dir", str(folder / "run")])
    assert status == 0, out.getvalue()
    raw = json.loads(json_path.read_text())
    return RunResults.from_json(raw), raw, out.getvalue(), folder / "run"


def _weights(model_sparsity) -> dict[str, float]:
    return {w.name: w.fraction for w in model_sparsity}


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_pruned_and_pqat_kernels_are_at_target_and_qat_is_not(full_run) -> None:
    results, *_ = full_run
    for name in ("pruned", "pqat"):
        kernels = {w.name: w.fraction for w in results.models[name].kernel_sparsity()}
        assert set(kernels) == {"conv2d/kernel", "dense/kernel"}
        for weight, fraction in kernels.items():
            assert abs(fraction - 0.5) <= 0.005, (name, weight, fraction)
    qat = _weights(results.models["qat"].sparsity)
    assert qat["dense/kernel"] < 0.25
    assert set(qat) == set(_weights(results.models["pqat"].sparsity))


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_pqat_tflite_keeps_its_zeros_and_is_smaller_zipped(full_run) -> None:
    results, *_ = full_run
    qat, pqat, ptq = (results.models[n].tflite for n in ("qat", "pqat", "ptq"))
    assert qat and pqat and ptq
    assert pqat.zipped_bytes < qat.zipped_bytes
    assert pqat.zipped_bytes < pqat.bytes
    inside = {w.name: w for w in pqat.weight_sparsity}
    assert set(inside) == {"conv2d/kernel (int8)", "dense/kernel (int8)"}
    assert sum(w.zeros for w in inside.values()) / sum(w.total for w in inside.values()) >= 0.49
    assert all(w.fraction >= 0.49 for w in inside.values())
    assert inside["dense/kernel (int8)"].total == 20280


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_accuracies_match_the_reference(full_run) -> None:
    results, *_ = full_run
    models = results.models
    measured = {
        "baseline": models["baseline"].keras_accuracy,
        "pruned": models["pruned"].keras_accuracy,
        "pqat_tflite": models["pqat"].tflite.accuracy,
        "ptq": models["ptq"].tflite.accuracy,
    }
    for key, reference in REFERENCE_ACCURACY.items():
        assert abs(measured[key] - reference) <= TOLERANCE, (key, measured[key], reference)
    # Keras and TFLite agree closely for the quantized models (the same int8 arithmetic, simulated or real).
    for name in ("qat", "pqat"):
        assert abs(models[name].keras_accuracy - models[name].tflite.accuracy) <= 0.01


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_json_has_the_issue_shape(full_run) -> None:
    results, raw, *_ = full_run
    assert raw["schema"] == 2
    assert raw["dataset"] == {**raw["dataset"], "source": "sample", "train": 4000, "test": 1000}
    assert set(raw["models"]) == {"baseline", "pruned", "qat", "pqat", "ptq", "float"}
    for name, model in raw["models"].items():
        assert set(model) >= {"keras_accuracy", "sparsity", "tflite"}
        if name in ("qat", "pqat", "ptq", "float"):
            assert set(model["tflite"]) >= {"bytes", "zipped_bytes", "accuracy", "weight_sparsity"}
            assert set(model["tflite"]) >= {"latency_ms", "throughput_ips", "per_class_accuracy", "confusion"}
            assert set(model["tflite"]["latency_ms"]) == {"threads_1", "threads_all"}
            assert {"p50", "p95"} <= set(model["tflite"]["latency_ms"]["threads_1"])
            assert len(model["tflite"]["per_class_accuracy"]) == 10
        else:
            assert model["tflite"] is None
            assert len(model["per_class_accuracy"]) == 10 and len(model["confusion"]) == 10
        if name in ("qat", "pqat", "ptq"):
            assert set(model["tflite"]["changed_vs_baseline"]) >= {"fixed", "broken"}
    assert set(raw["stage_seconds"]) == {s.value for s in Stage}
    assert raw["config"]["baseline"]["epochs"] == 10
    assert {"tensorflow", "tf_keras", "tfmot", "litert", "python"} <= set(raw["versions"])
    histories = {name: len(results.models[name].history) for name in ("baseline", "pruned", "qat", "pqat")}
    assert histories == {"baseline": 10, "pruned": 3, "qat": 1, "pqat": 1}


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_the_float_reference_and_what_each_file_changed(full_run) -> None:
    results, *_, run_dir = full_run
    models = results.models
    reference = models["float"].tflite
    assert (run_dir / "models" / "float.tflite").is_file()
    # The float .tflite computes what the Keras baseline does.
    assert reference.classes == models["baseline"].classes
    assert reference.accuracy == pytest.approx(models["baseline"].keras_accuracy, abs=0.002)
    for name in ("qat", "pqat", "ptq"):
        tflite = models[name].tflite
        changed = tflite.changed
        # Fixed minus broken is exactly the accuracy difference with the reference, in images.
        delta = round((tflite.accuracy - reference.accuracy) * results.dataset.test)
        assert changed.fixed - changed.broken == delta, name
        pictured = [image for image in changed.images if image.pixels]
        assert len(pictured) == min(50, changed.changed) and all(len(i.pixels) == 784 for i in pictured)
        assert sum(tflite.classes.images) == results.dataset.test
        latency = tflite.latency
        assert latency.threads_1.runs >= 200 and 0 < latency.threads_1.p50_ms <= latency.threads_1.p95_ms


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_headless_prints_the_tables(full_run) -> None:
    _, _, printed, _ = full_run
    for heading in (
        "Accuracy on the test set",
        "Per-layer sparsity",
        "TFLite models",
        "PTQ",
        "Latency per image",
        "Accuracy per class",
        "than float",
    ):
        assert heading in printed
    assert "Traceback" not in printed
    assert "…" not in printed[printed.index("Accuracy on the test set") :]  # `run | cat`: 80 columns, no cut


def _record(session: PipelineSession, stage: Stage, stop: threading.Event | None = None) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    session.run_stage(stage, events.append, stop or threading.Event())
    return events


def _one_epoch(seed: int = 0) -> PipelineConfig:
    return PipelineConfig(data="sample", seed=seed, baseline=TrainConfig(epochs=1))


def test_events_of_a_training_stage_and_same_seed_same_numbers() -> None:
    session = PipelineSession(_one_epoch())
    assert isinstance(_record(session, Stage.DATA)[-1], StageFinished)
    first = _record(session, Stage.BASELINE)
    first_result = session.results.models["baseline"]
    first_weights = [w.copy() for w in session._keras[Stage.BASELINE].get_weights()]  # noqa: SLF001

    assert isinstance(first[0], StageStarted) and first[0].epochs == 1
    terminal = [e for e in first if isinstance(e, (StageFinished, StageFailed, StageCancelled))]
    assert len(terminal) == 1 and terminal[0] is first[-1] and isinstance(first[-1], StageFinished)
    epochs = [e for e in first if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epochs[0].metrics)
    batches = [e for e in first if isinstance(e, BatchProgress)]
    assert batches and batches[-1].batch == batches[-1].batches == 113  # 3,600 images / 32
    assert len(batches) < 113  # throttled
    assert any(isinstance(e, LogMessage) for e in first)
    assert first[-1].results.models["baseline"] == first_result

    _record(session, Stage.BASELINE)
    second_weights = session._keras[Stage.BASELINE].get_weights()  # noqa: SLF001
    assert session.results.models["baseline"].keras_accuracy == first_result.keras_accuracy
    assert session.results.models["baseline"].history == first_result.history
    for a, b in zip(first_weights, second_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_stop_mid_training_cancels_quickly_and_keeps_nothing() -> None:
    session = PipelineSession(_one_epoch())
    _record(session, Stage.DATA)
    _record(session, Stage.BASELINE)
    before = session.results.models["baseline"]
    stop = threading.Event()
    events: list[EngineEvent] = []
    stopped_at: list[float] = []

    def emit(event: EngineEvent) -> None:
        events.append(event)
        if isinstance(event, BatchProgress) and not stop.is_set():
            stopped_at.append(time.monotonic())
            stop.set()

    # Re-running the baseline and cancelling it keeps the earlier baseline and its downstream untouched.
    session.run_stage(Stage.BASELINE, emit, stop)
    assert isinstance(events[-1], StageCancelled)
    assert time.monotonic() - stopped_at[0] < 2.0
    assert not any(isinstance(e, (StageFinished, StageFailed, EpochEnded)) for e in events)
    assert session.results.models["baseline"] == before
    assert session.done_stages() == {Stage.DATA, Stage.BASELINE}

    # A first-time stage that is cancelled leaves no output at all.
    stop = threading.Event()
    events.clear()
    stopped_at.clear()
    session.run_stage(Stage.PRUNE, emit, stop)
    assert isinstance(events[-1], StageCancelled)
    assert "pruned" not in session.results.models
    assert Stage.PRUNE not in session.done_stages()
    assert "prune" not in session.results.stage_seconds


def test_rerunning_a_stage_drops_its_downstream(tiny_data: Path) -> None:
    config = PipelineConfig(
        data=str(tiny_data),
        baseline=TrainConfig(epochs=1),
        prune=PruneConfig(epochs=1, learning_rate=1e-5),
    )
    session = PipelineSession(config)
    for stage in (Stage.DATA, Stage.BASELINE, Stage.PRUNE, Stage.PTQ):
        assert isinstance(_record(session, stage)[-1], StageFinished), stage
    assert {"baseline", "pruned", "ptq"} <= set(session.results.models)
    assert session.tflite_model("ptq")
    events = _record(session, Stage.BASELINE)
    assert isinstance(events[-1], StageFinished)
    assert session.done_stages() == {Stage.DATA, Stage.BASELINE}
    assert set(events[-1].results.models) == {"baseline"}
    assert set(events[-1].results.stage_seconds) == {"data", "baseline"}
    assert session.tflite_model("ptq") is None


def test_offline_mnist_falls_back_to_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras-home"))
    session = PipelineSession(PipelineConfig(data="mnist"))
    events = _record(session, Stage.DATA)
    assert isinstance(events[-1], StageFinished)
    info = session.results.dataset
    assert info is not None and info.source == "mnist" and info.train == 4000
    assert info.note and "bundled sample" in info.note and "mnist" in info.note
    assert info.loaded_from and info.loaded_from.endswith("mnist-sample.npz")
    warnings = [e for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert warnings and warnings[0].text == info.note
    assert "\n" not in info.note


def test_fast_conversion_matches_the_examples_converter() -> None:
    """convert_keras skips the SavedModel export; the .tflite must compute exactly what the example's does."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    from ai_edge_litert.interpreter import Interpreter

    from engine.conversion import convert_keras
    from engine.data import load_dataset
    from engine.measure import tflite_weight_sparsity
    from engine.tf_runtime import load_tensorflow
    from engine.training import build_model

    load_tensorflow()
    model = tfmot.quantization.keras.quantize_model(build_model())
    ours = convert_keras(model)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Statistics for quantized inputs were expected"
        examples = converter.convert()

    assert abs(len(ours) - len(examples)) <= 0.01 * len(examples)
    assert tflite_weight_sparsity(ours, ("conv2d", "dense")) == tflite_weight_sparsity(
        examples, ("conv2d", "dense")
    )
    images = load_dataset("sample").x_test[:64]
    outputs = []
    for content in (ours, examples):
        interpreter = Interpreter(model_content=content)
        assert interpreter.get_signature_list() == {
            "serving_default": {"inputs": [model.inputs[0].name.split(":")[0]], "outputs": ["quant_dense"]}
        }
        runner = interpreter.get_signature_runner()
        outputs.append(runner(**{model.inputs[0].name.split(":")[0]: images})["quant_dense"])
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.slow
@pytest.mark.xdist_group("full_run")
def test_batched_tflite_accuracy_equals_the_examples_per_image_loop(full_run) -> None:
    """Uneven batches included: 1,000 images in batches of at most 96 are 11 batches of 91 and one of 90."""
    from ai_edge_litert.interpreter import Interpreter

    from engine.data import load_dataset
    from engine.measure import tflite_accuracy

    results, *_, run_dir = full_run
    content = (run_dir / "models" / "pqat.tflite").read_bytes()
    data = load_dataset("sample")
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    hits = 0
    for image, label in zip(data.x_test, data.y_test, strict=True):
        interpreter.set_tensor(input_index, image[np.newaxis])
        interpreter.invoke()
        hits += int(np.argmax(interpreter.get_tensor(output_index)[0]) == label)
    per_image = hits / len(data.y_test)
    assert tflite_accuracy(content, data.x_test, data.y_test, batch=96) == per_image
    assert (
        tflite_accuracy(content, data.x_test, data.y_test)
        == per_image
        == results.models["pqat"].tflite.accuracy
    )


def test_pruning_too_short_to_prune_says_so(tmp_path: Path) -> None:
    """50 images, one epoch: 2 steps, and tfmot updates the masks every 100. The user is told, plainly."""
    raw = np.load(Path(__file__).parent.parent / "assets" / "mnist-sample.npz")
    tiny = tmp_path / "tiny.npz"
    np.savez(
        tiny,
        x_train=raw["x_train"][:50],
        y_train=raw["y_train"][:50],
        x_test=raw["x_test"][:10],
        y_test=raw["y_test"][:10],
    )
    config = PipelineConfig(data=str(tiny), baseline=TrainConfig(epochs=1), prune=PruneConfig(epochs=1))
    session = PipelineSession(config)
    for stage in (Stage.DATA, Stage.BASELINE):
        _record(session, stage)
    events = _record(session, Stage.PRUNE)
    assert isinstance(events[-1], StageFinished)
    warnings_sent = [e.text for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert warnings_sent == [
        "Pruned kernels are 0.0% zeros, short of the 50% target: 2 training steps, masks updated every 100 "
        "from step 0 (lower prune.frequency or add prune epochs)"
    ]


def test_cached_fashion_mnist_is_read_from_keras_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Keras loaders read $KERAS_HOME/datasets when the files are there (tf_keras would not look)."""
    import gzip

    folder = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-labels-idx1-ubyte.gz": np.arange(30, dtype=np.uint8) % 10,
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(12, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
    }
    for name, array in arrays.items():
        header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        (folder / name).write_bytes(gzip.compress(header + array.tobytes()))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    from engine.data import load_dataset

    data = load_dataset("fashion_mnist")
    assert data.info.note is None
    assert (data.info.source, data.info.train, data.info.test) == ("fashion_mnist", 30, 12)
    assert data.info.loaded_from == str(folder)
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(
        data.x_train, (arrays["train-images-idx3-ubyte.gz"] / 255.0).astype(np.float32)
    )
