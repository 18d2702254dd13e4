"""Peak memory of the same run on a folder of 5,000 and of 50,000 images (target: at most 300 MB more).

Usage: PYTHONPATH=$PWD python benchmarks/memory.py [--streamed] [EXTRA RUN OPTIONS...]
Both folders are made from the bundled sample in a temporary folder: one sub-folder per class, 28x28 grey
PNGs (past the sample's 5,000 digits, copies shifted by a pixel or two, so every file differs). Each run is a
fresh `pqat-tui run` process whose peak resident memory (ru_maxrss, from wait4) is read when it ends. The run
is one epoch a stage by default (`--epochs 1 --prune-epochs 1`): every stage still reads every image.
`--streamed` also measures both with the decoded-image cache off (PQAT_TUI_CACHE_BYTES=0), so that every
epoch decodes the files from disk, as for a folder larger than memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIZES = (5_000, 50_000)
TARGET_MB = 300
QUICK = ["--epochs", "1", "--prune-epochs", "1"]


def make_folder(root: Path, count: int) -> Path:
    """`count` sample digits as PNGs in class folders; beyond the sample, shifted copies."""
    sys.path.insert(0, str(REPO))
    from engine.tf_runtime import load_tensorflow

    load_tensorflow()
    import tensorflow as tf

    raw = np.load(REPO / "assets" / "mnist-sample.npz")
    images = np.concatenate([raw["x_train"], raw["x_test"]])
    labels = np.concatenate([raw["y_train"], raw["y_test"]])
    for label in range(10):
        (root / f"digit_{label}").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        source = index % len(images)
        shift = index // len(images)
        image = (
            np.roll(images[source], (shift % 3 - 1, shift // 3 % 3 - 1), axis=(0, 1))
            if shift
            else images[source]
        )
        png = tf.io.encode_png(image[..., np.newaxis]).numpy()
        (root / f"digit_{labels[source]}" / f"{index:06d}.png").write_bytes(png)
    return root


def peak_rss_mb(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(peak resident MB, seconds) of one `pqat-tui run` process."""
    command = [sys.executable, "-m", "pqat_tui", "run", *args]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"pqat-tui run {' '.join(args)} exited {process.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start  # ru_maxrss is in KiB on Linux


def main() -> int:
    extra = sys.argv[1:]
    streamed = "--streamed" in extra
    extra = [arg for arg in extra if arg != "--streamed"] or QUICK
    modes = [("cached when it fits", {})]
    if streamed:
        modes.append(("streamed (cache off)", {"PQAT_TUI_CACHE_BYTES": "0"}))
    verdict = 0
    with tempfile.TemporaryDirectory(prefix="pqat-memory-bench-") as scratch:
        cwd = Path(scratch)
        folders = {count: make_folder(cwd / f"images-{count}", count) for count in SIZES}
        for title, variables in modes:
            env = {**os.environ, "PYTHONPATH": str(REPO), **variables}
            peaks = {}
            for count, folder in folders.items():
                run_dir = cwd / "runs" / f"{count}-{len(variables)}"
                peak, seconds = peak_rss_mb(
                    ["--data", str(folder), *extra, "--run-dir", str(run_dir)], cwd, env
                )
                peaks[count] = peak
                print(f"{title:>22}: {count:6,} images  peak RSS {peak:7.1f} MB  ({seconds:5.1f} s)")
            more = peaks[SIZES[1]] - peaks[SIZES[0]]
            meets = more <= TARGET_MB
            verdict |= 0 if meets else 1
            print(
                f"{title:>22}: {SIZES[1]:,} images take {more:+.1f} MB over {SIZES[0]:,} "
                f"({'meets' if meets else 'MISSES'} the <= {TARGET_MB} MB target)"
            )
    return verdict


if __name__ == "__main__":
    sys.exit(main())
