"""#8 item 2: a run folder never reaches outside itself, whatever its manifest says or its links point at.

A manifest may name only the files its stage writes; anything else (`../victim.txt`, an absolute path) makes
the manifest damaged: the command stops with one line naming the file and key, before it reads, writes or
deletes anything. Links inside a run folder are never followed out of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile import assert_one_line_error, snapshot
from scripted_pipeline import script_the_engine

from engine.config import PipelineConfig
from engine.run_store import Manifest, RunFolder, RunStoreError, StageRecord
from engine.stages import Stage
from engine.stored_session import open_run
from engine.strict_json import ShapeError
from engine.user_model import UserModel, saved_model_choice
from pqat_tui.cli import main

CONFIG = PipelineConfig(data="sample")


@pytest.fixture
def finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A whole run (scripted engine, real files) in tmp_path/run, beside a victim file outside it."""
    script_the_engine(monkeypatch)
    run = tmp_path / "run"
    assert main(["run", "--data", "sample", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    (tmp_path / "victim.txt").write_text("not yours to delete")
    return run


def _edit_manifest(run: Path, edit: object) -> None:
    path = run / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("crafted", ["../victim.txt", "ABSOLUTE"])
def test_a_manifest_naming_a_file_outside_is_refused_and_the_file_survives(
    finished_run: Path, capsys: pytest.CaptureFixture[str], crafted: str
) -> None:
    victim = finished_run.parent / "victim.txt"
    crafted = str(victim) if crafted == "ABSOLUTE" else crafted

    def craft(data: dict) -> None:
        # Prune's record now claims the victim: a changed sparsity makes Prune stale, whose files a
        # naive resume would delete.
        data["stages"]["prune"]["artifacts"] = {crafted: "0" * 64}

    _edit_manifest(finished_run, craft)
    before = snapshot(finished_run)
    assert main(["run", "--resume", str(finished_run), "--sparsity", "0.8"]) == 2
    assert_one_line_error(
        capsys.readouterr().err,
        f"{finished_run / 'manifest.json'}: stages.prune.artifacts: {crafted!r} is not a file Prune writes",
    )
    assert victim.read_text() == "not yours to delete"
    assert snapshot(finished_run) == before  # refused before anything was touched


@pytest.mark.parametrize(
    ("artifacts", "message"),
    [
        ({"models/../../x": "d"}, "is not a file Baseline writes (expected one of models/baseline.keras)"),
        ({"/etc/passwd": "d"}, "is not a file Baseline writes"),
        ({"models/pruned.keras": "d"}, "is not a file Baseline writes"),  # another stage's file
        ({"models/baseline.keras": 5}, "models/baseline.keras: expected a string, got an integer"),
    ],
)
def test_the_manifest_reader_accepts_only_a_stages_own_files(artifacts: dict, message: str) -> None:
    data = {
        "schema": 1,
        "stages": {"baseline": {"status": "done", "fingerprint": "f", "artifacts": artifacts}},
    }
    with pytest.raises(ShapeError, match="^stages.baseline.artifacts") as raised:
        Manifest.from_json(data)
    assert message in str(raised.value)


def test_a_models_folder_linked_elsewhere_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "baseline.keras").write_text("someone's file")
    run = tmp_path / "run"
    run.mkdir()
    (run / "models").symlink_to(elsewhere)
    with pytest.raises(RunStoreError, match="models: not a folder of the run's own"):
        RunFolder.open(run)
    assert (elsewhere / "baseline.keras").read_text() == "someone's file"


def test_a_model_file_linked_outside_is_neither_read_nor_deleted(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = finished_run.parent / "victim.txt"
    (finished_run / "models" / "pqat.h5").unlink()
    (finished_run / "models" / "pqat.h5").symlink_to(victim)
    folder = RunFolder(finished_run)
    manifest = folder.read_manifest()
    assert manifest is not None
    record = manifest.record(Stage.PQAT)
    assert record is not None and not folder.artifacts_intact(record)  # so PQAT is not kept
    with pytest.raises(RunStoreError, match="leads outside the run folder"):
        folder.inside("models/pqat.h5")
    folder.remove_artifact("models/pqat.h5")
    assert victim.read_text() == "not yours to delete"
    # Resuming runs PQAT again; its new file cannot go through the link: the stage fails, saying why.
    assert main(["run", "--resume", str(finished_run)]) == 1
    assert_one_line_error(capsys.readouterr().err, "PQAT failed", "leads outside the run folder")
    assert victim.read_text() == "not yours to delete"


def test_a_manifest_linked_outside_is_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"schema": 1, "created": "x"}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").symlink_to(outside)
    assert main(["run", "--resume", str(run)]) == 2
    assert_one_line_error(capsys.readouterr().err, "manifest.json: leads outside the run folder")


def test_a_run_folder_reached_through_a_link_is_fine(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = finished_run.parent / "latest"
    link.symlink_to(finished_run)
    assert main(["run", "--resume", str(link)]) == 0
    assert capsys.readouterr().out.count("kept: its inputs are unchanged") == len(Stage)


# --- the user's model: the run keeps its own copy, and reads only that ----------------------------------


def _user_model(path: Path) -> UserModel:
    return UserModel(path=path, sha256="0" * 64, model=None)


def test_the_users_model_is_copied_in_and_a_resume_reads_only_the_copy(tmp_path: Path) -> None:
    original = tmp_path / "mine.keras"
    original.write_bytes(b"the user's model")
    run = tmp_path / "run"
    open_run(CONFIG, run, user_model=_user_model(original)).close()
    copy = run / "models" / "input-model.keras"
    assert copy.read_bytes() == b"the user's model"
    saved = saved_model_choice(run)
    assert saved is not None and saved["path"] == str(copy) and saved["train"] is True
    # Reopened from the copy (as load_model_choice does), the manifest still names the original.
    open_run(CONFIG, run, user_model=_user_model(copy)).close()
    manifest = RunFolder(run).read_manifest()
    assert manifest is not None and manifest.inputs["model"]["path"] == str(original)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"path": "/etc/x.keras", "model_sha256": "0", "train": True, "file": "../x.keras"},
            "inputs.model.file",
        ),
        (
            {"path": "/etc/x.keras", "model_sha256": "0", "train": "yes"},
            "inputs.model.train: expected true or false",
        ),
        ({"path": 5, "model_sha256": "0", "train": True}, "inputs.model.path: expected a string"),
        (
            {"path": "/etc/x.keras", "model_sha256": "0", "train": True},
            "keeps no copy of it; resume it with --model",
        ),
    ],
)
def test_a_crafted_model_entry_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: dict, message: str
) -> None:
    run = tmp_path / "run"
    with RunFolder.open(run) as folder:
        manifest = Manifest(created="2026-01-01T00:00:00Z", inputs={"model": model})
        folder.write_manifest(manifest.with_record(Stage.DATA, StageRecord("done", "f")))
    assert main(["run", "--resume", str(run)]) == 2
    assert_one_line_error(capsys.readouterr().err, "manifest.json", message)


def test_a_loop_of_links_in_a_run_folder_is_a_damaged_file_not_a_crash(finished_run: Path) -> None:
    model = finished_run / "models" / "pruned.keras"
    model.unlink()
    model.symlink_to(model.name)  # points at itself
    folder = RunFolder(finished_run)
    with pytest.raises(RunStoreError, match="a loop of symbolic links"):
        folder.inside("models/pruned.keras")
    manifest = folder.read_manifest()
    assert manifest is not None
    record = manifest.record(Stage.PRUNE)
    assert record is not None and not folder.artifacts_intact(record)


def test_a_damaged_results_file_in_a_run_folder_is_one_line(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (finished_run / "results.json").write_text('{"schema": 1, "models": {"qat": {"keras_accuracy": "high"}}}')
    before = snapshot(finished_run)
    assert main(["run", "--resume", str(finished_run)]) == 2
    assert_one_line_error(
        capsys.readouterr().err,
        f"{finished_run / 'results.json'}: models.qat.keras_accuracy: expected a number or null, got a",
    )
    assert snapshot(finished_run) == before
