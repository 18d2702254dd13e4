"""The real engine process (TensorFlow) on a tiny data set: the app drives it without ever importing
TensorFlow, and a run whose terminal hangs up goes on to its end, where `ps` and `attach` find it."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.live import is_zombie

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


class Terminal:
    """`pqat-tui ...` in a pseudo-terminal of its own, as a person's terminal (or tmux) runs it."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pqat_tui", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            cwd=cwd,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(follower)
        self.leader = leader
        self.output = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.output += chunk

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if text.encode() in self.output:
                    return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never reached the terminal")

    def press(self, keys: str) -> None:
        os.write(self.leader, keys.encode())

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.leader)


def process_gone(pid: int, timeout: float = 10.0) -> bool:
    """The engine process has exited (a zombie waiting for a parent that reaps it counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if is_zombie(pid):
            return True
        time.sleep(0.05)
    return False


def pqat(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pqat_tui", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_a_hang_up_of_the_terminal_leaves_the_run_going_and_attach_finds_it_done(tmp_path: Path) -> None:
    data = tiny_npz(tmp_path)
    run = "runs/hangup"
    ui = Terminal(["--data", str(data), *TINY_FLAGS, "--run-dir", run], tmp_path)
    try:
        ui.wait_for("Engine process started", 60)
        ui.press("a")
        ui.wait_for("Baseline started", 120)
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

    viewer = Terminal(["attach"], tmp_path)  # the latest run: reopened, every stage done at once
    try:
        viewer.wait_for("Every stage done", 60)
        viewer.press("q")
        assert viewer.process.wait(10) == 0
    finally:
        viewer.close()
