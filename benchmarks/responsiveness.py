"""Key-to-screen latency while TensorFlow trains (target: p95 at most 50 ms).

    python benchmarks/responsiveness.py [--presses 40]

Starts `pqat-tui --data sample --epochs 100` in a pseudo-terminal (TensorFlow trains in the app's engine
process, on the same cores), presses `a`, and once the baseline is training presses j and k in turn, timing
each from the key's write to the moment the newly selected stage's panel title reaches the terminal. Prints
the load average too: other processes share the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from pty_app import PtyApp

TARGET_SECONDS = 0.050  # p95
# The panel title each key brings up, from the Baseline (selected while it trains) and, idle, from Data.
KEYS = (("j", "Prune the weights to the target sparsity"), ("k", "Train the float model"))
IDLE_KEYS = (("j", "Train the float model"), ("k", "Load the images and labels"))


def _latencies(app: PtyApp, keys: tuple[tuple[str, str], ...], presses: int) -> list[float]:
    latencies = []
    for index in range(presses):
        key, title = keys[index % 2]
        offset = app.offset
        pressed = app.press(key)
        shown = app.wait_for(title, after=offset, timeout=10)
        latencies.append(shown - pressed)
        time.sleep(0.2)
    return sorted(latencies)


def _p95(latencies: list[float]) -> float:
    return latencies[round(0.95 * (len(latencies) - 1))]


def _summary(latencies: list[float]) -> str:
    median = statistics.median(latencies)
    return (
        f"{len(latencies)} presses: median {median * 1000:.0f} ms, p95 {_p95(latencies) * 1000:.0f} ms, "
        f"worst {latencies[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=40)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # Enough epochs that the baseline trains throughout the presses.
    app = PtyApp(["--data", "sample", "--epochs", "100"], size=(120, 40))
    try:
        app.wait_for("Engine ready", timeout=120)
        idle = _latencies(app, IDLE_KEYS, 10)
        app.press("k")
        app.press("a")
        app.wait_for("epoch 1/", timeout=120)  # the baseline's first batches are on screen
        training = _latencies(app, KEYS, args.presses)
        app.wait_for("batch ", after=app.offset, timeout=10)  # training went on throughout
    finally:
        app.close()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"key to screen, idle, {_summary(idle)}")
    print(
        f"key to screen during training, {_summary(training)} "
        f"(target p95 <= {TARGET_SECONDS * 1000:.0f} ms; p95/target = {_p95(training) / TARGET_SECONDS:.2f}, "
        f"median/target = {statistics.median(training) / TARGET_SECONDS:.2f})"
    )


if __name__ == "__main__":
    main()
