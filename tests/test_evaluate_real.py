"""The Evaluate stage with the real conversion module (TensorFlow imported), on small .tflite files built by
tflite_fixtures: accuracy per class, changes against the float reference, latency, and stopping."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from tflite_fixtures import CLASSES, INPUT_SIZE, tiny_classifier

from engine.data import Dataset, Split
from engine.events import EngineEvent, LogMessage
from engine.latency import LatencySettings
from engine.results import DatasetInfo, TFLiteInfo

pytestmark = [pytest.mark.real_engine, pytest.mark.slow]

FAST = LatencySettings(
    min_runs=200, max_runs=300, target_seconds=0.05, warmup_seconds=0.01, batch_seconds=0.05
)


def _data(images: int = 200) -> Dataset:
    """Random 1x8 single-channel "images" (the tiny classifier's 8 inputs), four classes."""
    rng = np.random.default_rng(5)
    x = rng.random((images, 1, INPUT_SIZE, 1), dtype=np.float32)
    y = rng.integers(0, CLASSES, images)
    info = DatasetInfo("test", images, images, tuple(int(n) for n in np.bincount(y, minlength=CLASSES)))
    split = Split(y, x, pixel_divisor=1.0)
    return Dataset(split, split, (1, INPUT_SIZE, 1), tuple(str(c) for c in range(CLASSES)), info)


def _converted() -> dict:
    from engine.conversion import ConvertedModel

    return {
        name: ConvertedModel(tiny_classifier(seed=seed), TFLiteInfo(900, 700))
        for name, seed in (("pqat", 1), ("float", 0), ("qat", 0))
    }


def test_evaluate_fills_every_figure_against_the_float_reference() -> None:
    from engine.conversion import evaluate_stage

    data = _data()
    events: list[EngineEvent] = []
    evaluated = evaluate_stage(_converted(), data, events.append, threading.Event(), FAST)
    assert list(evaluated) == ["float", "pqat", "qat"]  # the reference first
    reference, pqat, qat = (evaluated[n].info for n in ("float", "pqat", "qat"))
    assert reference.changed is None and reference.latency is not None
    # QAT here is the very same file as float: nothing changed. PQAT has other weights.
    assert qat.changed is not None and qat.changed.changed == 0 and qat.accuracy == reference.accuracy
    assert pqat.changed is not None and pqat.changed.changed > 0
    assert len(pqat.classes.per_class) == CLASSES and sum(pqat.classes.images) == len(data.test)
    right = sum(pqat.classes.confusion[c][c] for c in range(CLASSES))
    assert right / len(data.test) == pytest.approx(pqat.accuracy)
    assert pqat.latency.threads_1.runs >= 200 and pqat.latency.threads_1.threads == 1
    lines = [e.text for e in events if isinstance(e, LogMessage)]
    assert lines[1].startswith("PQAT .tflite: accuracy") and "than float" in lines[1] and "fixed" in lines[1]


def test_a_stop_during_timing_ends_evaluate_within_a_second() -> None:
    from engine.conversion import evaluate_stage
    from engine.training import StageStopped

    stop = threading.Event()
    forever = LatencySettings(min_runs=10**8, max_runs=10**8, target_seconds=10**4)
    threading.Timer(1.0, stop.set).start()
    started = time.monotonic()
    with pytest.raises(StageStopped):
        evaluate_stage(_converted(), _data(), lambda event: None, stop, forever)
    assert time.monotonic() - started < 3.0
