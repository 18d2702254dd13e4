"""#8 item 8: every reader validates structure and types at a bounded cost, and says what is wrong in a line.

The explicit cases are the issue's; the property-based ones (hypothesis, 500 examples each) feed random and
mutated manifests, results files, configs and lock files to the readers, in-process through the entry points
a user reaches them by, and accept only two outcomes: the file is read, or one line names it and what is
wrong. Never a traceback, never a hang.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from hostile import assert_one_line_error
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.config import PipelineConfig
from engine.config_file import ConfigError, config_to_toml, read_config_file
from engine.results import RunResults
from engine.run_store import (
    LOCK_FILE,
    MANIFEST_FILE,
    RunFolder,
    RunLock,
    RunLockedError,
    RunStoreError,
    read_lock,
)
from engine.strict_json import MAX_JSON_BYTES
from pqat_tui.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RESULTS = json.loads((ROOT / "assets" / "example-report" / "results.json").read_text())


def _compact(results: dict[str, Any]) -> dict[str, Any]:
    """The example results with one of each list item: every key is there, and a report renders fast."""
    compact = json.loads(json.dumps(results))
    for model in compact["models"].values():
        model["history"] = model["history"][:1]
        for key in ("weight_counts", "sparsity"):
            model[key] = dict(list(model[key].items())[:2])
        if model["tflite"]:
            for key in ("weight_counts", "weight_sparsity"):
                model["tflite"][key] = dict(list(model["tflite"][key].items())[:1])
    for key in ("preview_images", "preview_labels"):
        compact["dataset"][key] = compact["dataset"][key][:1]
    return compact


COMPACT_RESULTS = _compact(EXAMPLE_RESULTS)
FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _report(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["report", str(path), *args])
    return status, capsys.readouterr().err


# --- results.json: the cases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1]", "expected a JSON object (not a pqat-tui results file), got an array"),
        ('{"schema": 1, "models": [1]}', "models: expected an object or null, got an array"),
        ('{"schema": 1, "models": {"pqat": 1}}', "models.pqat: expected an object, got an integer"),
        (
            '{"schema": 1, "models": {"pqat": {"keras_accuracy": "0.98"}}}',
            "models.pqat.keras_accuracy: expected a number or null, got a string",
        ),
        ('{"schema": 1, "failures": {"qat": 5}}', "failures.qat: expected a string, got an integer"),
        (
            '{"schema": 1, "versions": {"tensorflow": 2.21}}',
            "versions.tensorflow: expected a string, got a number",
        ),
        ('{"schema": true}', "schema: expected an integer, got true"),
        (
            '{"schema": 1, "dataset": {"source": "s", "train": -1, "test": 0}}',
            "dataset.train: expected an integer >= 0, got -1",
        ),
        ('{"schema": 1, "dataset": {"train": 1, "test": 1}}', "dataset.source: missing"),
        (
            '{"schema": 1, "dataset": {"source": "s", "train": 1, "test": 1, "preview_images": ["%%%"]}}',
            "dataset.preview_images[0]: expected base64 text, got a string",
        ),
        (
            '{"schema": 1, "dataset": {"source": "s", "train": 1, "test": 1, "preview_images": ["\\u0080"]}}',
            "dataset.preview_images[0]: expected base64 text, got a string",
        ),
        (
            '{"schema": 1, "models": {"qat": {"tflite": {"bytes": 10, "zipped_bytes": 0}}}}',
            "models.qat.tflite.zipped_bytes: expected an integer >= 1, got 0",
        ),
        (
            '{"schema": 1, "models": {"qat": {"weight_counts": {"w": [5, 2]}}}}',
            "models.qat.weight_counts.w: 5 zeros of 2",
        ),
        (
            '{"schema": 1, "models": {"qat": {"weight_counts": {"w": [1]}}}}',
            "expected [zeros, total], got an array",
        ),
        (
            '{"schema": 1, "models": {"qat": {"keras_accuracy": 1.5}}}',
            "expected a number in [0, 1] or null, got 1.5",
        ),
        (
            '{"schema": 1, "models": {"qat": {"history": [{"epoch": 1, "loss": "x"}]}}}',
            "history[0].loss: expected a number",
        ),
        (
            '{"schema": 1, "stage_seconds": {"qat": -3}}',
            "stage_seconds.qat: expected a number >= 0, got -3",
        ),
        (
            '{"schema": 1, "config": {"prune": {"sparsity": "x"}}}',
            'config: prune.sparsity = "x": must be a number',
        ),
        ('{"schema": 1, "config": {"prune": 3}}', "config: prune = 3: must be a table"),
        ('{"schema": 1, "config": {"seed": ' + "9" * 30 + "}}", "config: seed: must be an integer"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"schema": 1, "x": ' + "1" * 5000 + "}", "not a pqat-tui file (Exceeds the limit"),
        ('{"schema": 1, "models": {"qat": {"keras_accuracy": NaN}}}', "expected a finite number"),
    ],
)
def test_a_results_file_of_the_wrong_shape_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    status, err = _report(path, capsys)
    assert status == 2
    assert_one_line_error(err, f"{path}: ", message)


def test_results_without_the_optional_keys_still_load() -> None:
    assert RunResults.from_json({"schema": 1}) == RunResults()
    loaded = RunResults.from_json(
        {"schema": 1, "models": {"qat": {}}, "dataset": {"source": "s", "train": 1, "test": 2}}
    )
    assert loaded.models["qat"].keras_accuracy is None and loaded.dataset is not None
    assert RunResults.from_json({**EXAMPLE_RESULTS, "a_later_key": [1, 2]}).models  # newer keys are ignored


def test_a_diverged_training_history_keeps_its_nan(tmp_path: Path) -> None:
    data = json.loads(json.dumps(EXAMPLE_RESULTS))
    data["models"]["baseline"]["history"][0]["loss"] = math.nan
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    assert math.isnan(RunResults.read_json(path).models["baseline"].history[0].metrics["loss"])


@pytest.mark.parametrize("kind", ["fifo", "device", "huge", "not utf-8", "folder without results"])
def test_a_results_path_that_is_not_a_small_regular_file_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "results.json"
    expected = {
        "fifo": "not a regular file",
        "device": "not a regular file",
        "huge": "over the 64 MiB such a file can be",
        "not utf-8": "not a JSON file (not UTF-8 text)",
        "folder without results": "a folder without results.json",
    }[kind]
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif kind == "device":
        path = Path("/dev/zero")  # reading it would never end
    elif kind == "huge":
        with open(path, "wb") as handle:  # sparse: costs no disk
            handle.truncate(MAX_JSON_BYTES + 1)
    elif kind == "not utf-8":
        path.write_bytes(b'{"schema": 1, "failures": {"qat": "\xff"}}')
    else:
        path = tmp_path
    status, err = _report(path, capsys)
    assert status == 2
    assert_one_line_error(err, str(path), expected)


# --- manifest.json ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1]", "expected a JSON object (not a pqat-tui manifest file), got an array"),
        ('{"schema": 1, "stages": [1]}', "stages: expected an object or null, got an array"),
        ('{"schema": 1, "stages": {"data": 1}}', "stages.data: expected an object, got an integer"),
        (
            # Any plain name may be a recipe's stage (engine.recipe.NAME_PATTERN); a path-like one never.
            '{"schema": 1, "stages": {"../bogus": {}}}',
            "stages.../bogus: not a stage name (1-40 lower-case letters, digits or _",
        ),
        ('{"schema": 1, "stages": {"data": {"fingerprint": "f"}}}', "stages.data.status: missing"),
        (
            '{"schema": 1, "stages": {"data": {"status": "won", "fingerprint": "f"}}}',
            "'won' is not one of done",
        ),
        (
            '{"schema": 1, "stages": {"data": {"status": "done", "fingerprint": 1}}}',
            "fingerprint: expected a string",
        ),
        (
            '{"schema": 1, "stages": {"data": {"status": "done", "fingerprint": "f", "seconds": "1"}}}',
            "seconds: expected a number",
        ),
        (
            '{"schema": 1, "stages": {"data": {"status": "done", "fingerprint": "f", "error": 5}}}',
            "stages.data.error: expected a string",
        ),
        (
            '{"schema": 1, "stages": {"data": {"status": "done", "fingerprint": "f", "metrics": {"a": ""}}}}',
            "metrics.a: expected a number",
        ),
        ('{"schema": 1, "created": 5}', "created: expected a string or null, got an integer"),
        ('{"schema": 1, "inputs": []}', "inputs: expected an object or null, got an array"),
        ('{"schema": 2}', "unsupported manifest schema 2 (expected 1)"),
    ],
)
def test_a_manifest_of_the_wrong_shape_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / MANIFEST_FILE).write_text(content)
    (run / "config.toml").write_text('data = "sample"\n')
    assert main(["run", "--resume", str(run)]) == 2
    assert_one_line_error(capsys.readouterr().err, f"{run / MANIFEST_FILE}: ", message)


# --- run.lock ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"pid": 0, "host": "H", "started": "s"}',  # os.kill(0) would signal our own process group
        b'{"pid": -1, "host": "H", "started": "s"}',  # os.kill(-1) every process we may signal
        b'{"pid": 99999999999999999999999, "host": "H", "started": "s"}',  # os.kill: OverflowError
        b'{"pid": "123", "host": "H", "started": "s"}',
        b'{"pid": true, "host": "H", "started": "s"}',
        b'{"pid": 1e400, "host": "H", "started": "s"}',
        b'{"pid": 5, "host": ["H"], "started": "s"}',
        b'{"pid": 5}',
        b"[" * 50_000,
    ],
)
def test_a_garbage_lock_protects_nothing_and_is_taken_over(tmp_path: Path, content: bytes) -> None:
    (tmp_path / LOCK_FILE).write_bytes(content.replace(b'"H"', json.dumps(socket.gethostname()).encode()))
    assert read_lock(tmp_path / LOCK_FILE) is None
    lock = RunLock.acquire(tmp_path)
    assert read_lock(tmp_path / LOCK_FILE) == lock.holder
    lock.release()


def test_a_lock_that_is_a_fifo_or_huge_is_not_read_whole(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_lock(fifo) is None  # reading it would block
    huge = tmp_path / "huge"
    with open(huge, "wb") as handle:
        handle.truncate(2**33)  # 8 GiB, sparse
    assert read_lock(huge) is None


# --- the config file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("seed = " + "9" * 5000, "not valid TOML: Exceeds the limit"),
        ("a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        (
            "seed = 0x" + "f" * 5000,
            "seed: must be an integer in [0, 4294967295], not an integer of 20000 bits",
        ),
        (
            "[baseline]\nepochs = 0x" + "f" * 40,
            "baseline.epochs: must be an integer >= 1, not an integer of 160 bits",
        ),
        (
            "[prune]\nlearning_rate = 0x" + "f" * 40,
            "prune.learning_rate: must be a number > 0, not an integer",
        ),
        ("[prune]\nsparsity = nan", "prune.sparsity = nan: must be a number in [0, 1)"),
        ('data = "\\ud800"', "not valid TOML"),
    ],
)
def test_a_hostile_config_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(SystemExit) as stop:
        main(["config", "--config", str(path)])
    assert stop.value.code == 2
    assert_one_line_error(capsys.readouterr().err, str(path), message)


@pytest.mark.parametrize("kind", ["device", "fifo", "huge"])
def test_a_config_path_that_is_not_a_small_regular_file_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = Path("/dev/zero") if kind == "device" else tmp_path / "c.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        with open(path, "wb") as handle:
            handle.truncate(2**30)
    with pytest.raises(SystemExit):
        main(["config", "--config", str(path)])
    err = capsys.readouterr().err
    assert_one_line_error(err, str(path), "over the 1 MiB" if kind == "huge" else "not a regular file")


def test_a_data_name_that_is_not_utf8_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    name = os.fsdecode(b"digits-\xff.npz")  # what Python makes of a file name that is not UTF-8
    with pytest.raises(SystemExit) as stop:
        main(["config", "--data", name])
    assert stop.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "--data", "must be valid Unicode text")


# --- property-based: random and mutated files through the readers ------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["[/x]", "0.98", "", "../victim.txt", "/etc/passwd", "models/baseline.keras", "done"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, as the keys and indexes that lead there."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` with one to three places replaced by random JSON, deleted, or given a new random key."""
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        places = _paths(document)
        place = draw(st.sampled_from(places))
        if not place:
            document = draw(JSON_VALUES)
            continue
        parent = document
        for key in place[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[place[-1]] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[place[-1]]
        elif isinstance(parent[place[-1]], dict):
            parent[place[-1]][draw(st.text(max_size=12))] = draw(JSON_VALUES)
    return document


def _file_bytes(document: Any, cut: int | None) -> bytes:
    text = json.dumps(document).encode("utf-8", "surrogatepass")
    return text if cut is None else text[:cut]  # a file cut short, as a crash or a full disk leaves one


@FUZZ
@given(
    document=mutated(COMPACT_RESULTS) | JSON_VALUES,
    cut=st.none() | st.none() | st.integers(0, 20_000),
)
def test_fuzzed_results_files_through_pqat_tui_report(tmp_path: Path, document: Any, cut: int | None) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(_file_bytes(document, cut))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["report", str(path), "--format", "md", "-o", str(tmp_path / "report.md")])
    if status == 0:
        assert err.getvalue() == ""
    else:
        assert status == 2
        assert_one_line_error(err.getvalue(), f"{path}: ")


