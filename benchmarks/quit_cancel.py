"""Quit and cancel while the engine works (targets: quit at most 0.5 s, cancel at most 2 s), in each phase:
loading TensorFlow, tracing the first training step, training, converting to TFLite.

    python benchmarks/quit_cancel.py [--rounds 3]

Each trial starts `pqat-tui` in a pseudo-terminal (the real engine, in its own process), brings it to the
phase, then either cancels (`c`: timed from the key to "cancelled" on screen) or quits (`q`, then `y` to
"stop it and quit": timed from `y` to the app's exit, the terminal given back). Converting starts from a
copy of a run that has every stage done, re-running Convert. Prints each trial, then median and worst per
phase with their ratio to the target, and the load average (other processes share the cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pty_app import REPO, PtyApp

QUIT_TARGET_S = 0.5
CANCEL_TARGET_S = 2.0
TINY = ["--data", "sample", "--epochs", "1", "--prune-epochs", "1"]
PHASES = ("loading", "tracing", "training", "converting")


def _start(phase: str, done_run: Path) -> PtyApp:
    """An app with the engine in `phase` (a stage running); returns once it is there."""
    if phase == "converting":
        # A fresh copy a trial: the last trial's engine process may still be writing into its own.
        copy = Path(tempfile.mkdtemp(prefix="convert-trial-", dir=done_run.parent)) / "run"
        live_files = shutil.ignore_patterns("worker.json", "engine.sock", "run.lock")
        shutil.copytree(done_run, copy, ignore=live_files)
        app = PtyApp([*TINY, "--resume", str(copy)])
        app.wait_for("Engine ready", timeout=180)  # TensorFlow in: Convert starts at once
        app.press("j" * 5)  # Convert
        time.sleep(0.3)
        app.press("r")
        app.wait_for("Convert started", after=0, timeout=120)
        time.sleep(0.1)  # inside the converter (two small models: about a second in all)
        return app
    app = PtyApp(TINY)
    if phase == "loading":
        app.wait_for("Engine process started", timeout=60)
        app.press("a")  # the first stage that needs TensorFlow waits for it
        app.wait_for(": Loading TensorFlow", timeout=60)
        return app
    app.wait_for("Engine ready", timeout=180)
    offset = app.offset
    app.press("a")
    if phase == "tracing":
        app.wait_for("Baseline started", after=offset, timeout=60)
        time.sleep(0.05)  # the first step is being traced (a second or more on two cores)
        return app
    app.wait_for("epoch 1/1", after=offset, timeout=120)  # batches are coming
    time.sleep(0.5)
    return app


class TooLate(Exception):
    """The stage ended on its own before the key: the phase was missed, the trial is taken again."""


def cancel_seconds(app: PtyApp, stage: str) -> tuple[float, bool]:
    offset = app.offset
    pressed = app.press("c")
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        output = app.output_since(offset)
        if b"cancelled after" in output:
            shown = app.wait_for("cancelled after", after=offset, timeout=1)
            return shown - pressed, b"did not stop within" in output
        if f"{stage} done in ".encode() in output:
            raise TooLate
        time.sleep(0.005)
    raise TimeoutError("the stage was never cancelled")


def quit_seconds(app: PtyApp) -> float:
    app.press("q")
    time.sleep(0.3)  # the question is on screen
    if app.process.poll() is not None:
        raise TooLate  # nothing ran any more: q quit at once, without asking
    pressed = app.press("y")
    app.process.wait(30)
    return time.perf_counter() - pressed


def trial(phase: str, action: str, done_run: Path) -> str:
    for _attempt in range(5):
        app = _start(phase, done_run)
        try:
            if action == "cancel":
                seconds, escalated = cancel_seconds(app, "Convert" if phase == "converting" else "Baseline")
                how = "engine process ended and replaced" if escalated else "confirmed by the engine"
                return f"{seconds:.3f}|{how}"
            return f"{quit_seconds(app):.3f}|"
        except TooLate:
            continue
        finally:
            app.close()
    raise RuntimeError(f"{phase}: the stage always ended before the key")


def prepare_done_run() -> Path:
    """A run with every stage done, for the converting phase (a headless run, about a minute)."""
    folder = Path(tempfile.mkdtemp(prefix="pqat-done-")) / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "pqat_tui", "run", *TINY, "--run-dir", str(folder)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        cwd=folder.parent,
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phases", nargs="*", default=list(PHASES), choices=PHASES)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    done_run = prepare_done_run() if "converting" in args.phases else Path()
    results: dict[tuple[str, str], list[float]] = {}
    for phase in args.phases:
        for action in ("quit", "cancel"):
            for round_number in range(1, args.rounds + 1):
                seconds_text, _, how = trial(phase, action, done_run).partition("|")
                seconds = float(seconds_text)
                results.setdefault((phase, action), []).append(seconds)
                note = f" ({how})" if how else ""
                print(f"{phase:<10} {action:<6} round {round_number}: {seconds:.3f} s{note}", flush=True)
    if "converting" in args.phases:
        shutil.rmtree(done_run.parent, ignore_errors=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for (phase, action), times in results.items():
        target = QUIT_TARGET_S if action == "quit" else CANCEL_TARGET_S
        median, worst = statistics.median(times), max(times)
        print(
            f"{phase:<10} {action:<6} median {median:.3f} s, worst {worst:.3f} s "
            f"(target <= {target} s; worst/target = {worst / target:.2f})"
        )


if __name__ == "__main__":
    main()
