"""The engine against the reference script: wall time, peak memory and TFLite evaluation speed.

    python benchmarks/pipeline.py [--data FILE.npz] [--reference tutorial_pqat.py] [--rounds 2]
                                  [--recipe collaborative]

Runs the reference script (the PQAT example as a plain script) and `pqat-tui run` on the same .npz file,
alternating, each in a fresh process, and prints the wall time and peak resident memory of each and their
ratios (target: engine/reference <= 1.0). Then times TFLite evaluation of one PQAT .tflite file on the
test images: the reference's loop (one `invoke` per image) against the engine's batched evaluation (target:
at least 2x faster). Also checks that the engine's runs, all with seed 0, gave identical numbers.
With `--recipe NAME` each round also runs `pqat-tui run --recipe NAME` (e.g. `collaborative`, every
branch) and prints its wall time and peak memory beside the default `pqat` recipe's, and their ratio.

Timings on a shared machine are noisy: the load average before each run is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# `../shared/reference/` beside the repository (or beside the folder holding this worktree).
DEFAULT_REFERENCE = next(
    (
        folder / "shared" / "reference" / "tutorial_pqat.py"
        for folder in REPO.parents
        if (folder / "shared" / "reference" / "tutorial_pqat.py").is_file()
    ),
    REPO.parent / "shared" / "reference" / "tutorial_pqat.py",
)
DEFAULT_DATA = REPO / "assets" / "mnist-sample.npz"


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float
    load: float
    output: str


def _run(command: list[str], env: dict[str, str]) -> Measured:
    """Run a command to the end; its own peak RSS comes from wait4, so other children never mix in."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        output = process.stdout.read() if process.stdout else ""
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(
                f"{' '.join(command)} exited with status {process.returncode}:\n"
                f"{output[-2000:]}\n{errors.read()[-2000:]}"
            )
    return Measured(wall, usage.ru_maxrss / 1024, load, output)


