"""Time to first paint: from launching `pqat-tui --data sample` in a pseudo-terminal to the stage list on
screen (target: at most 0.5 s). TensorFlow loads in the background afterwards and is not waited for.

    python benchmarks/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics

from pty_app import PtyApp

TARGET_SECONDS = 0.5


def first_paint_seconds() -> float:
    app = PtyApp(["--data", "sample"], size=(80, 24))
    try:
        # The last row of the stage list, drawn in the first frame.
        shown = app.wait_for("Compare", timeout=30)
        return shown - app.started
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    times = []
    for round_number in range(1, args.rounds + 1):
        seconds = first_paint_seconds()
        times.append(seconds)
        print(f"round {round_number}: first paint after {seconds:.3f} s")
    median = statistics.median(times)
    print(
        f"first paint: median {median:.3f} s, best {min(times):.3f} s, worst {max(times):.3f} s "
        f"(target <= {TARGET_SECONDS} s; median/target = {median / TARGET_SECONDS:.2f})"
    )


if __name__ == "__main__":
    main()
