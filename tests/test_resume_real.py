"""Run folders and resume with the real engine, one-epoch stages on a few hundred digits.

One cold run is shared (conftest's tiny_run, made once per session); each test resumes a copy of its folder,
so that only the stages a test is about run again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import TinyRun

from engine.results import RunResults
from engine.run_store import LOCK_FILE, EventLog, LockHolder, Manifest
from engine.stages import Stage, downstream_of
from pqat_tui.cli import main

# One worker makes the shared tiny run and runs every test that reads it: no other worker waits on its lock.
pytestmark = [pytest.mark.real_engine, pytest.mark.xdist_group("tiny_run")]

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["run", *argv])
    return status, out.getvalue()


def _manifest(folder: Path) -> Manifest:
    return Manifest.from_json(json.loads((folder / "manifest.json").read_text()))


def _started(folder: Path) -> list[str]:
    return [e["stage"] for e in EventLog(folder / "events.jsonl").read() if e["event"] == "StageStarted"]


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def cold(tiny_run: TinyRun) -> tuple[Path, RunResults]:
    return tiny_run.run_dir, RunResults.read_json(tiny_run.run_dir / "results.json")


def _comparable(results: RunResults) -> dict:
    """Everything a run computes (not how long it took, how fast the files ran, nor the versions)."""
    data = results.to_json()
    for model in data["models"].values():
        for timing in ("latency_ms", "throughput_ips"):
            (model.get("tflite") or {}).pop(timing, None)
    return {"models": data["models"], "dataset": data["dataset"], "config": data["config"]}


def test_a_run_folder_holds_config_manifest_models_results_and_events(cold) -> None:
    folder, results = cold
    assert not (folder / LOCK_FILE).exists()  # released at the end
    assert "epochs = 1" in (folder / "config.toml").read_text()
    manifest = _manifest(folder)
    assert [s for s in Stage if manifest.record(s) and manifest.record(s).status == "done"] == list(Stage)
    for stage in Stage:
        record = manifest.record(stage)
        assert record.seconds > 0 and record.fingerprint and record.finished
        for relative in record.artifacts:
            assert (folder / relative).is_file()
    assert manifest.record(Stage.PRUNE).metrics["kernel_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert set(manifest.record(Stage.CONVERT).artifacts) == {
        "models/float.tflite",
        "models/qat.tflite",
        "models/pqat.tflite",
    }
    assert set(manifest.record(Stage.QAT).artifacts) == {"models/qat.h5"}
    for keras_file in ("baseline.keras", "pruned.keras"):
        assert zipfile.is_zipfile(folder / "models" / keras_file)  # the .keras format, not HDF5 misnamed
    assert _started(folder) == [s.value for s in Stage]
    assert set(results.models) == {"baseline", "pruned", "qat", "pqat", "ptq", "float"}


def test_resume_with_unchanged_config_runs_nothing(cold, tmp_path: Path) -> None:
    folder, results = cold
    copy = _copy(folder, tmp_path / "again")
    status, output = _run("--resume", str(copy))
    assert status == 0, output
    assert _started(copy) == _started(folder)  # no stage started again
    assert "kept Data, Baseline, Prune, QAT, PQAT, Convert, Evaluate, PTQ" in " ".join(output.split())
    assert _comparable(RunResults.read_json(copy / "results.json")) == _comparable(results)


@pytest.mark.slow  # six stages again; tests/test_recipe_plan.py checks which fingerprints a setting changes
def test_changing_sparsity_reruns_prune_and_downstream_but_not_baseline(cold, tmp_path: Path) -> None:
    folder, results = cold
    copy = _copy(folder, tmp_path / "sparser")
    baseline_file = (copy / "models/baseline.keras").read_bytes()
    status, output = _run("--resume", str(copy), "--sparsity", "0.75")
    assert status == 0, output
    rerun = _started(copy)[len(Stage) :]
    assert rerun == [Stage.PRUNE.value, *(s.value for s in downstream_of(Stage.PRUNE))]
    assert (copy / "models/baseline.keras").read_bytes() == baseline_file
    after = RunResults.read_json(copy / "results.json")
    assert after.models["baseline"] == results.models["baseline"]
    kernels = after.models["pruned"].kernel_sparsity()
    assert sum(w.zeros for w in kernels) / sum(w.total for w in kernels) == pytest.approx(0.75, abs=0.01)
    assert "sparsity = 0.75" in (copy / "config.toml").read_text()
    # Resuming with the new value again changes nothing more.
    status, _ = _run("--resume", str(copy))
    assert status == 0 and len(_started(copy)) == len(Stage) + len(rerun)


@pytest.mark.slow
def test_a_run_killed_mid_stage_resumes_to_the_same_results(cold, tiny_run: TinyRun, tmp_path: Path) -> None:
    _, results = cold
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pqat_tui", "run", *tiny_run.args, "--run-dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 240
        while Stage.QAT.value not in (_started(folder) if folder.exists() else []):
            assert process.poll() is None, "the run ended before QAT started"
            assert time.monotonic() < deadline, "QAT never started"
            time.sleep(0.05)
        time.sleep(0.1)  # into QAT (a few hundred images: its training is short)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    manifest = _manifest(folder)
    assert manifest.record(Stage.PRUNE).status == "done"
    assert manifest.record(Stage.QAT).status == "running"  # what a kill leaves behind
    held = LockHolder(**json.loads((folder / LOCK_FILE).read_text()))
    assert held.pid == process.pid  # the dead process's lock is still there: stale

    status, output = _run("--resume", str(folder))
    assert status == 0, output
    started = _started(folder)
    assert started.count(Stage.BASELINE.value) == 1 and started.count(Stage.PRUNE.value) == 1
    assert started.count(Stage.QAT.value) == 2
    assert _comparable(RunResults.read_json(folder / "results.json")) == _comparable(results)
    assert not (folder / LOCK_FILE).exists()


def test_a_second_process_on_the_same_run_is_refused(cold, tmp_path: Path) -> None:
    folder, _ = cold
    copy = _copy(folder, tmp_path / "busy")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from engine.run_store import RunLock; "
            f"RunLock.acquire({str(copy)!r}); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status, _ = _run("--resume", str(copy))
        assert status == 2
        assert f"in use by pid {holder.pid} on " in err.getvalue()
        assert err.getvalue().count("\n") == 1
    finally:
        holder.kill()
        holder.wait()


def test_a_run_from_before_the_float_reference_evaluates_without_it(cold, tmp_path: Path) -> None:
    """A folder whose Convert left no float.tflite: Convert is kept, Evaluate runs without a reference."""
    folder, _ = cold
    copy = _copy(folder, tmp_path / "older")
    (copy / "models/float.tflite").unlink()
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["stages"]["convert"]["artifacts"]["models/float.tflite"]
    del manifest["stages"]["evaluate"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    results = json.loads((copy / "results.json").read_text())
    del results["models"]["float"]
    (copy / "results.json").write_text(json.dumps(results))
    status, output = _run("--resume", str(copy))
    assert status == 0, output
    assert _started(copy)[len(Stage) :] == [Stage.EVALUATE.value]
    after = RunResults.read_json(copy / "results.json")
    assert "float" not in after.models
    pqat = after.models["pqat"].tflite
    assert pqat.latency is not None and pqat.classes is not None and pqat.changed is None