@st.composite
def manifests(draw: st.DrawFn) -> Any:
    record = {
        "status": draw(st.sampled_from(["done", "failed", "running", "stale", "cancelled"])),
        "fingerprint": "0123456789abcdef",
        "started": "2026-01-01T00:00:00Z",
        "finished": "2026-01-01T00:00:05Z",
        "seconds": 5.0,
        "metrics": {"accuracy": 0.9},
        "artifacts": {"models/baseline.keras": "0" * 64},
        "error": None,
    }
    valid = {
        "schema": 1,
        "created": "2026-01-01T00:00:00Z",
        "updated": "2026-01-01T00:00:09Z",
        "inputs": {"data": "sample|abc", "model": {"path": "/m.keras", "file": "models/input-model.keras",
                                                  "model_sha256": "0", "train": True}},
        "stages": {"data": {**record, "artifacts": {}}, "baseline": record},
    }  # fmt: skip
    return draw(mutated(valid) | JSON_VALUES)


@FUZZ
@given(document=manifests(), cut=st.none() | st.none() | st.integers(0, 2_000))
def test_fuzzed_manifests_through_the_run_folder_reader(
    tmp_path: Path, document: Any, cut: int | None
) -> None:
    (tmp_path / MANIFEST_FILE).write_bytes(_file_bytes(document, cut))
    folder = RunFolder(tmp_path)
    try:
        manifest = folder.read_manifest()
    except RunStoreError as error:
        assert_one_line_error(f"pqat-tui: error: {error}\n", f"{tmp_path / MANIFEST_FILE}: ")
        return
    assert manifest is not None
    for record in manifest.stages.values():  # whatever it names stays inside the folder
        for relative in record.artifacts:
            assert folder.inside(relative).resolve().is_relative_to(tmp_path.resolve())
        folder.artifacts_intact(record)