def _reference_accuracies(output: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "acc" in record:
            found[record["stage"]] = float(record["acc"])
    return found


def _engine_accuracies(results: dict) -> dict[str, float]:
    models = results["models"]
    return {
        "baseline": models["baseline"]["keras_accuracy"],
        "pruned": models["pruned"]["keras_accuracy"],
        "eval_pqat_tflite": models["pqat"]["tflite"]["accuracy"],
        "ptq": models["ptq"]["tflite"]["accuracy"],
    }


def _numbers(results: dict) -> dict:
    """Everything a seed should fix: the results without timings."""
    return {key: value for key, value in results.items() if key not in ("stage_seconds",)}


def compare_pipelines(
    python: str, reference: Path, data: Path, rounds: int, scratch: Path, recipe: str | None = None
) -> Path:
    """Both pipelines (and the engine on `recipe`), alternating; returns the PQAT .tflite file the first
    engine run made."""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    env.pop("KERAS_HOME", None)
    references: list[Measured] = []
    engines: list[Measured] = []
    engine_results: list[dict] = []
    recipes: list[Measured] = []
    for round_number in range(1, rounds + 1):
        ref = _run([python, str(reference), str(data)], env)
        references.append(ref)
        print(
            f"round {round_number} reference: {ref.wall_s:6.1f} s  {ref.peak_rss_mb:6.0f} MB  "
            f"(load {ref.load:.2f})  {_reference_accuracies(ref.output)}",
            flush=True,
        )
        json_path = Path(scratch) / f"engine-{round_number}.json"
        eng = _run(
            [
                *(python, "-m", "pqat_tui", "run", "--data", str(data)),
                *("--json", str(json_path), "--run-dir", str(Path(scratch) / f"run-{round_number}")),
            ],
            {**env, "COLUMNS": "120"},
        )
        engines.append(eng)
        engine_results.append(json.loads(json_path.read_text()))
        stages = {k: round(v, 1) for k, v in engine_results[-1]["stage_seconds"].items()}
        print(
            f"round {round_number} engine:    {eng.wall_s:6.1f} s  {eng.peak_rss_mb:6.0f} MB  "
            f"(load {eng.load:.2f})  {_engine_accuracies(engine_results[-1])}  stages {stages}",
            flush=True,
        )
        if recipe is not None:
            run_dir = Path(scratch) / f"{recipe}-{round_number}"
            measured = _run_recipe(python, data, recipe, run_dir, env)
            recipes.append(measured)
            print(
                f"round {round_number} {recipe}: {measured.wall_s:6.1f} s  {measured.peak_rss_mb:6.0f} MB  "
                f"(load {measured.load:.2f})",
                flush=True,
            )
    ref_wall = statistics.median(m.wall_s for m in references)
    eng_wall = statistics.median(m.wall_s for m in engines)
    ref_rss = max(m.peak_rss_mb for m in references)
    eng_rss = max(m.peak_rss_mb for m in engines)
    print()
    print(f"{'':12}{'wall (median)':>15}{'peak RSS (max)':>17}")
    print(f"{'reference':12}{ref_wall:13.1f} s{ref_rss:14.0f} MB")
    print(f"{'engine':12}{eng_wall:13.1f} s{eng_rss:14.0f} MB")
    ratios = f"{'ratio':12}{eng_wall / ref_wall:15.2f}{eng_rss / ref_rss:17.2f}"
    print(f"{ratios}   (engine / reference; target wall <= 1.0)")
    if recipes:
        wall = statistics.median(m.wall_s for m in recipes)
        rss = max(m.peak_rss_mb for m in recipes)
        print(
            f"{recipe:12}{wall:13.1f} s{rss:14.0f} MB   ({wall / eng_wall:.2f}x the pqat recipe's wall, "
            f"{rss / eng_rss:.2f}x its memory)"
        )
    identical = all(_numbers(r) == _numbers(engine_results[0]) for r in engine_results[1:])
    print(f"engine runs with seed 0 gave identical numbers: {'yes' if identical else 'NO'} ({rounds} runs)")
    return Path(scratch) / "run-1" / "models" / "pqat.tflite"


def _run_recipe(python: str, data: Path, recipe: str, run_dir: Path, env: dict[str, str]) -> Measured:
    """`pqat-tui run --recipe NAME` on the data, in a fresh process."""
    command = [
        python,
        "-m",
        "pqat_tui",
        "run",
        "--data",
        str(data),
        "--recipe",
        recipe,
        "--run-dir",
        str(run_dir),
    ]
    return _run(command, {**env, "COLUMNS": "120"})


def compare_tflite_evaluation(data: Path, trained: Path | None, repeats: int = 15) -> None:
    """One PQAT .tflite file, the same test images: per-image invokes against batched evaluation.

    The file is the first engine run's when there is one, else an untrained PQAT model converted here
    (the speed does not depend on the weights; the accuracy then is chance).
    """
    sys.path.insert(0, str(REPO))
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    import numpy as np
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    from engine.conversion import convert_keras
    from engine.data import load_dataset
    from engine.measure import evaluation_threads, tflite_accuracy
    from engine.training import build_model

    dataset = load_dataset(str(data))
    images, labels = dataset.x_test, dataset.y_test
    if trained is not None and trained.is_file():
        content = trained.read_bytes()
        source = f"trained, {trained}"
    else:
        annotated = tfmot.quantization.keras.quantize_annotate_model(build_model())
        model = tfmot.quantization.keras.quantize_apply(
            annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        )
        content = convert_keras(model)
        source = "untrained"

    # The reference scales with `/ 255.0` into float64 and converts each image as it feeds it.
    reference_images = np.load(data)["x_test"] / 255.0

    def reference_loop() -> float:
        # The reference's eval_model, verbatim but for reading the model from bytes.
        interpreter = tf.lite.Interpreter(model_content=content)
        interpreter.allocate_tensors()
        i = interpreter.get_input_details()[0]["index"]
        o = interpreter.get_output_details()[0]["index"]
        predictions = []
        for image in reference_images:
            interpreter.set_tensor(i, np.expand_dims(image, 0).astype(np.float32))
            interpreter.invoke()
            predictions.append(np.argmax(interpreter.tensor(o)()[0]))
        return float((np.array(predictions) == labels).mean())

    # Interleaved, so that both see the same load on a shared machine.
    methods = {
        "reference per-image loop (tf.lite.Interpreter)": reference_loop,
        "engine batched (LiteRT)": lambda: tflite_accuracy(content, images, labels),
    }
    times: dict[str, list[float]] = {label: [] for label in methods}
    accuracies: dict[str, float] = {}
    for _ in range(repeats):
        for label, method in methods.items():
            started = time.perf_counter()
            accuracies[label] = method()
            times[label].append(time.perf_counter() - started)
    print()
    load = os.getloadavg()[0]
    print(f"TFLite evaluation of {len(images):,} images ({repeats} interleaved repeats, load {load:.2f}):")
    print(f"  PQAT model: {source}; engine threads: {evaluation_threads()}")
    print(f"  {'':48}{'best':>8}{'median':>11}")
    for label in methods:
        best, median = min(times[label]) * 1000, statistics.median(times[label]) * 1000
        print(f"  {label:<48}{best:8.1f}{median:8.1f} ms  accuracy {accuracies[label]:.4f}")
    loop, batched = (times[label] for label in methods)
    print(
        f"  speed-up: {min(loop) / min(batched):.1f}x best, "
        f"{statistics.median(loop) / statistics.median(batched):.1f}x median (target >= 2x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an .npz file (default: the sample)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the reference script")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each (default: 2)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for both (default: this one)")
    parser.add_argument("--skip-pipelines", action="store_true", help="only the TFLite evaluation comparison")
    parser.add_argument(
        "--recipe",
        metavar="NAME",
        help="also time `pqat-tui run --recipe NAME` each round (e.g. collaborative)",
    )
    args = parser.parse_args()
    if not args.reference.is_file():
        raise SystemExit(f"reference script not found: {args.reference} (use --reference PATH)")
    print(f"data {args.data}, {args.rounds} rounds, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="pqat-bench-") as scratch:
        trained = None
        if not args.skip_pipelines:
            trained = compare_pipelines(
                args.python, args.reference, args.data.resolve(), args.rounds, Path(scratch), args.recipe
            )
        compare_tflite_evaluation(args.data.resolve(), trained)


if __name__ == "__main__":
    main()
