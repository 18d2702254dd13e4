"""Per-class accuracy, confusion, changed predictions and latency: the engine's parts, without TensorFlow.

The latency probe runs for real, in its own process, on a model built by tflite_fixtures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from tflite_fixtures import INPUT_SIZE, tiny_classifier, tiny_weights

from engine.classification import array_batches, class_accuracy, evaluate, thumbnail
from engine.evaluation_results import (
    CHANGED_LISTED,
    CHANGED_PICTURES,
    ChangedImage,
    ChangedPredictions,
    ClassAccuracy,
    Latency,
    LatencyStats,
)
from engine.latency import LatencySettings, format_ms, measure_latency, speed_versus
from engine.results import ModelResult, RunResults, TFLiteInfo
from engine.tflite_run import TFLitePredictor

FAST = LatencySettings(
    min_runs=200, max_runs=400, target_seconds=0.05, warmup_seconds=0.01, batch_seconds=0.05
)


def test_confusion_rows_are_true_classes_and_per_class_is_the_diagonal_share() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    predictions = np.array([0, 0, 1, 1, 2, 2])
    classes = class_accuracy(labels, predictions, num_classes=4)
    assert classes.confusion == ((2, 1, 0, 0), (0, 1, 1, 0), (0, 0, 1, 0), (0, 0, 0, 0))
    assert classes.per_class == (pytest.approx(2 / 3), 0.5, 1.0, None)  # no image of class 3
    assert classes.images == (3, 2, 1, 0)


def test_changed_predictions_are_counted_and_listed_broken_first() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5])
    baseline = np.array([0, 1, 9, 3, 9, 5])  # wrong on images 2 and 4
    model = np.array([0, 7, 2, 3, 8, 5])  # breaks 1, fixes 2, wrong differently on 4
    images = np.linspace(0, 1, 6 * 28 * 28, dtype=np.float32).reshape(6, 28, 28)
    lookup = {image.tobytes(): model[i] for i, image in enumerate(images)}

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.array([lookup[image.tobytes()] for image in batch])

    result = evaluate(predict, array_batches(images, labels, size=4), 10, baseline)
    changed = result.changed
    assert changed is not None and (changed.fixed, changed.broken, changed.other) == (1, 1, 1)
    assert [(i.index, i.kind) for i in changed.images] == [(1, "broken"), (2, "fixed"), (4, "other")]
    assert changed.images[0] == ChangedImage(1, 1, 1, 7, thumbnail(images[1]))
    assert result.accuracy == pytest.approx(4 / 6)
    assert evaluate(predict, array_batches(images, labels), 10).changed is None


def test_changed_images_are_bounded_and_only_the_first_carry_pictures() -> None:
    count = CHANGED_LISTED + 100
    labels = np.zeros(count, dtype=np.int64)
    images = np.zeros((count, 28, 28), dtype=np.float32)
    result = evaluate(lambda batch: np.ones(len(batch)), array_batches(images, labels), 10, labels.copy())
    changed = result.changed
    assert changed is not None and changed.broken == count
    assert len(changed.images) == CHANGED_LISTED
    assert sum(1 for image in changed.images if image.pixels) == CHANGED_PICTURES


def test_thumbnails_are_28x28_grayscale_whatever_the_image() -> None:
    assert len(thumbnail(np.ones((28, 28), np.float32))) == 784
    rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    rgb[:, :, 0] = 255
    assert set(thumbnail(rgb)) == {85}  # red channel averaged with two dark ones
    assert thumbnail(np.full((56, 56), 0.5, np.float32)) == bytes([128]) * 784


def test_tflite_predictor_batches_give_the_dense_layers_argmax() -> None:
    weights, bias = tiny_weights()
    images = np.random.default_rng(3).random((300, INPUT_SIZE), dtype=np.float32)
    predictions = TFLitePredictor(tiny_classifier(), batch=64)(images)
    np.testing.assert_array_equal(predictions, np.argmax(images @ weights.T + bias, axis=1))


def test_results_json_round_trips_the_new_keys_and_old_files_still_load() -> None:
    tflite = TFLiteInfo(
        1000,
        800,
        0.9,
        latency=Latency(LatencyStats(0.21, 0.3, 500, 1), LatencyStats(0.1, 0.2, 500, 4), 4000.0, 9000.0, 32),
        classes=ClassAccuracy((1.0, 0.5), ((3, 0), (1, 1))),
        changed=ChangedPredictions(2, 1, 0, (ChangedImage(4, 1, 1, 0, bytes(784)), ChangedImage(7, 0, 1, 0))),
    )
    results = RunResults(
        models={
            "float": ModelResult(tflite=TFLiteInfo(3000, 2800, 0.9)),
            "pqat": ModelResult(0.91, tflite=tflite, classes=ClassAccuracy((0.9, None), ((9, 1), (0, 0)))),
        }
    )
    data = json.loads(json.dumps(results.to_json()))
    assert RunResults.from_json(data) == results
    pqat = data["models"]["pqat"]
    assert pqat["tflite"]["latency_ms"] == {
        "threads_1": {"p50": 0.21, "p95": 0.3, "runs": 500, "threads": 1},
        "threads_all": {"p50": 0.1, "p95": 0.2, "runs": 500, "threads": 4},
    }
    assert pqat["tflite"]["throughput_ips"] == {"threads_1": 4000.0, "threads_all": 9000.0, "batch": 32}
    assert pqat["tflite"]["per_class_accuracy"] == [1.0, 0.5]
    assert pqat["tflite"]["changed_vs_baseline"] == {"fixed": 2, "broken": 1, "other": 0}
    assert (
        "pixels" in pqat["tflite"]["changed_images"][0]
        and "pixels" not in pqat["tflite"]["changed_images"][1]
    )
    assert pqat["per_class_accuracy"] == [0.9, None] and pqat["confusion"] == [[9, 1], [0, 0]]
    # A file from before these keys: they are simply absent.
    for key in ("latency_ms", "throughput_ips", "per_class_accuracy", "confusion", "changed_vs_baseline"):
        del pqat["tflite"][key]
    del pqat["per_class_accuracy"], pqat["confusion"]
    old = RunResults.from_json(data).models["pqat"]
    assert old.classes is None and old.tflite.latency is None and old.tflite.changed is None


def test_latency_is_measured_in_a_fresh_process() -> None:
    images = np.random.default_rng(0).random((10, INPUT_SIZE), dtype=np.float32)
    latency = measure_latency(tiny_classifier(), images, threading.Event(), FAST, threads_all=2)
    assert latency is not None
    for stats, threads in ((latency.threads_1, 1), (latency.threads_all, 2)):
        assert stats.threads == threads and 200 <= stats.runs <= 400
        assert 0 < stats.p50_ms <= stats.p95_ms < 50
    assert latency.batch == 32 and latency.throughput_1 and latency.throughput_all


def test_stop_kills_the_probe_at_once() -> None:
    stop = threading.Event()
    slow = LatencySettings(min_runs=10_000_000, max_runs=10_000_000, target_seconds=1000)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert measure_latency(tiny_classifier(), np.zeros((1, INPUT_SIZE)), stop, slow) is None
    assert time.monotonic() - started < 3


def test_a_model_the_probe_cannot_run_is_one_line() -> None:
    from engine.latency import LatencyError

    with pytest.raises(LatencyError) as raised:
        measure_latency(tiny_classifier(custom_op=True), np.zeros((1, INPUT_SIZE)), threading.Event(), FAST)
    assert "\n" not in str(raised.value) and "vendor-npu" in str(raised.value)


def test_the_probe_imports_no_tensorflow() -> None:
    code = "import sys, engine.latency_probe; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not {"tensorflow", "tf_keras", "textual", "rich"} & set(eval(out))  # noqa: S307


@pytest.mark.parametrize(
    ("ms", "reference", "said"),
    [
        (0.21, 0.294, "1.4x faster than float"),
        (0.034, 0.016, "2.1x slower than float"),
        (0.0101, 0.0100, "no faster than float (0.99x)"),
        (0.0095, 0.0100, "no faster than float (1.05x)"),
    ],
)
def test_speed_is_said_plainly_slow_downs_included(ms: float, reference: float, said: str) -> None:
    assert speed_versus(ms, reference) == said


def test_durations_read_in_the_fitting_unit() -> None:
    assert [format_ms(v) for v in (0.0073, 0.21, 2.2, 15.4)] == ["7.3 µs", "0.21 ms", "2.2 ms", "15 ms"]