TOML_VALUES = st.sampled_from(
    [
        "1",
        "0",
        "-1",
        "1.5",
        "nan",
        "inf",
        "-inf",
        "1e400",
        "0x" + "f" * 30,
        '"text"',
        '"[/x]"',
        "true",
        "[]",
        "[1, [2]]",
        "{ a = 1 }",
        "2026-01-01",
        "'''multi\nline'''",
        '"\\ud800"',
        "9" * 30,
        '"sample"',
    ]
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """A valid config file with lines replaced, dropped or added at random; or random text."""
    lines = config_to_toml(PipelineConfig()).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "value", "drop", "junk", "key"]))
        line = lines[index]
        if action == "value" and " = " in line:
            lines[index] = line.split(" = ", 1)[0] + " = " + draw(TOML_VALUES)
        elif action == "drop":
            del lines[index]
        elif action == "key":
            lines.insert(index, f"{draw(st.text(min_size=1, max_size=8))} = {draw(TOML_VALUES)}")
        else:
            lines.insert(index, draw(st.text(max_size=30)))
    return "\n".join(lines)


@FUZZ
@given(text=config_texts() | st.text(max_size=200))
def test_fuzzed_config_files_through_the_config_reader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pqat-tui.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        config = read_config_file(path)
    except ConfigError as error:
        assert_one_line_error(f"pqat-tui: error: {error}\n", str(path))
        return
    assert read_config_file_round_trip(config, tmp_path) == config


