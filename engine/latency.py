"""How fast a .tflite file runs on this machine's CPU, measured in a fresh process, and how to say it.

`measure_latency` writes the model and a few test images to a temporary folder and runs engine.latency_probe
in a child Python process (numpy and LiteRT only), so that a training session's threads and memory do not
distort the figures. The stop event is read every 50 ms; a set stop kills the child at once.

`speed_versus` words a comparison plainly, including a slow-down: int8 is often *slower* than float for a
model this small, and zeros alone never make XNNPack's dense kernels faster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engine.evaluation_results import Latency, latency_from_json
from engine.strict_json import Node
from engine.tflite_run import available_cores

# Two figures closer than this are "about the same speed": shared machines jitter by a few percent.
SAME_SPEED = 1.10
POLL_SECONDS = 0.05
# The probe's images: enough variety for a realistic input, few enough to write in no time.
PROBE_IMAGES = 64


class LatencyError(Exception):
    """The probe could not time the model; the message is one line."""


@dataclass(frozen=True)
class LatencySettings:
    """How long to time: at least `min_runs` invokes per figure, more for fast models (up to
    `target_seconds` of invokes, at most `max_runs`)."""

    min_runs: int = 200
    max_runs: int = 3000
    target_seconds: float = 0.4
    min_warmup: int = 20
    warmup_seconds: float = 0.1
    batch: int = 32
    batch_seconds: float = 0.3
    timeout_seconds: float = 600.0


def measure_latency(
    content: bytes,
    images: np.ndarray,
    stop: threading.Event,
    settings: LatencySettings | None = None,
    threads_all: int | None = None,
) -> Latency | None:
    """Time a .tflite file in a child process; None if `stop` was set meanwhile (the child is killed)."""
    settings = settings or LatencySettings()
    with tempfile.TemporaryDirectory(prefix="pqat-latency-") as folder:
        model = Path(folder) / "model.tflite"
        model.write_bytes(content)
        sample = Path(folder) / "images.npy"
        np.save(sample, np.asarray(images[:PROBE_IMAGES], dtype=np.float32))
        request = Path(folder) / "request.json"
        request.write_text(
            json.dumps(
                {
                    **asdict(settings),
                    "model": str(model),
                    "images": str(sample),
                    "threads_all": threads_all or available_cores(),
                }
            ),
            encoding="utf-8",
        )
        output = _run_probe(request, stop, settings.timeout_seconds)
    if output is None:
        return None
    data = Node(json.loads(output), "latency probe")  # it writes the very keys results.json uses
    latency = latency_from_json(data.key("latency_ms"), data.key("throughput_ips"))
    assert latency is not None
    return latency


def _run_probe(request: Path, stop: threading.Event, timeout: float) -> str | None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.latency_probe", str(request)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            out, err = process.communicate(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if stop.is_set() or time.monotonic() > deadline:
                process.kill()
                process.communicate()
                if stop.is_set():
                    return None
                raise LatencyError(f"timing the model took longer than {timeout:.0f} s") from None
    if process.returncode != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        raise LatencyError(lines[-1] if lines else f"the latency probe exited with {process.returncode}")
    return out


def format_ms(milliseconds: float) -> str:
    """`7.3 µs`, `0.21 ms`, `2.2 ms`, `15 ms`: three significant figures at most, in the fitting unit."""
    if milliseconds < 0.1:
        return f"{milliseconds * 1000:.1f} µs"
    if milliseconds < 1:
        return f"{milliseconds:.2f} ms"
    if milliseconds < 10:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds:.0f} ms"


def speed_versus(milliseconds: float, reference_ms: float, reference: str = "float") -> str:
    """`1.4x faster than float`, `2.1x slower than float`, or `no faster than float` within 10%."""
    if milliseconds <= 0 or reference_ms <= 0:
        return ""
    ratio = reference_ms / milliseconds
    if ratio >= SAME_SPEED:
        return f"{ratio:.1f}x faster than {reference}"
    if ratio <= 1 / SAME_SPEED:
        return f"{1 / ratio:.1f}x slower than {reference}"
    return f"no faster than {reference} ({ratio:.2f}x)"
