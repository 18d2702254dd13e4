"""Drive `python -m pqat_tui` in a pseudo-terminal, as a person's terminal would: shared by the benchmarks.

The app's output is read continuously (a terminal that stops reading would stall the app) and kept with
the time each chunk arrived, so a benchmark can ask when a given text first reached the screen.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyApp:
    def __init__(self, args: list[str], size: tuple[int, int] = (120, 40), cwd: Path | None = None) -> None:
        """`pqat-tui ARGS` in `cwd` (default: a temporary folder, removed on close)."""
        self.workdir = (
            None
            if cwd is not None
            else tempfile.TemporaryDirectory(
                prefix="pqat-bench-",
                ignore_cleanup_errors=True,  # the engine process may write a last line
            )
        )
        self.cwd = Path(cwd) if cwd is not None else Path(self.workdir.name)  # type: ignore[union-attr]
        leader, follower = pty.openpty()
        columns, rows = size
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "COLUMNS": str(columns),
            "LINES": str(rows),
        }
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pqat_tui", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            cwd=self.cwd,
            env=env,
            start_new_session=True,
            # The pty becomes its controlling terminal: if this script dies, the app gets SIGHUP and ends
            # (as over a dropped SSH link) instead of spinning on a terminal nobody reads.
            preexec_fn=_take_terminal,
        )
        os.close(follower)
        self.leader = leader
        self._output = bytearray()
        self._arrivals: list[tuple[int, float]] = []  # (end offset of a chunk, when it arrived)
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.perf_counter()
            with self._lock:
                self._output += chunk
                self._arrivals.append((len(self._output), now))

    @property
    def offset(self) -> int:
        with self._lock:
            return len(self._output)

    def wait_for(self, text: str, after: int = 0, timeout: float = 60.0) -> float:
        """When `text` first appeared in the output past byte `after` (perf_counter seconds)."""
        needle = text.encode()
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self._lock:
                found = self._output.find(needle, after)
                if found >= 0:
                    end = found + len(needle)
                    return next(t for offset, t in self._arrivals if offset >= end)
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with status {self.process.returncode}")
            time.sleep(0.002)
        raise TimeoutError(f"{text!r} did not appear within {timeout} s")

    def output_since(self, offset: int) -> bytes:
        with self._lock:
            return bytes(self._output[offset:])

    def press(self, key: str) -> float:
        os.write(self.leader, key.encode())
        return time.perf_counter()

    def close(self) -> None:
        if self.process.poll() is None:
            self.press("q")
            time.sleep(0.3)
            self.press("y")  # answers "stop it and quit?" when a stage still runs
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.leader)
        if self.workdir is not None:
            self.workdir.cleanup()
