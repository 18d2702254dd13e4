"""Wall time of `pqat-tui report` on a recorded results file, per format (target: well under a second).

Usage: PYTHONPATH=$PWD python benchmarks/report_timing.py [RESULTS.json] [RUNS]
Each run is a fresh interpreter, as a user's command is, so imports are counted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "tests" / "data" / "sample_results.json"
TARGET_SECONDS = 1.0


def time_command(args: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_RESULTS
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    python = [sys.executable]
    baseline = statistics.median(time_command([*python, "-c", "pass"], runs))
    print(f"python startup alone: {baseline:.3f} s (median of {runs})")
    worst = 0.0
    with tempfile.TemporaryDirectory() as out:
        for fmt in ("txt", "md", "html", "svg", "json"):
            target = Path(out) / f"report.{fmt}"
            args = [*python, "-m", "pqat_tui", "report", str(results), "--format", fmt, "-o", str(target)]
            median = statistics.median(time_command(args, runs))
            worst = max(worst, median)
            print(f"pqat-tui report --format {fmt:4}: {median:.3f} s (median of {runs})")
    print(f"slowest format: {worst:.3f} s = {worst / TARGET_SECONDS:.2f} x the 1 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
