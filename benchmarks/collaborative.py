"""Every branch of the collaborative recipe on one data set: wall time, and each deployed model's accuracy,
sizes, zeros, unique values and 2:4 check, side by side.

    python benchmarks/collaborative.py [--data sample] [--json out.json] [--compare-headless]

Runs `engine.recipe_runner.run_recipe(COLLABORATIVE)` with every stage's default settings in this process
and prints:
- the wall time of each stage and of the whole recipe, and its ratio to the `pqat` recipe's eight stages
  (the same stages, timed in the same run), with the load average before and after (timings on a shared
  machine are noisy);
- one row per deployed .tflite file: TFLite accuracy and its change from the float baseline (points), raw and
  zipped KB, the sparse-encoded KB where the recipe makes one, zeros over the kernels, the most unique values
  in one output channel of each kernel, and the 2:4 block check where it applies.
`--compare-headless` also runs `pqat-tui run --data DATA` in a fresh process and checks that the recipe's
`pqat` models give the same accuracies as today's pipeline (what `--recipe pqat` must keep).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.collab_config import CollabConfig  # noqa: E402 - after the path is set
from engine.config import PipelineConfig  # noqa: E402
from engine.recipe import COLLABORATIVE, PQAT  # noqa: E402
from engine.tf_runtime import load_tensorflow  # noqa: E402


def _table(run, baseline: float) -> list[str]:
    header = (
        f"{'model':17s} {'accuracy':>8s} {'vs base':>7s} {'KB':>6s} {'zip KB':>6s} {'sparse':>6s} "
        f"{'zeros':>6s}  unique per channel (conv, dense)  2:4"
    )
    lines = [header, "-" * len(header)]
    for name in COLLABORATIVE.deployed_models():
        deployed = run.deployed[name]
        info = deployed.info
        kernels = info.weight_sparsity
        zeros = sum(w.zeros for w in kernels) / max(1, sum(w.total for w in kernels))
        sparse = (
            f"{deployed.sparse_encoded_bytes / 1000:6.1f}" if deployed.sparse_encoded_bytes else f"{'-':>6s}"
        )
        unique = ", ".join(str(v) for v in deployed.unique_values.values())
        blocks = ""
        if COLLABORATIVE.m_by_n_applies(COLLABORATIVE.stage_of_model(name)):
            blocks = "ok" if deployed.blocks.ok else "FAILED"
        change = (info.accuracy - baseline) * 100
        lines.append(
            f"{name:17s} {info.accuracy:8.4f} {change:+7.1f} {info.bytes / 1000:6.1f} "
            f"{info.zipped_bytes / 1000:6.1f} {sparse} {zeros:6.1%}  {unique:33s} {blocks}"
        )
    return lines


def _headless(data: str) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory(prefix="pqat-collab-bench-") as folder:
        out = Path(folder) / "results.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pqat_tui.cli",
                "run",
                "--data",
                data,
                "--json",
                str(out),
                "--run-dir",
                str(Path(folder) / "run"),
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        models = json.loads(out.read_text())["models"]
    return {
        name: (m["tflite"] or {}).get("accuracy") if name in ("qat", "pqat", "ptq") else m["keras_accuracy"]
        for name, m in models.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="sample", help="data source (default: the bundled sample)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--compare-headless", action="store_true", help="check pqat numbers vs `pqat-tui run`"
    )
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.perf_counter()
    cpu_started = time.process_time()
    load_tensorflow()
    from engine.recipe_runner import run_recipe

    imported = time.perf_counter() - started
    run = run_recipe(
        COLLABORATIVE, PipelineConfig(data=args.data), CollabConfig(), lambda event: None, threading.Event()
    )
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    load_after = os.getloadavg()
    pqat_s = sum(run.seconds[s] for s in PQAT.names())
    total_s = sum(run.seconds.values())
    baseline = run.models["baseline"].keras_accuracy

    print(
        f"collaborative recipe on {args.data}: {wall:.1f} s wall ({imported:.1f} s importing TensorFlow), "
        f"{cpu:.0f} s CPU; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(
        f"stages {total_s:.1f} s, of which the pqat recipe's eight {pqat_s:.1f} s: "
        f"collaborative / pqat = {total_s / pqat_s:.2f}x"
    )
    print("stage seconds: " + ", ".join(f"{s} {run.seconds[s]:.1f}" for s in COLLABORATIVE.names()))
    print(f"float baseline (Keras): accuracy {baseline:.4f}")
    print("\n".join(_table(run, baseline)))

    figures = {
        "data": args.data,
        "wall_s": wall,
        "cpu_s": cpu,
        "load_average": [load_before[0], load_after[0]],
        "stage_seconds": run.seconds,
        "baseline_accuracy": baseline,
        "models": {
            name: {
                "accuracy": d.info.accuracy,
                "bytes": d.info.bytes,
                "zipped_bytes": d.info.zipped_bytes,
                "sparse_encoded_bytes": d.sparse_encoded_bytes,
                "sparse_encoded_accuracy": d.sparse_accuracy,
                "weight_sparsity": {w.name: w.fraction for w in d.info.weight_sparsity},
                "unique_values": d.unique_values,
                "m_by_n": d.blocks.to_json(),
            }
            for name, d in run.deployed.items()
        },
    }
    if args.compare_headless:
        today = _headless(args.data)
        ours = {
            "baseline": baseline,
            "pruned": run.models["pruned"].keras_accuracy,
            **{name: run.deployed[name].info.accuracy for name in ("qat", "pqat", "ptq")},
        }
        same = all(abs((today.get(k) or 0) - v) < 1e-9 for k, v in ours.items())
        print(
            "pqat-tui run (today's pipeline) vs the recipe's pqat stages: "
            + (
                "same accuracies"
                if same
                else "DIFFERENT: " + ", ".join(f"{k} {today.get(k)} vs {v}" for k, v in ours.items())
            )
        )
        figures["headless_same"] = same
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