def read_config_file_round_trip(config: PipelineConfig, folder: Path) -> PipelineConfig:
    """What a run folder does with an accepted config: write it as TOML and read it back."""
    path = folder / "written.toml"
    path.write_text(config_to_toml(config), encoding="utf-8")
    return read_config_file(path)


LOCK_DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "pid": st.integers(-(2**70), 2**70) | JSON_SCALARS,
        "host": st.just(socket.gethostname()) | JSON_SCALARS,
        "started": JSON_SCALARS,
    },
)


@FUZZ
@given(
    content=LOCK_DOCUMENTS.map(lambda d: json.dumps(d).encode())
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
)
@example(content=b'{"pid": 1, "started": "", "host": "\\n"}')  # a live holder's newline: still one line
def test_fuzzed_lock_files_through_the_lock(tmp_path: Path, content: bytes) -> None:
    (tmp_path / LOCK_FILE).write_bytes(content)
    holder = read_lock(tmp_path / LOCK_FILE)  # never raises
    try:
        lock = RunLock.acquire(tmp_path)
    except RunLockedError as error:
        assert holder is not None and holder.is_alive()  # only a plausible live holder keeps the run
        assert_one_line_error(f"pqat-tui: error: {error}\n", "in use by")
        (tmp_path / LOCK_FILE).unlink()
        return
    assert holder is None or not holder.is_alive()
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()
