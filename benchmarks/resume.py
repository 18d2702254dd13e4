"""Cold run vs resumed run with an unchanged config, on the bundled sample (target: resume < 10% of cold).

Usage: PYTHONPATH=$PWD python benchmarks/resume.py [EXTRA RUN OPTIONS...]
Both are fresh `pqat-tui run` processes, as a user's commands are, so imports are counted. With no extra
options the cold run is the product's default pipeline (10 baseline epochs, the example's settings); pass
e.g. `--epochs 1 --prune-epochs 1` for a quicker look. A third run changes prune.sparsity, for scale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.10


def timed_run(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    command = [sys.executable, "-m", "pqat_tui", "run", *args]
    subprocess.run(command, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def started_stages(run_dir: Path) -> int:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return sum(1 for line in lines if json.loads(line)["event"] == "StageStarted")


def main() -> int:
    extra = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="pqat-resume-bench-") as scratch:
        cwd = Path(scratch)
        run_dir = cwd / "runs" / "bench"
        cold = timed_run(["--data", "sample", *extra, "--run-dir", str(run_dir)], cwd)
        stages = started_stages(run_dir)
        print(f"cold run:           {cold:7.2f} s  ({stages} stages run)")
        resumed = timed_run(["--resume", str(run_dir)], cwd)
        rerun = started_stages(run_dir) - stages
        print(f"resumed, unchanged: {resumed:7.2f} s  ({rerun} stages run)")
        before = started_stages(run_dir)
        changed = timed_run(["--resume", str(run_dir), "--sparsity", "0.6"], cwd)
        print(f"resumed, --sparsity 0.6: {changed:7.2f} s  ({started_stages(run_dir) - before} stages run)")
    ratio = resumed / cold
    verdict = "meets" if ratio < TARGET_RATIO else "MISSES"
    print(f"resume / cold = {ratio:.1%} ({verdict} the < {TARGET_RATIO:.0%} target)")
    return 0 if ratio < TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
