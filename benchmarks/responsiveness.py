"""Key-to-screen latency while TensorFlow trains (target: at most 100 ms).

    python benchmarks/responsiveness.py [--presses 20]

Starts `pqat-tui --data sample` in a pseudo-terminal, presses `a`, and once the baseline is training
presses j and k in turn, timing each from the key's write to the moment the newly selected stage's panel
title reaches the terminal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from pty_app import PtyApp

TARGET_SECONDS = 0.100
# The panel title each key brings up, from the Baseline (selected while it trains) and, idle, from Data.
KEYS = (("j", "prune the weights to the target sparsity"), ("k", "train the float model"))
IDLE_KEYS = (("j", "train the float model"), ("k", "load the images and labels"))


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


def _summary(latencies: list[float]) -> str:
    median = statistics.median(latencies)
    p90 = latencies[int(0.9 * (len(latencies) - 1))]
    return (
        f"{len(latencies)} presses: median {median * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
        f"worst {latencies[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    app = PtyApp(["--data", "sample"], size=(120, 40))
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
    median = statistics.median(training)
    print(f"key to screen, idle, {_summary(idle)}")
    print(
        f"key to screen during training, {_summary(training)} "
        f"(target <= {TARGET_SECONDS * 1000:.0f} ms; median/target = {median / TARGET_SECONDS:.2f})"
    )


if __name__ == "__main__":
    main()
