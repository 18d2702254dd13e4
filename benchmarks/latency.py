"""Do our latency figures hold? engine.latency (a fresh process per file) against a plain LiteRT timing loop
on the same files (target: within 10% of each other), and, for a larger model, against LiteRT's own
benchmark tool (`python -m ai_edge_litert.tools.benchmark_litert_model`, which rounds to 0.01 ms).

    python benchmarks/latency.py [FILE.tflite ...] [--rounds 5] [--build-dir DIR] [--no-build] [--no-tool]

Without files it times tests/data/pqat_sample.tflite (the example's PQAT file) and a MobileNetV2 at 96x96
(random weights) converted to float and to int8, built in a child process (kept in --build-dir when given)
so that TensorFlow never shares this process or the timed ones. Every timing runs in its own child process;
rounds alternate which method goes first. Other work on a shared machine only ever slows a round down, so
the best round of each method is compared (the target), and the median rounds are shown beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.latency import LatencySettings, format_ms, measure_latency  # noqa: E402
from engine.tflite_run import available_cores  # noqa: E402

AGREEMENT = 0.10
PLAIN_RUNS = 1000
TOOL_RUNS = 500
OUR_EXAMPLE = ROOT / "tests" / "data" / "pqat_sample.tflite"


def plain_loop(path: str, threads: int, runs: int) -> dict[str, float]:
    """What anyone would write: load, set one input, warm up, time `invoke()` many times."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(details["dtype"], np.floating):
        value = rng.random(details["shape"], dtype=np.float32).astype(details["dtype"])
    else:
        info = np.iinfo(details["dtype"])
        value = rng.integers(info.min, info.max, details["shape"]).astype(details["dtype"])
    interpreter.set_tensor(details["index"], value)
    for _ in range(50):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append(time.perf_counter_ns() - start)
    return {"p50": statistics.median(times) / 1e6, "p95": float(np.percentile(times, 95)) / 1e6}


def plain_in_child(path: Path, threads: int, runs: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--plain", str(path), str(threads), str(runs)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def tool_median(path: Path, threads: int = 1) -> float | None:
    """LiteRT's benchmark tool (the CompiledModel API, XNNPack): its median in ms, or None if it fails."""
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "r.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ai_edge_litert.tools.benchmark_litert_model",
                "--model",
                str(path),
                "--num_threads",
                str(threads),
                "--num_runs",
                str(TOOL_RUNS),
                "--result_json",
                str(result),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not result.is_file():
            return None
        return float(json.loads(result.read_text())["latency"]["median_ms"])


def build_mobilenet(folder: Path) -> list[Path]:
    """MobileNetV2 at 96x96x3, random weights, as float and full-int8 .tflite files (in a child process)."""
    code = f"""
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tensorflow as tf, tf_keras as keras
model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, classes=10)
def convert(optimize):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        rng = np.random.default_rng(0)
        images = [rng.random((1, 96, 96, 3), dtype=np.float32) for _ in range(20)]
        converter.representative_dataset = lambda: ([image] for image in images)
    return converter.convert()
open({str(folder / "mobilenet_v2_96_float.tflite")!r}, "wb").write(convert(False))
open({str(folder / "mobilenet_v2_96_int8.tflite")!r}, "wb").write(convert(True))
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return [folder / "mobilenet_v2_96_float.tflite", folder / "mobilenet_v2_96_int8.tflite"]


def ours_in_child(path: Path, threads: int) -> tuple[float, int]:
    """Our median at `threads`, and how many invokes it timed."""
    latency = measure_latency(
        path.read_bytes(), np.zeros((0,), np.float32), threading.Event(), LatencySettings(), threads
    )
    assert latency is not None
    stats = latency.threads_1 if threads == 1 else latency.threads_all
    return stats.p50_ms, stats.runs


def compare(path: Path, rounds: int, threads: int) -> tuple[list[float], list[float]]:
    """Median latency per round of each method, the two taking turns at going first.

    The plain loop times as many invokes as ours did: under load, a longer window meets more preemption,
    so equal windows keep the comparison about the method, not about the machine's other work.
    """
    ours: list[float] = []
    plain: list[float] = []
    runs = PLAIN_RUNS
    for round_number in range(rounds):
        if round_number % 2:
            plain.append(plain_in_child(path, threads, runs)["p50"])
            median, runs = ours_in_child(path, threads)
            ours.append(median)
        else:
            median, runs = ours_in_child(path, threads)
            ours.append(median)
            plain.append(plain_in_child(path, threads, runs)["p50"])
    return ours, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--build-dir", type=Path, help="keep the built MobileNetV2 files here (and reuse them)"
    )
    parser.add_argument("--no-build", action="store_true", help="do not build the MobileNetV2 files")
    parser.add_argument("--no-tool", action="store_true", help="skip LiteRT's benchmark tool")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; cores: {available_cores()}")
    with tempfile.TemporaryDirectory(prefix="pqat-latency-bench-") as folder:
        files = list(args.files) or [OUR_EXAMPLE]
        if not args.files and not args.no_build:
            build_dir = args.build_dir or Path(folder)
            built = [build_dir / "mobilenet_v2_96_float.tflite", build_dir / "mobilenet_v2_96_int8.tflite"]
            if not all(path.is_file() for path in built):
                print("building MobileNetV2 96x96 (float, int8) in a child process…")
                build_dir.mkdir(parents=True, exist_ok=True)
                built = build_mobilenet(build_dir)
            files += built
        worst = 0.0
        for path in files:
            for threads in sorted({1, available_cores()}):
                ours, plain = compare(path, args.rounds, threads)
                ratio = min(ours) / min(plain)
                median_ratio = statistics.median(ours) / statistics.median(plain)
                worst = max(worst, abs(ratio - 1))
                verdict = "agree" if abs(ratio - 1) <= AGREEMENT else "DIFFER"
                print(
                    f"{path.name:30s} {threads} thr: best ours {format_ms(min(ours)):>8s} "
                    f"plain {format_ms(min(plain)):>8s} ratio {ratio:.3f} {verdict}; "
                    f"median rounds ratio {median_ratio:.3f}"
                )
            if not args.no_tool:
                ours_one = min(ours_in_child(path, 1)[0] for _ in range(args.rounds))
                tool = tool_median(path)
                if tool is None:
                    print(f"{path.name:30s} benchmark tool: failed")
                elif tool >= 0.5:  # the tool rounds to 0.01 ms: only a larger model gives it a fair figure
                    print(
                        f"{path.name:30s} 1 thr: best ours {format_ms(ours_one):>8s} "
                        f"benchmark tool {format_ms(tool):>8s} ratio {ours_one / tool:.3f}"
                    )
                else:
                    print(f"{path.name:30s} benchmark tool {format_ms(tool)}: too coarse (0.01 ms steps)")
        print(
            f"largest disagreement with the plain loop (best rounds): {worst:.1%} "
            f"(target <= {AGREEMENT:.0%}; "
            f"worst/target = {worst / AGREEMENT:.2f})"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--plain":
        print(json.dumps(plain_loop(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
