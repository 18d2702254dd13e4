"""`--model PATH`: a file that is not a Keras model is refused in one line, before any work."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from engine.user_model import HDF5_SIGNATURE, UserModelError, check_model_file, load_model_choice
from pqat_tui.cli import main


def _refused(path: Path) -> str:
    with pytest.raises(UserModelError) as caught:
        check_model_file(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_non_model_files_are_refused_naming_the_fault(tmp_path: Path) -> None:
    text = tmp_path / "notes.keras"
    text.write_text("a model, honest")
    assert "not a Keras model" in _refused(text) and "zip" in _refused(text)

    other_zip = tmp_path / "archive.keras"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "no config.json" in _refused(other_zip)

    fake_h5 = tmp_path / "weights.h5"
    fake_h5.write_bytes(b"\x00" * 64)
    assert "not an HDF5 file" in _refused(fake_h5)

    data = tmp_path / "digits.npz"
    data.write_bytes(b"PK")
    assert "expected a .keras or .h5" in _refused(data)
    assert "no such model file" in _refused(tmp_path / "missing.keras")
    assert "is a folder" in _refused(tmp_path)


def test_files_that_look_like_models_pass_the_cheap_check(tmp_path: Path) -> None:
    h5 = tmp_path / "model.h5"
    h5.write_bytes(HDF5_SIGNATURE + b"\x00" * 32)
    assert check_model_file(h5) == h5
    keras_file = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_file, "w") as archive:
        archive.writestr("config.json", "{}")
    assert check_model_file(keras_file) == keras_file


@pytest.mark.parametrize("command", [["run"], []])
def test_a_non_model_file_stops_the_command_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "pqat_tui.headless", None)  # importing it (doing work) would fail
    monkeypatch.setitem(sys.modules, "pqat_tui.app_command", None)
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("hello")
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--model", str(not_a_model)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    reason = "not a Keras model (a .keras file is a zip archive; this is not)"
    assert err == f"pqat-tui: error: {not_a_model}: {reason}\n"
    assert not (tmp_path / "runs").exists()  # no run folder was made


def test_no_train_without_a_model_is_refused() -> None:
    with pytest.raises(UserModelError, match="--no-train needs --model"):
        load_model_choice(None, True)
    assert load_model_choice(None, False) == (None, True)
