"""#8 items 6, 7, 9 and 10: run folders of runs started together, what `--resume` picks, refusals that leave
nothing behind, the app without a terminal on stdin, damaged model archives and Ctrl-C at any moment."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import assert_one_line_error, snapshot
from scripted_pipeline import script_the_engine

from engine.run_store import latest_run_dir, new_run_dir
from pqat_tui.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _main_exit(argv: list[str]) -> int:
    """main's exit status, whether it returns it or raises SystemExit (argparse, config errors)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


# --- item 6: two runs started in the same second ------------------------------------------------------


def test_runs_started_in_the_same_second_each_get_their_own_folder(tmp_path: Path) -> None:
    made: list[Path] = []
    start = threading.Barrier(16)

    def make() -> None:
        start.wait()
        made.append(new_run_dir(tmp_path, now=0))

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 16 and all(folder.is_dir() for folder in made)
    assert sorted(p.name for p in made)[:2] == ["1970-01-01T00-00-00Z", "1970-01-01T00-00-00Z-10"]


def test_two_run_commands_in_the_same_second_are_both_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script_the_engine(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("engine.run_store.time.time", lambda: 0.0)
    assert main(["run", "--data", "sample"]) == 0
    assert main(["run", "--data", "sample"]) == 0
    assert "in use" not in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "1970-01-01T00-00-00Z",
        "1970-01-01T00-00-00Z-2",
    ]


# --- item 7: what --resume picks, and refusals that leave no folder --------------------------------------


def _run_folder(root: Path, name: str, created: str, *, seed: int = 0, done: bool = True) -> Path:
    folder = root / name
    (folder / "models").mkdir(parents=True)
    stages = {"data": {"status": "done" if done else "failed", "fingerprint": "f"}}
    (folder / "manifest.json").write_text(json.dumps({"schema": 1, "created": created, "stages": stages}))
    (folder / "config.toml").write_text(f'data = "sample"\nseed = {seed}\n')
    return folder


def test_resume_skips_a_refused_start_and_an_unreadable_manifest_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    _run_folder(runs, "a", "2026-01-01T00:00:00Z", seed=7)
    _run_folder(runs, "b", "2026-01-02T00:00:00Z", done=False)  # nothing finished: a failed start
    damaged = _run_folder(runs, "c", "2026-01-03T00:00:00Z")
    (damaged / "manifest.json").write_text('{"schema": 1, "stages": [1]}')
    assert main(["config", "--resume"]) == 0
    out, err = capsys.readouterr()
    assert "seed = 7" in out  # run a's config
    assert err == (
        f"pqat-tui: warning: skipped runs/c: {Path('runs/c/manifest.json')}: stages: expected an object or "
        "null, got an array\n"
    )
    assert latest_run_dir(runs) == runs / "a"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--model", "absent.keras"],
        ["run", "--model", "not-a-model.keras"],
        ["run", "--no-train"],
        ["run", "--json", "no/such/folder/r.json"],
        ["run", "--report", "a-file.txt"],
        ["run", "--set", "baseline.epochs=0"],
        ["run", "--data", "absent.npz"],
        ["run", "--config", "absent.toml"],
        ["run", "--resume"],
        [],  # the app, with no terminal
    ],
    ids=lambda argv: " ".join(argv) or "app",
)
def test_a_refused_command_leaves_no_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-model.keras").write_text("hello")
    (tmp_path / "a-file.txt").write_text("mine")
    before = snapshot(tmp_path)
    assert _main_exit(argv) == 2
    assert_one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []
    assert snapshot(tmp_path) == before


# --- item 9: the app without a terminal on stdin -------------------------------------------------------


def test_the_app_with_stdin_not_a_terminal_refuses_in_one_line() -> None:
    """Standard output a terminal (a pty), standard input /dev/null: before, the app started and hung."""
    primary, secondary = pty.openpty()
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "pqat_tui", "--data", "sample"],
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert finished.returncode == 2
    assert_one_line_error(finished.stderr, "needs a terminal (standard input is not one)")


