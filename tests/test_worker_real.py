"""The real engine process (TensorFlow) on a tiny data set: the app drives it without ever importing
TensorFlow, and a run whose terminal hangs up goes on to its end, where `ps` and `attach` find it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_worker import process_gone

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from pty_app import PtyApp  # noqa: E402  (drives the app in a pseudo-terminal, as the benchmarks do)

pytestmark = [pytest.mark.real_engine, pytest.mark.slow]

TESTS = Path(__file__).resolve().parent
SAMPLE = TESTS.parent / "assets" / "mnist-sample.npz"
TINY_FLAGS = ["--epochs", "1", "--prune-epochs", "1", "--set", "ptq.representative_images=50"]


def tiny_npz(folder: Path) -> Path:
    """300 training and 100 test images of the bundled sample: every stage in seconds."""
    sample = np.load(SAMPLE)
    path = folder / "tiny.npz"
    np.savez(
        path,
        x_train=sample["x_train"][:300],
        y_train=sample["y_train"][:300],
        x_test=sample["x_test"][:100],
        y_test=sample["y_test"][:100],
    )
    return path


APP_RUN = """
import asyncio, json, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_app import wait_for
from engine.config import PipelineConfig
from pqat_tui.app import PqatApp
from pqat_tui.engine_loader import real_engine_factory
from pqat_tui.steps import Step

async def main():
    config = PipelineConfig(data={data!r}).with_overrides(epochs=1, prune_epochs=1)
    app = PqatApp(config, real_engine_factory(Path("run")))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")  # before the engine process is up: it waits for it
        await wait_for(pilot, lambda: app.board.all_done() and not app.busy, timeout=500)
        pid = app.engine_state.pid
        await pilot.press("q")
    print(json.dumps({{
        "states": {{step.value: app.board.state(step).value for step in Step}},
        "errors": {{stage.value: error for stage, error in app.errors.items()}},
        "pqat_tflite": app.results.models["pqat"].tflite is not None,
        "engine_pid": pid,
        "ui_pid": __import__("os").getpid(),
        "tensorflow_in_ui": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras")),
    }}))

asyncio.run(main())
"""


def test_the_app_drives_the_real_engine_process_and_never_imports_tensorflow(tmp_path: Path) -> None:
    data = tiny_npz(tmp_path)
    code = APP_RUN.format(tests=str(TESTS), data=str(data))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert set(report["states"].values()) == {"done"}
    assert report["pqat_tflite"]
    assert report["engine_pid"] != report["ui_pid"]
    assert report["tensorflow_in_ui"] == []
    log = (tmp_path / "run" / "tensorflow.log").read_text(errors="replace")
    assert log  # TensorFlow's native log went to the run folder, from the engine process


def pqat(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pqat_tui", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_a_hang_up_of_the_terminal_leaves_the_run_going_and_attach_finds_it_done(tmp_path: Path) -> None:
    data = tiny_npz(tmp_path)
    run = "runs/hangup"
    ui = PtyApp(["--data", str(data), *TINY_FLAGS, "--run-dir", run], cwd=tmp_path)
    try:
        ui.wait_for("Engine process started", timeout=60)
        ui.press("a")
        ui.wait_for("Baseline started", timeout=120)
        ui.process.send_signal(signal.SIGHUP)  # the SSH connection drops
        assert ui.process.wait(10) != 0
    finally:
        ui.close()
    listed = json.loads(pqat(tmp_path, "ps", "--json").stdout)
    assert [(entry["folder"], entry["state"]) for entry in listed] == [(run, "running")]
    engine_pid = listed[0]["pid"]
    deadline = time.monotonic() + 500
    while time.monotonic() < deadline:
        state = json.loads(pqat(tmp_path, "ps", "--json").stdout)[0]["state"]
        if state != "running":
            break
        time.sleep(1)
    assert state == "finished", pqat(tmp_path, "ps").stdout
    assert process_gone(engine_pid)
    table = pqat(tmp_path, "ps").stdout
    assert run in table and "finished" in table and "8/8 stages" in table

    viewer = PtyApp(["attach"], cwd=tmp_path)  # the latest run: reopened, every stage done at once
    try:
        viewer.wait_for("Every stage done", timeout=60)
        viewer.press("q")
        assert viewer.process.wait(10) == 0
    finally:
        viewer.close()
