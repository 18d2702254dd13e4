"""The tf.distribute strategy the training stages run under (`strategy` in the config, `--strategy`).

    default      one device: TensorFlow's default strategy (no distribution)
    mirrored     tf.distribute.MirroredStrategy over every visible GPU (on a machine without one, every
                 logical CPU device: two on a test box, one normally)
    multiworker  tf.distribute.MultiWorkerMirroredStrategy: the workers and this one's task come from
                 TF_CONFIG; run the same command on every worker

Models are built, wrapped by tfmot and compiled inside the strategy's scope, and Keras splits every batch of
the input pipeline across the replicas: `batch_size` is the global batch, each replica computes
batch_size / replicas images a step. Strategies are made once per process and kept: TensorFlow allows one
multi-worker strategy, made before any other operation runs, so the pipeline asks for it first.

Imported only once TensorFlow is loaded (see engine.tf_runtime).
"""

from __future__ import annotations

import json
import os
import threading

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker")
_made: dict[str, tf.distribute.Strategy] = {}
_lock = threading.Lock()


def training_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called `name`, made on first use."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} (expected one of {', '.join(STRATEGIES)})")
    with _lock:
        if name not in _made:
            _made[name] = _make(name)
        return _made[name]


def _make(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "strategy multiworker needs TF_CONFIG (the cluster's workers and this one's task), e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def describe(name: str) -> str:
    """One line on where training runs, for the log."""
    strategy = training_strategy(name)
    if name == "default":
        return "Training on one device (default strategy)"
    replicas = strategy.num_replicas_in_sync
    if name == "multiworker":
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
        return (
            f"Training under MultiWorkerMirroredStrategy: {replicas} replica(s) in all, this is "
            f"{task.get('type', 'worker')} {task.get('index', 0)}"
        )
    devices = ", ".join(strategy.extended.worker_devices)
    return f"Training under MirroredStrategy over {replicas} device(s): {devices}"
