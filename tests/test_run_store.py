"""The run folder without TensorFlow: atomic files, the lock, the manifest and the fingerprints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.config import PipelineConfig
from engine.config_file import with_setting
from engine.events import BatchProgress, LogMessage, StageFinished, StageStarted
from engine.results import DatasetInfo, ModelResult, RunResults, TFLiteInfo, WeightSparsity
from engine.run_store import (
    DONE,
    LOCK_FILE,
    MANIFEST_FILE,
    EventLog,
    LockHolder,
    Manifest,
    RunFolder,
    RunLock,
    RunLockedError,
    RunStoreError,
    StageRecord,
    data_digest,
    latest_run_dir,
    new_run_dir,
    read_lock,
    resolve_resume_dir,
    stage_artifact_paths,
    stage_fingerprints,
    stage_metrics,
    stale_stages,
    write_atomic,
)
from engine.stages import Stage, downstream_of

ROOT = Path(__file__).resolve().parent.parent


def _config(**settings: object) -> PipelineConfig:
    config = PipelineConfig(data="sample")
    for key, value in settings.items():
        config = with_setting(config, key.replace("__", "."), value)
    return config


# --- fingerprints -----------------------------------------------------------------------------------------


def test_changing_sparsity_changes_prune_and_downstream_only() -> None:
    before = stage_fingerprints(_config(), "data-v1")
    after = stage_fingerprints(_config(prune__sparsity=0.8), "data-v1")
    changed = {stage for stage in Stage if before[stage] != after[stage]}
    assert changed == {Stage.PRUNE, *downstream_of(Stage.PRUNE)}


@pytest.mark.parametrize(
    ("key", "value", "first_changed"),
    [
        ("baseline__epochs", 3, Stage.BASELINE),
        ("seed", 5, Stage.DATA),  # it orders an image folder's files and carves its test split
        ("image_size", "32x32", Stage.DATA),
        ("color_mode", "rgb", Stage.DATA),
        ("test_split", 0.3, Stage.DATA),
        ("qat__learning_rate", 1e-4, Stage.QAT),
        ("pqat__batch_size", 64, Stage.PQAT),
        ("ptq__representative_images", 10, Stage.PTQ),
        ("prune__frequency", 10, Stage.PRUNE),
    ],
)
def test_each_setting_changes_its_stage_and_downstream(key: str, value: object, first_changed: Stage) -> None:
    before = stage_fingerprints(_config(), "d")
    after = stage_fingerprints(_config(**{key: value}), "d")
    changed = {stage for stage in Stage if before[stage] != after[stage]}
    assert changed == {first_changed, *downstream_of(first_changed)}


def test_data_content_changes_every_fingerprint() -> None:
    before = stage_fingerprints(_config(), "sample|aaa")
    after = stage_fingerprints(_config(), "sample|bbb")
    assert all(before[stage] != after[stage] for stage in Stage)
    assert stage_fingerprints(_config(), "sample|aaa") == before  # and they are stable


def test_extra_inputs_change_their_stage() -> None:
    before = stage_fingerprints(_config(), "d")
    after = stage_fingerprints(_config(), "d", {Stage.BASELINE: {"model": "sha-of-my-model"}})
    assert after[Stage.DATA] == before[Stage.DATA]
    assert after[Stage.BASELINE] != before[Stage.BASELINE]


def test_data_digest_covers_the_file_content(tmp_path: Path) -> None:
    digits = tmp_path / "digits.npz"
    digits.write_bytes(b"one")
    first = data_digest(str(digits))
    digits.write_bytes(b"two")
    assert data_digest(str(digits)) != first
    assert data_digest("sample").startswith("sample|")
    assert data_digest(str(tmp_path / "missing.npz")).endswith("|missing")
    folder = tmp_path / "idx"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(b"x")
    before = data_digest(str(folder))
    (folder / "train-images-idx3-ubyte").write_bytes(b"y")
    assert data_digest(str(folder)) != before


def test_stale_stages_are_the_done_ones_with_another_fingerprint() -> None:
    prints = stage_fingerprints(_config(), "d")
    manifest = Manifest(created="t")
    for stage in (Stage.DATA, Stage.BASELINE, Stage.PRUNE):
        manifest = manifest.with_record(stage, StageRecord(DONE, prints[stage]))
    assert stale_stages(manifest, prints) == []
    changed = stage_fingerprints(_config(prune__sparsity=0.7), "d")
    assert stale_stages(manifest, changed) == [Stage.PRUNE]


# --- atomic files and the manifest ------------------------------------------------------------------------


def test_write_atomic_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.json"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_a_write_killed_midway_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    write_atomic(target, b'{"old": true}')
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import engine.run_store as store
        real_replace = os.replace
        def die(*args):
            os._exit(9)  # killed between writing the temporary file and renaming it
        store.os.replace = die
        store.write_atomic(store.Path({str(target)!r}), b"new" * 1000)
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], check=False)
    assert completed.returncode == 9
    assert target.read_bytes() == b'{"old": true}'


def test_manifest_round_trips_through_json() -> None:
    manifest = Manifest(created="2026-01-01T00:00:00Z", inputs={"data": "sample|x"}).with_record(
        Stage.PRUNE,
        StageRecord(
            DONE,
            "abc",
            started="s",
            finished="f",
            seconds=1.5,
            metrics={"accuracy": 0.9},
            artifacts={"models/pruned.keras": "d1"},
        ),
    )
    assert Manifest.from_json(json.loads(json.dumps(manifest.to_json()))) == manifest
    assert Manifest.from_json(manifest.to_json()).without([Stage.PRUNE]).stages == {}


def test_stage_metrics_pick_each_stage_headline() -> None:
    kernel = WeightSparsity("dense/kernel", 5, 10)
    results = RunResults(
        dataset=DatasetInfo("sample", 4000, 1000),
        models={
            "pruned": ModelResult(keras_accuracy=0.9, sparsity=(kernel, WeightSparsity("dense/bias", 0, 10))),
            "pqat": ModelResult(keras_accuracy=0.91, tflite=TFLiteInfo(2000, 1500, 0.92)),
            "qat": ModelResult(keras_accuracy=0.91, tflite=TFLiteInfo(2100, 1700, 0.93)),
        },
    )
    assert stage_metrics(Stage.DATA, results) == {"train_images": 4000.0, "test_images": 1000.0}
    assert stage_metrics(Stage.PRUNE, results) == {"accuracy": 0.9, "kernel_sparsity": 0.5}
    assert stage_metrics(Stage.CONVERT, results)["pqat_zipped_bytes"] == 1500.0
    assert stage_metrics(Stage.EVALUATE, results) == {
        "qat_tflite_accuracy": 0.93,
        "pqat_tflite_accuracy": 0.92,
    }
    assert stage_metrics(Stage.PTQ, results) == {}


def test_every_model_stage_has_its_files() -> None:
    assert stage_artifact_paths(Stage.BASELINE) == {"baseline": "models/baseline.keras"}
    assert stage_artifact_paths(Stage.PQAT) == {"pqat": "models/pqat.h5"}
    assert set(stage_artifact_paths(Stage.CONVERT)) == {"float", "qat", "pqat"}
    assert stage_artifact_paths(Stage.EVALUATE) == {}


def test_event_log_keeps_whole_lines_and_skips_batch_progress(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.append(StageStarted(Stage.PRUNE, epochs=3))
    log.append(BatchProgress(Stage.PRUNE, 1, 3, 5, 100, {"loss": 0.5}))
    log.append(LogMessage("hello", stage=Stage.PRUNE))
    log.append(StageFinished(Stage.PRUNE, 2.5, RunResults()))
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write('{"event": "cut sho')  # a kill in the middle of a line
    lines = log.read()
    assert [line["event"] for line in lines] == ["StageStarted", "LogMessage", "StageFinished"]
    assert lines[0]["stage"] == "prune" and lines[0]["epochs"] == 3
    assert "results" not in lines[2]


# --- folders ----------------------------------------------------------------------------------------------


def test_new_run_dirs_are_timestamped_unique_and_created(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, now=0)
    assert first.name == "1970-01-01T00-00-00Z"
    assert first.is_dir()
    second = new_run_dir(tmp_path, now=0)
    assert second.name == "1970-01-01T00-00-00Z-2"
    assert second.is_dir()


def test_latest_run_is_the_one_created_last(tmp_path: Path) -> None:
    assert latest_run_dir(tmp_path) is None
    for name, created in [("b", "2026-01-02T00:00:00Z"), ("a", "2026-01-03T00:00:00Z"), ("c", "2026-01-01")]:
        (tmp_path / name).mkdir()
        done = {"data": {"status": "done", "fingerprint": "f"}}
        (tmp_path / name / MANIFEST_FILE).write_text(
            json.dumps({"schema": 1, "created": created, "stages": done})
        )
    (tmp_path / "not-a-run").mkdir()
    assert latest_run_dir(tmp_path) == tmp_path / "a"
    assert resolve_resume_dir(None, tmp_path) == tmp_path / "a"
    assert resolve_resume_dir(tmp_path / "b", tmp_path) == tmp_path / "b"
    with pytest.raises(RunStoreError, match="not a pqat-tui run folder"):
        resolve_resume_dir(tmp_path / "not-a-run", tmp_path)
    with pytest.raises(RunStoreError, match="no run to resume"):
        resolve_resume_dir(None, tmp_path / "empty")


def test_run_folder_writes_and_reads_back(tmp_path: Path) -> None:
    with RunFolder.open(tmp_path / "run") as folder:
        digest = folder.write_artifact("models/qat.tflite", b"flatbuffer")
        record = StageRecord(DONE, "fp", artifacts={"models/qat.tflite": digest})
        folder.write_manifest(Manifest(created="t").with_record(Stage.CONVERT, record))
        folder.write_results(RunResults(stage_seconds={"convert": 1.0}))
        assert folder.read_manifest().record(Stage.CONVERT) == record
        assert folder.read_results().stage_seconds == {"convert": 1.0}
        assert folder.artifacts_intact(record)
        (folder.path / "models/qat.tflite").write_bytes(b"tampered")
        assert not folder.artifacts_intact(record)
        (folder.path / "models/qat.tflite").unlink()
        assert not folder.artifacts_intact(record)
        assert (folder.path / LOCK_FILE).exists()
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_an_unreadable_manifest_is_a_one_line_error(tmp_path: Path) -> None:
    with RunFolder.open(tmp_path / "run") as folder:
        (folder.path / MANIFEST_FILE).write_text("{not json")
        with pytest.raises(RunStoreError, match=r"manifest.json: not JSON \(.* at line 1\)$"):
            folder.read_manifest()


def test_a_folder_holding_other_things_is_not_taken_for_a_run(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("x")
    with pytest.raises(RunStoreError, match=r"not a pqat-tui run folder and not empty \(holds thesis.tex\)"):
        RunFolder.open(tmp_path)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "tensorflow.log").write_text("")  # the app's native log, written before the run opens
    RunFolder.open(fresh).close()


def test_a_file_is_not_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunStoreError, match="is a file"):
        RunFolder.open(tmp_path / "file")
    with pytest.raises(RunStoreError, match="not a pqat-tui run folder"):
        RunFolder.open(tmp_path / "new", must_exist=True)


# --- the lock ---------------------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
sys.path.insert(0, {root!r})
from engine.run_store import RunLock
lock = RunLock.acquire({folder!r})
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK.format(root=str(ROOT), folder=str(folder))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError) as caught:
            RunLock.acquire(folder)
        message = str(caught.value)
        assert f"pid {holder.pid} on {socket.gethostname()} since " in message
        assert str(folder) in message and "\n" not in message
        with pytest.raises(RunLockedError):
            RunFolder.open(folder)
    finally:
        holder.kill()
        holder.wait()
    # The holder is dead now: its lock is stale and is taken over.
    with RunLock.acquire(folder) as lock:
        assert read_lock(folder / LOCK_FILE) == lock.holder
        assert lock.holder.pid == os.getpid()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = LockHolder(dead.pid, socket.gethostname(), "2026-01-01T00:00:00Z")
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale.__dict__))
    lock = RunLock.acquire(tmp_path)
    assert read_lock(tmp_path / LOCK_FILE) == lock.holder != stale
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_half_written_lock_is_stale(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("")
    with RunLock.acquire(tmp_path):
        pass


def test_a_lock_held_on_another_host_is_respected(tmp_path: Path) -> None:
    other = LockHolder(1, "some-other-host", "2026-01-01T00:00:00Z")
    (tmp_path / LOCK_FILE).write_text(json.dumps(other.__dict__))
    with pytest.raises(RunLockedError, match="pid 1 on some-other-host since 2026-01-01T00:00:00Z"):
        RunLock.acquire(tmp_path)


def test_the_same_process_cannot_take_the_lock_twice(tmp_path: Path) -> None:
    with RunLock.acquire(tmp_path), pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
        RunLock.acquire(tmp_path)


def test_release_leaves_another_holders_lock_alone(tmp_path: Path) -> None:
    lock = RunLock.acquire(tmp_path)
    taken = LockHolder(os.getpid(), socket.gethostname(), "later")
    (tmp_path / LOCK_FILE).write_text(json.dumps(taken.__dict__))
    lock.release()
    assert read_lock(tmp_path / LOCK_FILE) == taken
