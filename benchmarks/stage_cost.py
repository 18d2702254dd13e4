"""The figures engine/stage_cost.py estimates from: the first training step (trace + one batch) of each
technique, measured in a fresh process per technique, as CPU seconds (robust to a shared machine's load)
and wall seconds, with the peak memory it added.

    python benchmarks/stage_cost.py [--model mobilenet|mnist] [--timeout 900] [--only cqat,pcqat]

Prints one row per technique and its ratio to plain training (the FIRST_STEP_FACTOR table). One TensorFlow
thread per process, so the figures compare across techniques and machines of one core speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TECHNIQUES = ("train", "qat", "pqat", "cluster", "prune", "cqat", "pcqat")

SCHEMES = {
    "qat": "default",
    "pqat": "prune_preserve",
    "cqat": "cluster_preserve",
    "pcqat": "prune_cluster_preserve",
}


def child(which: str, technique: str) -> None:
    """Measure one technique's first step in this (fresh) process; print one JSON line."""
    import resource

    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    import numpy as np
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    from engine.collab_qat import quantize_scheme
    from engine.stage_cost import model_size
    from engine.training import build_model

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if which == "mnist":
        model = build_model()
    else:
        model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    size = model_size(model)
    callbacks = []
    clustering = tfmot.clustering.keras
    if technique == "prune":
        model = tfmot.sparsity.keras.prune_low_magnitude(model)
        callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    elif technique == "cluster":
        model = clustering.cluster_weights(model, number_of_clusters=16)
    elif technique != "train":
        if technique in ("cqat", "pcqat"):
            model = clustering.strip_clustering(clustering.cluster_weights(model, number_of_clusters=16))
        annotated = tfmot.quantization.keras.quantize_annotate_model(model)
        model = tfmot.quantization.keras.quantize_apply(annotated, quantize_scheme(SCHEMES[technique]))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.rand(96, *model.inputs[0].shape[1:]).astype("float32")
    y = np.random.randint(0, 10, 96)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, wall = time.process_time(), time.perf_counter()
    model.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
    first_cpu, first_wall = time.process_time() - cpu, time.perf_counter() - wall
    cpu = time.process_time()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
    step_cpu = (time.process_time() - cpu) / 3
    added = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    row = {
        "first_cpu_s": first_cpu,
        "first_wall_s": first_wall,
        "step_cpu_s": step_cpu,
        "added_bytes": added,
        "layers": size.layers,
        "params": size.params,
    }
    print(json.dumps(row), flush=True)


def measure(model: str, technique: str, timeout: float) -> dict | None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", model, technique],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-2000:])
        return None
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("mobilenet", "mnist"), default="mobilenet")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a technique may take")
    parser.add_argument("--only", default=",".join(TECHNIQUES), help="comma-separated techniques")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    print(f"{args.model}: first training step per technique (load average {os.getloadavg()[0]:.1f})")
    print(
        f"{'technique':10s} {'first CPU s':>11s} {'x train':>8s} {'first wall s':>12s} "
        f"{'step CPU s':>10s} {'added GB':>9s}"
    )
    train_cpu = None
    for technique in args.only.split(","):
        started = time.perf_counter()
        row = measure(args.model, technique, args.timeout)
        if row is None:
            print(f"{technique:10s} did not finish in {time.perf_counter() - started:.0f} s")
            continue
        if technique == "train":
            train_cpu = row["first_cpu_s"]
        ratio = f"{row['first_cpu_s'] / train_cpu:8.1f}" if train_cpu else f"{'':>8s}"
        print(
            f"{technique:10s} {row['first_cpu_s']:11.1f} {ratio} {row['first_wall_s']:12.1f} "
            f"{row['step_cpu_s']:10.3f} {row['added_bytes'] / 1e9:9.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
