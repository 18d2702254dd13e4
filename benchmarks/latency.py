"""Do our latency figures hold? engine.latency (a fresh process per file) against a plain LiteRT timing loop
on the same files (target: within 10% of each other), and, for a larger model, against LiteRT's own
benchmark tool (`python -m ai_edge_litert.tools.benchmark_litert_model`, which rounds to 0.01 ms).

    python benchmarks/latency.py [FILE.tflite ...] [--rounds 3] [--no-build] [--no-tool]

Without files it times tests/data/pqat_sample.tflite (the example's PQAT file) and builds a MobileNetV2 at
96x96 (random weights) converted to float and to int8, in a child process so that TensorFlow never shares
this process or the timed ones. Every timing runs in its own child process; rounds alternate between the
two methods, and the median of each is compared. On a shared machine, figures jitter: read the ratios.
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


def compare(path: Path, rounds: int, threads: int) -> tuple[float, float]:
    content = path.read_bytes()
    ours: list[float] = []
    plain: list[float] = []
    for _ in range(rounds):
        latency = measure_latency(
            content, np.zeros((0,), np.float32), threading.Event(), LatencySettings(), threads
        )
        assert latency is not None
        ours.append((latency.threads_1 if threads == 1 else latency.threads_all).p50_ms)
        plain.append(plain_in_child(path, threads, PLAIN_RUNS)["p50"])
    return statistics.median(ours), statistics.median(plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true", help="do not build the MobileNetV2 files")
    parser.add_argument("--no-tool", action="store_true", help="skip LiteRT's benchmark tool")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; cores: {available_cores()}")
    with tempfile.TemporaryDirectory(prefix="pqat-latency-bench-") as folder:
        files = list(args.files) or [OUR_EXAMPLE]
        if not args.files and not args.no_build:
            print("building MobileNetV2 96x96 (float, int8) in a child process…")
            files += build_mobilenet(Path(folder))
        worst = 0.0
        for path in files:
            for threads in sorted({1, available_cores()}):
                ours, plain = compare(path, args.rounds, threads)
                ratio = ours / plain
                worst = max(worst, abs(ratio - 1))
                verdict = "agree" if abs(ratio - 1) <= AGREEMENT else "DIFFER"
                print(
                    f"{path.name:36s} {threads} thr: ours {format_ms(ours):>9s}  "
                    f"plain loop {format_ms(plain):>9s}  ours/plain {ratio:.3f}  {verdict}"
                )
            if not args.no_tool:
                ours_one = compare(path, 1, 1)[0]
                tool = tool_median(path)
                if tool is None:
                    print(f"{path.name:36s} benchmark tool: failed")
                elif tool >= 0.5:  # the tool rounds to 0.01 ms: only a larger model gives it a fair figure
                    print(
                        f"{path.name:36s} 1 thr: ours {format_ms(ours_one):>9s}  "
                        f"benchmark tool {format_ms(tool):>9s}  ours/tool {ours_one / tool:.3f}"
                    )
                else:
                    print(f"{path.name:36s} benchmark tool {format_ms(tool)}: too coarse (0.01 ms steps)")
        print(
            f"largest disagreement with the plain loop: {worst:.1%} (target <= {AGREEMENT:.0%}; "
            f"worst/target = {worst / AGREEMENT:.2f})"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--plain":
        print(json.dumps(plain_loop(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
