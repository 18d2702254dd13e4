"""`strategy`: the training stages under tf.distribute. Each run is a process of its own, since devices and a
multi-worker strategy must be set up before TensorFlow runs anything: `mirrored` over two logical CPU
devices against `default`, and `multiworker` as two worker processes on localhost."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.real_engine, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent

# Runs the stages up to Evaluate under each strategy named on the command line; prints one JSON line.
SCRIPT = """
import json, sys, threading
from engine.tf_runtime import load_tensorflow
load_tensorflow()
import tensorflow as tf
if sys.argv[2] == "two-cpus":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from engine.config import PipelineConfig, PruneConfig, TrainConfig
from engine.conversion import convert_keras
from engine.events import LogMessage, StageFinished
from engine.measure import tflite_weight_sparsity
from engine.pipeline import PipelineSession
from engine.stages import Stage
found = {}
for strategy in sys.argv[3:]:
    config = PipelineConfig(
        data=sys.argv[1], strategy=strategy, baseline=TrainConfig(epochs=1),
        prune=PruneConfig(epochs=1, learning_rate=1e-5, frequency=10),
    )
    session = PipelineSession(config)
    said = []
    for stage in (Stage.DATA, Stage.BASELINE, Stage.PRUNE, Stage.PQAT):
        events = []
        session.run_stage(stage, events.append, threading.Event())
        assert isinstance(events[-1], StageFinished), (stage, events[-1])
        said += [e.text for e in events if isinstance(e, LogMessage) and e.text.startswith("Training")]
    models = session.results.models
    pqat_file = convert_keras(session.keras_model(Stage.PQAT))
    found[strategy] = {
        "said": said,
        "accuracy": {name: models[name].keras_accuracy for name in ("baseline", "pruned", "pqat")},
        "sparsity": [w.fraction for name in ("pruned", "pqat") for w in models[name].kernel_sparsity()],
        "tflite_sparsity": [w.fraction for w in tflite_weight_sparsity(pqat_file)],
    }
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 training and 300 test digits of the sample: enough to learn, quick to train on two devices."""
    raw = np.load(ROOT / "assets" / "mnist-sample.npz")
    path = tmp_path_factory.mktemp("subset") / "digits.npz"
    np.savez(path, x_train=raw["x_train"][:1200], y_train=raw["y_train"][:1200], x_test=raw["x_test"][:300],
             y_test=raw["y_test"][:300])  # fmt: skip
    return path


def _run(data: Path, devices: str, *strategies: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(data), devices, *strategies],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def _result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def _assert_close(one: dict, other: dict) -> None:
    """Sparsity kept (50% in the pruned and PQAT kernels, in Keras and in the PQAT .tflite) and accuracy
    within 2 points of each other."""
    for found in (one, other):
        for fraction in (*found["sparsity"], *found["tflite_sparsity"]):
            assert abs(fraction - 0.5) <= 0.005, found
    for name in ("baseline", "pruned", "pqat"):
        assert abs(one["accuracy"][name] - other["accuracy"][name]) <= 0.02, (name, one, other)


@pytest.fixture(scope="module")
def one_and_two_cpus(subset: Path) -> dict:
    return _result(_run(subset, "two-cpus", "default", "mirrored"))


def test_mirrored_on_two_cpus_keeps_sparsity_and_accuracy(one_and_two_cpus: dict) -> None:
    assert one_and_two_cpus["mirrored"]["said"] == [
        "Training under MirroredStrategy over 2 device(s): /job:localhost/replica:0/task:0/device:CPU:0, "
        "/job:localhost/replica:0/task:0/device:CPU:1"
    ]
    assert one_and_two_cpus["default"]["said"] == []
    _assert_close(one_and_two_cpus["default"], one_and_two_cpus["mirrored"])


def test_two_workers_train_together(subset: Path, one_and_two_cpus: dict) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [
        _run(
            subset,
            "one-cpu",
            "multiworker",
            env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})},
        )
        for task in ({"type": "worker", "index": 0}, {"type": "worker", "index": 1})
    ]
    chief, other = (_result(worker)["multiworker"] for worker in workers)
    assert chief["said"] == [
        "Training under MultiWorkerMirroredStrategy: 2 replica(s) in all, this is worker 0"
    ]
    assert other["said"] == [
        "Training under MultiWorkerMirroredStrategy: 2 replica(s) in all, this is worker 1"
    ]
    assert chief["accuracy"] == other["accuracy"]  # one model, trained together
    _assert_close(one_and_two_cpus["default"], chief)
