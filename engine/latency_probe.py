"""Times one .tflite file with the LiteRT interpreter; run as `python -m engine.latency_probe REQUEST.json`.

It runs in a process of its own (see engine.latency), so that nothing of a training session — TensorFlow's
thread pools, warm caches, garbage — weighs on the figures. It imports numpy and LiteRT only, prints one
JSON object on stdout, and exits 1 with one line on stderr when the model cannot be run.

Per-image latency: the model at batch 1, warmed up, then `runs` invokes each timed with perf_counter_ns
(set_tensor and get_tensor stay outside the timed span). Throughput: the input resized to `batch` images,
invoked until `batch_seconds` have passed. Both at 1 thread and at `threads_all` threads, each with a
fresh interpreter, XNNPack on (LiteRT's default delegate).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from engine.tflite_run import as_input


def _interpreter(model: str, threads: int, batch: int) -> tuple[Interpreter, dict]:
    interpreter = Interpreter(model_path=model, num_threads=threads)
    details = interpreter.get_input_details()[0]
    if int(details["shape"][0]) != batch:
        interpreter.resize_tensor_input(details["index"], [batch, *details["shape"][1:]], strict=False)
    interpreter.allocate_tensors()
    return interpreter, interpreter.get_input_details()[0]


def _batch_of(images: np.ndarray, size: int, shape: tuple[int, ...]) -> np.ndarray:
    """`size` of the given test images (cycled), shaped as the model's input; random ones without any."""
    if len(images) == 0 or int(np.prod(images.shape[1:])) != int(np.prod(shape[1:])):
        return np.random.default_rng(0).random((size, *shape[1:]), dtype=np.float32)
    chosen = images[np.arange(size) % len(images)]
    return chosen.reshape((size, *shape[1:]))


def per_image(model: str, images: np.ndarray, threads: int, request: dict[str, Any]) -> dict[str, Any]:
    interpreter, details = _interpreter(model, threads, 1)
    shape = tuple(int(d) for d in details["shape"])
    interpreter.set_tensor(details["index"], as_input(_batch_of(images, 1, shape), details))
    invoke = interpreter.invoke
    warmup_until = time.perf_counter() + request["warmup_seconds"]
    warmups = 0
    while warmups < request["min_warmup"] or time.perf_counter() < warmup_until:
        invoke()
        warmups += 1
    started = time.perf_counter_ns()
    for _ in range(10):
        invoke()
    estimate = max(1, (time.perf_counter_ns() - started) // 10)
    wanted = request["target_seconds"] * 1e9 // estimate
    runs = int(min(request["max_runs"], max(request["min_runs"], wanted)))
    times = np.empty(runs, dtype=np.int64)
    clock = time.perf_counter_ns
    for run in range(runs):
        start = clock()
        invoke()
        times[run] = clock() - start
    p50, p95 = np.percentile(times, [50, 95]) / 1e6
    return {"p50": float(p50), "p95": float(p95), "runs": runs, "threads": threads}


def throughput(model: str, images: np.ndarray, threads: int, request: dict[str, Any]) -> tuple[float, int]:
    """Images a second with `batch` images an invoke; a model whose batch cannot change runs one at a time."""
    batch = request["batch"]
    try:
        interpreter, details = _interpreter(model, threads, batch)
    except (RuntimeError, ValueError):
        batch = 1
        interpreter, details = _interpreter(model, threads, batch)
    shape = tuple(int(d) for d in details["shape"])
    interpreter.set_tensor(details["index"], as_input(_batch_of(images, batch, shape), details))
    interpreter.invoke()  # warm-up
    invokes = 0
    started = time.perf_counter_ns()
    until = started + int(request["batch_seconds"] * 1e9)
    while invokes < 3 or time.perf_counter_ns() < until:
        interpreter.invoke()
        invokes += 1
    elapsed = (time.perf_counter_ns() - started) / 1e9
    return batch * invokes / elapsed, batch


def measure(request: dict[str, Any]) -> dict[str, Any]:
    model = request["model"]
    images = np.load(request["images"]) if request.get("images") else np.zeros((0,), np.float32)
    found: dict[str, Any] = {"latency_ms": {}, "throughput_ips": {}}
    for key, threads in (("threads_1", 1), ("threads_all", request["threads_all"])):
        if key == "threads_all" and threads == 1:
            found["latency_ms"][key] = found["latency_ms"]["threads_1"]
            found["throughput_ips"][key] = found["throughput_ips"]["threads_1"]
            continue
        found["latency_ms"][key] = per_image(model, images, threads, request)
        found["throughput_ips"][key], found["throughput_ips"]["batch"] = throughput(
            model, images, threads, request
        )
    return found


def main(argv: list[str]) -> int:
    try:
        with open(argv[1], encoding="utf-8") as file:
            request = json.load(file)
        print(json.dumps(measure(request)))
    except Exception as error:  # noqa: BLE001 - the parent reports one line, not a traceback
        text = " ".join(str(error).split())
        print(f"{type(error).__name__}: {text}"[:300], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
