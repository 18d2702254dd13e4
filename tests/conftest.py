"""Shared test setup, and the one tiny real run that the default suite's real-engine tests share."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import textual.constants as textual_constants

# No scroll animations: a test waits for the end state either way, and the keyboard test's hundred scrolls
# took 39 s instead of 14 s animated.
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")  # apps that tests start as processes
# Every App() made in-process reads it here; plugins import textual before this file.
textual_constants.TEXTUAL_ANIMATIONS = "none"

# The scripted fake engine lives beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "mnist-sample.npz"
# Few enough real digits that every stage trains in a second or two, enough that a working engine is
# far above chance (10%) and pruning reaches its target (masks updated every 5 of the 43 steps).
TINY_TRAIN, TINY_TEST = 1500, 300


@pytest.fixture(scope="session", autouse=True)
def _work_in_a_scratch_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`run` and the app keep each run under ./runs/: tests keep theirs out of the checkout."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        yield
    finally:
        os.chdir(before)


def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every pytest-xdist worker of this session sees (the session's own temp root without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def only_one_worker(lock_file: Path) -> Iterator[None]:
    """The first worker here does the work; the others wait for it, then find it done."""
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 training and 300 test digits of the bundled sample, as an .npz data source."""
    folder = shared_folder(tmp_path_factory)
    path = folder / "tiny-mnist.npz"
    with only_one_worker(folder / "tiny-mnist.lock"):
        if not path.exists():
            sample = np.load(SAMPLE)
            np.savez(
                folder / "tiny-mnist.tmp.npz",
                x_train=sample["x_train"][:TINY_TRAIN],
                y_train=sample["y_train"][:TINY_TRAIN],
                x_test=sample["x_test"][:TINY_TEST],
                y_test=sample["y_test"][:TINY_TEST],
            )
            (folder / "tiny-mnist.tmp.npz").replace(path)
    return path


def tiny_args(data: Path) -> tuple[str, ...]:
    """`pqat-tui run` options for a run of every stage in seconds: one epoch each, few images."""
    return (
        "--data",
        str(data),
        "--epochs",
        "1",
        "--prune-epochs",
        "1",
        "--set",
        "prune.frequency=5",
        "--set",
        "ptq.representative_images=50",
    )


@dataclass(frozen=True)
class TinyRun:
    args: tuple[str, ...]  # the `run` options that made it: resume it with the same ones
    run_dir: Path
    results: dict  # results.json as written
    printed: str  # what `run` printed


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> TinyRun:
    """Every stage of the real engine on the tiny data, once per test session (shared by xdist workers)."""
    from pqat_tui.cli import main

    folder = shared_folder(tmp_path_factory) / "tiny-run"
    args = tiny_args(tiny_data)
    with only_one_worker(shared_folder(tmp_path_factory) / "tiny-run.lock"):
        if not (folder / "printed.txt").exists():
            folder.mkdir(exist_ok=True)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                status = main(["run", *args, "--run-dir", f"{folder}/run", "--json", f"{folder}/r.json"])
            assert status == 0, out.getvalue()
            (folder / "printed.txt").write_text(out.getvalue(), encoding="utf-8")
    return TinyRun(
        args,
        folder / "run",
        json.loads((folder / "r.json").read_text(encoding="utf-8")),
        (folder / "printed.txt").read_text(encoding="utf-8"),
    )