def test_the_app_with_no_terminal_at_all_names_both(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    assert main([]) == 2
    assert_one_line_error(capsys.readouterr().err, "standard input and output are not")


# --- item 10: damaged model archives ------------------------------------------------------------------


def _keras_archive(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\0" * 100)
    return path


def _damage_central_directory(path: Path) -> None:
    content = bytearray(path.read_bytes())
    start = content.index(b"PK\x01\x02")
    content[start : start + 4] = b"XX\x01\x02"  # the end record still points here: is_zipfile says yes
    path.write_bytes(bytes(content))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_damage_central_directory, "a damaged zip archive"),
        (lambda path: path.write_bytes(path.read_bytes()[:-30]), "is a zip archive; this is not"),
        (lambda path: path.write_bytes(b"PK\x05\x06" + b"\0" * 18), "the archive has no config.json"),
    ],
    ids=["central directory", "truncated", "empty archive"],
)
def test_a_damaged_keras_archive_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object, message: str
) -> None:
    model = _keras_archive(tmp_path / "model.keras")
    damage(model)  # type: ignore[operator]
    assert _main_exit(["run", "--model", str(model)]) == 2
    assert_one_line_error(capsys.readouterr().err, str(model), message)


def test_a_model_path_that_is_a_fifo_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "model.keras"
    os.mkfifo(fifo)
    assert _main_exit(["run", "--model", str(fifo)]) == 2
    assert_one_line_error(capsys.readouterr().err, str(fifo), "not a regular file")


# --- item 10: Ctrl-C at any moment ------------------------------------------------------------------------


def _interrupt(argv: list[str], cwd: Path, when: object, timeout: float = 120) -> subprocess.CompletedProcess:
    """Start `pqat-tui ARGV`, send SIGINT (what Ctrl-C does) once `when(pid)` is true, and wait."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pqat_tui", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not when(process.pid) and process.poll() is None and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# A shell reports both as 130. CPython itself ends a process by SIGINT (-2 here) when the interrupt passed
# through code run by exec() of a string (dataclasses makes its methods so), even when we caught it.
INTERRUPTED = (130, -signal.SIGINT)


def _loading(library: str) -> Callable[[int], bool]:
    """Whether the process has started loading a native library (numpy's, TensorFlow's): it is importing."""

    def loading(pid: int) -> bool:
        try:
            return library in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            return False

    return loading


NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see imports")


@NEEDS_PROC
def test_ctrl_c_while_the_command_imports_is_one_line_and_exit_130(tmp_path: Path) -> None:
    finished = _interrupt(["run", "--data", "sample"], tmp_path, _loading("numpy"))
    assert finished.returncode in INTERRUPTED, finished.stderr
    assert "Traceback" not in finished.stderr
    assert finished.stderr in ("pqat-tui: interrupted\n", "")  # "" if it was already in the run loop


@NEEDS_PROC
def test_ctrl_c_while_tensorflow_imports_for_a_model_is_one_line_and_exit_130(tmp_path: Path) -> None:
    model = _keras_archive(tmp_path / "model.keras")  # passes the first check; TensorFlow loads next
    finished = _interrupt(
        ["run", "--data", "sample", "--model", str(model)], tmp_path, _loading("tensorflow")
    )
    assert finished.returncode in INTERRUPTED, finished.stderr
    assert finished.stderr == "pqat-tui: interrupted\n"
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


@pytest.mark.slow
@NEEDS_PROC
def test_ctrl_c_while_tensorflow_imports_in_a_run_is_exit_130_without_traceback(tmp_path: Path) -> None:
    finished = _interrupt(["run", "--data", "sample"], tmp_path, _loading("tensorflow"))
    assert finished.returncode in INTERRUPTED, finished.stderr
    assert "Traceback" not in finished.stderr
    assert "Interrupted" in finished.stdout
