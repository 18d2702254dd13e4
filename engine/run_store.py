"""A run on disk: its folder, the lock that keeps a second process out, the manifest and the fingerprints.

A run folder holds:

    config.toml      the effective config
    manifest.json    per stage: status, fingerprint of its inputs, timings, metrics, files and their hashes
    results.json     RunResults (schema 1), as `run --json` writes it
    events.jsonl     the engine's events, one JSON object a line
    models/          each stage's model: .keras / .h5 for Keras models, .tflite for converted ones
    run.lock         while a process writes the run: its pid, host and start time
    tensorflow.log   TensorFlow's native log (the engine process's standard error)
    worker.json      while an engine process serves the run: its pid, socket, stage and progress
    engine.sock      that process's Unix socket, through which viewers drive and watch it

Every file is written atomically (a temporary file in the same folder, then a rename), so a process killed
at any moment leaves each file either as it was or complete. No TensorFlow here: deciding what is up to
date reads only the config, the data file and the manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.config import PipelineConfig
from engine.events import (
    BatchProgress,
    EngineEvent,
    EpochEnded,
    LogMessage,
    StageCancelled,
    StageFailed,
    StageFinished,
    StageStarted,
)
from engine.results import RunResults
from engine.stages import STAGE_INPUTS, Stage

MANIFEST_SCHEMA = 1
# Part of every fingerprint: bump it when a stage's computation changes, so old outputs are not reused.
RECIPE_VERSION = 1

DEFAULT_RUNS_ROOT = Path("runs")
CONFIG_FILE = "config.toml"
MANIFEST_FILE = "manifest.json"
RESULTS_FILE = "results.json"
EVENTS_FILE = "events.jsonl"
LOCK_FILE = "run.lock"
MODELS_DIR = "models"
NATIVE_LOG_FILE = "tensorflow.log"  # where the app sends TensorFlow's native logging
WORKER_FILE = "worker.json"  # while an engine process serves the run: its pid, socket and progress
SOCKET_FILE = "engine.sock"  # that process's Unix socket (see engine.live for deep folders)
# What a run folder may hold before its manifest is first written.
RUN_FOLDER_NAMES = frozenset(
    {
        CONFIG_FILE,
        MANIFEST_FILE,
        RESULTS_FILE,
        EVENTS_FILE,
        LOCK_FILE,
        MODELS_DIR,
        NATIVE_LOG_FILE,
        WORKER_FILE,
        SOCKET_FILE,
    }
)


class RunStoreError(Exception):
    """A run folder that cannot be used as asked; the message is one line naming the folder and the fault."""


class RunLockedError(RunStoreError):
    """Another live process holds the run's lock."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- atomic files -------------------------------------------------------------------------------------


def write_atomic(path: Path, content: bytes) -> None:
    """Write `content` to `path` so that a reader (or a kill) never sees half a file.

    The bytes go to a temporary file beside `path`, are flushed to disk, and the file is renamed over
    `path`: a rename within one folder is atomic on POSIX and Windows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (names and bytes, in name order)."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# --- the lock -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started: str  # ISO 8601, UTC

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.started}"

    def is_alive(self) -> bool:
        """Whether the holder may still be running. A holder on another host is taken to be alive."""
        if self.host != socket.gethostname():
            return True
        if self.pid == os.getpid():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # a live process of another user
        return True


class RunLock:
    """An exclusive lock on a run folder: `run.lock` created with O_EXCL, holding pid, host and start time.

    A lock whose process is dead (same host, no such pid) is stale and is taken over; any other holder makes
    `acquire` raise RunLockedError naming it.
    """

    def __init__(self, path: Path, holder: LockHolder) -> None:
        self.path = path
        self.holder = holder

    @classmethod
    def acquire(cls, folder: Path) -> RunLock:
        path = Path(folder) / LOCK_FILE
        me = LockHolder(os.getpid(), socket.gethostname(), utc_now())
        content = json.dumps(dataclasses.asdict(me)).encode()
        for _attempt in range(5):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = read_lock(path)
                if holder is not None and holder.is_alive():
                    raise RunLockedError(
                        f"{folder}: in use by {holder.describe()} (lock file {path}; delete it only if "
                        "that process is gone)"
                    ) from None
                _remove_stale_lock(path, holder)
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            return cls(path, me)
        raise RunLockedError(f"{folder}: could not take the lock {path} (another process keeps taking it)")

    def release(self) -> None:
        """Remove the lock file if it is still ours."""
        if read_lock(self.path) == self.holder:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_lock(path: Path) -> LockHolder | None:
    """The holder a lock file names, or None for a missing, empty or unreadable one (a crash mid-write)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_stale_lock(path: Path, stale: LockHolder | None) -> None:
    """Move a dead process's lock out of the way, unless another process replaced it meanwhile."""
    aside = path.with_name(f".{path.name}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another process removed it first; the caller tries O_EXCL again
    if read_lock(aside) != stale:
        # Between our read and our rename, a live process took the lock: put it back (never over a new one).
        with contextlib.suppress(OSError):
            os.link(aside, path)
    with contextlib.suppress(OSError):
        aside.unlink()


# --- the manifest -----------------------------------------------------------------------------------------

DONE, FAILED, CANCELLED, RUNNING = "done", "failed", "cancelled", "running"


@dataclass(frozen=True)
class StageRecord:
    status: str  # done, failed, cancelled, or running (a run that died mid-stage leaves this behind)
    fingerprint: str
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # path in the run folder -> sha256
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageRecord:
        return cls(
            status=str(data["status"]),
            fingerprint=str(data["fingerprint"]),
            started=str(data.get("started") or ""),
            finished=str(data.get("finished") or ""),
            seconds=float(data.get("seconds") or 0.0),
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
            artifacts={str(k): str(v) for k, v in (data.get("artifacts") or {}).items()},
            error=data.get("error"),
        )


@dataclass(frozen=True)
class Manifest:
    created: str
    updated: str = ""
    stages: dict[str, StageRecord] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)  # what the fingerprints were computed from

    def record(self, stage: Stage) -> StageRecord | None:
        return self.stages.get(Stage(stage).value)

    def with_record(self, stage: Stage, record: StageRecord) -> Manifest:
        return dataclasses.replace(self, stages={**self.stages, Stage(stage).value: record})

    def without(self, stages: Iterable[Stage]) -> Manifest:
        dropped = {Stage(s).value for s in stages}
        return dataclasses.replace(self, stages={k: v for k, v in self.stages.items() if k not in dropped})

    def to_json(self) -> dict[str, Any]:
        ordered = {s.value: self.stages[s.value].to_json() for s in Stage if s.value in self.stages}
        return {
            "schema": MANIFEST_SCHEMA,
            "created": self.created,
            "updated": self.updated,
            "inputs": self.inputs,
            "stages": ordered,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        if data.get("schema") != MANIFEST_SCHEMA:
            schema = data.get("schema")
            raise ValueError(f"unsupported manifest schema {schema!r} (expected {MANIFEST_SCHEMA})")
        return cls(
            created=str(data.get("created") or ""),
            updated=str(data.get("updated") or ""),
            stages={
                Stage(name).value: StageRecord.from_json(record)
                for name, record in (data.get("stages") or {}).items()
            },
            inputs=dict(data.get("inputs") or {}),
        )


# --- fingerprints -----------------------------------------------------------------------------------------


def data_files(source: str) -> Path | None:
    """The file (or folder) that loading `source` reads, found without loading it (and without TensorFlow).

    For mnist and fashion_mnist that is the Keras download cache when it is there, else the bundled sample
    the loader falls back to.
    """
    from engine import data

    if source in data.KERAS_SOURCES:
        cached = data.keras_cache_dir() / ("mnist.npz" if source == "mnist" else "fashion-mnist")
        if cached.exists():
            return cached
        source = data.SAMPLE
    if source == data.SAMPLE:
        try:
            return data.sample_path()
        except data.DataError:
            return None
    path = Path(source).expanduser()
    return path if path.exists() else None


def data_digest(source: str) -> str:
    """What the data stage's fingerprint covers: the source as named and the content of what it reads."""
    path = data_files(source)
    return f"{source}|{file_digest(path) if path else 'missing'}"


def stage_sections(
    config: PipelineConfig, extra: Mapping[Stage, Mapping[str, Any]] | None = None
) -> dict[Stage, dict[str, Any]]:
    """The part of the config (plus any `extra` input, such as a user model's hash) each stage reads."""
    trained = {
        Stage.BASELINE: config.baseline,
        Stage.PRUNE: config.prune,
        Stage.QAT: config.qat,
        Stage.PQAT: config.pqat,
    }
    sections: dict[Stage, dict[str, Any]] = {stage: {} for stage in Stage}
    sections[Stage.DATA] = {"data": config.data}
    for stage, section in trained.items():
        # Every training stage seeds its own random numbers with config.seed.
        sections[stage] = {stage.value: dataclasses.asdict(section), "seed": config.seed}
    sections[Stage.PTQ] = {"ptq": dataclasses.asdict(config.ptq)}
    for stage, values in (extra or {}).items():
        sections[Stage(stage)] = {**sections[Stage(stage)], **values}
    return sections


def stage_fingerprints(
    config: PipelineConfig,
    data_content: str,
    extra: Mapping[Stage, Mapping[str, Any]] | None = None,
) -> dict[Stage, str]:
    """A fingerprint of each stage's inputs: its config section plus the fingerprints of the stages it reads.

    A change anywhere upstream therefore changes the fingerprint of everything downstream of it.
    """
    sections = stage_sections(config, {Stage.DATA: {"content": data_content}, **(extra or {})})
    prints: dict[Stage, str] = {}
    for stage in Stage:  # pipeline order: every stage's inputs come before it
        payload = {
            "recipe": RECIPE_VERSION,
            "stage": stage.value,
            "section": sections[stage],
            "inputs": {s.value: prints[s] for s in STAGE_INPUTS[stage]},
        }
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        prints[stage] = hashlib.sha256(encoded).hexdigest()[:16]
    return prints


# --- stage metrics for the manifest ---------------------------------------------------------------------


def stage_metrics(stage: Stage, results: RunResults) -> dict[str, float]:
    """The headline numbers of one finished stage, as the manifest shows them."""
    models = results.models
    metrics: dict[str, float] = {}
    stage = Stage(stage)
    if stage is Stage.DATA and results.dataset is not None:
        metrics = {"train_images": results.dataset.train, "test_images": results.dataset.test}
    keras_model = {Stage.BASELINE: "baseline", Stage.PRUNE: "pruned", Stage.QAT: "qat", Stage.PQAT: "pqat"}
    if stage in keras_model and keras_model[stage] in models:
        model = models[keras_model[stage]]
        if model.keras_accuracy is not None:
            metrics["accuracy"] = model.keras_accuracy
        kernels = model.kernel_sparsity()
        if kernels:
            metrics["kernel_sparsity"] = sum(w.zeros for w in kernels) / max(1, sum(w.total for w in kernels))
    tflite_models = {Stage.CONVERT: ("qat", "pqat"), Stage.EVALUATE: ("qat", "pqat"), Stage.PTQ: ("ptq",)}
    for name in tflite_models.get(stage, ()):
        tflite = models[name].tflite if name in models else None
        if tflite is None:
            continue
        if stage is not Stage.EVALUATE:
            metrics[f"{name}_tflite_bytes"] = tflite.bytes
            metrics[f"{name}_zipped_bytes"] = tflite.zipped_bytes
        if stage is not Stage.CONVERT and tflite.accuracy is not None:
            metrics[f"{name}_tflite_accuracy"] = tflite.accuracy
    return {k: float(v) for k, v in metrics.items()}


# --- the event log --------------------------------------------------------------------------------------


def event_json(event: EngineEvent) -> dict[str, Any]:
    """An event as one JSON object: the schema of events.jsonl, and what a worker process sends its viewers.

    Every event round-trips through `event_from_json`. StageFinished's results are RunResults' own JSON
    (schema 1); the event log leaves them (and batch progress) out, see EventLog.
    """
    values: dict[str, Any] = {"time": utc_now(), "event": type(event).__name__}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, Stage):
            value = value.value
        elif isinstance(value, RunResults):
            value = value.to_json()
        values[item.name] = value
    return values


_EVENT_TYPES: dict[str, type[EngineEvent]] = {
    cls.__name__: cls
    for cls in (
        StageStarted,
        BatchProgress,
        EpochEnded,
        LogMessage,
        StageFinished,
        StageFailed,
        StageCancelled,
    )
}


def event_from_json(data: Mapping[str, Any]) -> EngineEvent:
    """The event `event_json` wrote; ValueError for an unknown event or a missing or mistyped field.

    A StageFinished read from events.jsonl has no results there: it gets empty ones (results.json has them).
    """
    name = data.get("event")
    cls = _EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown event {name!r}")
    values: dict[str, Any] = {}
    try:
        for item in dataclasses.fields(cls):
            if item.name not in data:
                if item.name == "results":
                    values["results"] = RunResults()
                continue  # the dataclass default, or a TypeError below naming the missing field
            value = data[item.name]
            if item.name == "stage":
                value = None if value is None else Stage(value)
            elif item.name == "results":
                value = RunResults.from_json(value)
            elif item.name == "metrics":
                value = {str(key): float(number) for key, number in value.items()}
            elif item.name == "seconds":
                value = float(value)
            elif item.name in ("text", "level", "error"):
                value = str(value)
            else:
                value = int(value)
            values[item.name] = value
        return cls(**values)
    except (TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"{name}: {error}") from None


class EventLog:
    """Appends events to events.jsonl, one complete line per write (a kill loses at most the last event)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, event: EngineEvent) -> None:
        """Log `event`; batch progress is not worth a line, and results.json holds StageFinished's results."""
        if isinstance(event, BatchProgress):
            return
        line = event_json(event)
        line.pop("results", None)
        encoded = (json.dumps(line, default=str) + "\n").encode("utf-8")
        # O_APPEND writes of one line land whole, after everything written before.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, encoded)
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """Every complete line (a line cut short by a kill is skipped)."""
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events


# --- the folder -----------------------------------------------------------------------------------------


def new_run_dir(root: Path = DEFAULT_RUNS_ROOT, now: float | None = None) -> Path:
    """`runs/<UTC timestamp>/` (a suffix -2, -3... when two runs start in the same second)."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(now if now is not None else time.time()))
    candidate = Path(root) / stamp
    suffix = 2
    while candidate.exists():
        candidate = Path(root) / f"{stamp}-{suffix}"
        suffix += 1
    return candidate


def latest_run_dir(root: Path = DEFAULT_RUNS_ROOT) -> Path | None:
    """The run under `root` created last (by its manifest), or None when there is none."""
    root = Path(root)
    if not root.is_dir():
        return None
    runs: list[tuple[str, str, Path]] = []
    for folder in root.iterdir():
        manifest = folder / MANIFEST_FILE
        if not manifest.is_file():
            continue
        try:
            created = str(json.loads(manifest.read_text(encoding="utf-8")).get("created") or "")
        except (OSError, ValueError):
            created = ""
        runs.append((created, folder.name, folder))
    return max(runs)[2] if runs else None


def resolve_resume_dir(requested: str | Path | None, root: Path = DEFAULT_RUNS_ROOT) -> Path:
    """The folder `--resume [DIR]` means: DIR, or the latest run under `root`; RunStoreError if none."""
    if requested:
        folder = Path(requested)
        if not (folder / MANIFEST_FILE).is_file():
            raise RunStoreError(f"{folder}: not a pqat-tui run folder (no {MANIFEST_FILE})")
        return folder
    latest = latest_run_dir(root)
    if latest is None:
        raise RunStoreError(f"no run to resume under {root}/ (start one with `pqat-tui run`)")
    return latest


class RunFolder:
    """The files of one run, read and written atomically. Hold `lock` (RunFolder.open does) to write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock: RunLock | None = None
        self.events = EventLog(self.path / EVENTS_FILE)

    @classmethod
    def open(cls, path: Path, *, must_exist: bool = False) -> RunFolder:
        """Create (or reopen) a run folder and take its lock; RunStoreError/RunLockedError if it cannot."""
        path = Path(path)
        if must_exist and not (path / MANIFEST_FILE).is_file():
            raise RunStoreError(f"{path}: not a pqat-tui run folder (no {MANIFEST_FILE})")
        if path.exists() and not path.is_dir():
            raise RunStoreError(f"{path}: is a file, not a run folder")
        if path.is_dir() and not (path / MANIFEST_FILE).exists():
            foreign = sorted(p.name for p in path.iterdir() if p.name not in RUN_FOLDER_NAMES)
            if foreign:
                raise RunStoreError(
                    f"{path}: not a pqat-tui run folder and not empty (holds {foreign[0]}): "
                    "give a new or empty folder"
                )
        try:
            (path / MODELS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunStoreError(f"{path}: cannot create the run folder ({error.strerror})") from None
        folder = cls(path)
        folder.lock = RunLock.acquire(path)
        return folder

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Paths
    def file(self, name: str) -> Path:
        return self.path / name

    def model_path(self, relative: str) -> Path:
        return self.path / relative

    # Reading
    def read_manifest(self) -> Manifest | None:
        path = self.file(MANIFEST_FILE)
        if not path.exists():
            return None
        try:
            return Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RunStoreError(f"{path}: unreadable manifest ({error})") from None

    def read_results(self) -> RunResults | None:
        path = self.file(RESULTS_FILE)
        if not path.exists():
            return None
        try:
            return RunResults.read_json(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RunStoreError(f"{path}: unreadable results ({error})") from None

    def artifacts_intact(self, record: StageRecord) -> bool:
        """Whether every file the record lists is there with the content it had when written."""
        for relative, digest in record.artifacts.items():
            path = self.path / relative
            if not path.is_file() or file_digest(path) != digest:
                return False
        return True

    # Writing (atomic)
    def write_config(self, text: str) -> None:
        write_text_atomic(self.file(CONFIG_FILE), text)

    def write_manifest(self, manifest: Manifest) -> None:
        stamped = dataclasses.replace(manifest, updated=utc_now())
        write_json_atomic(self.file(MANIFEST_FILE), stamped.to_json())

    def write_results(self, results: RunResults) -> None:
        results.write_json(self.file(RESULTS_FILE))

    def write_artifact(self, relative: str, content: bytes) -> str:
        """Write a file under the run folder atomically; returns its sha256 for the manifest."""
        write_atomic(self.path / relative, content)
        return hashlib.sha256(content).hexdigest()


def stage_artifact_paths(stage: Stage) -> dict[str, str]:
    """The files a stage leaves in the run folder, by model name (paths relative to the folder)."""
    stage = Stage(stage)
    keras_files = {
        Stage.BASELINE: ("baseline", ".keras"),
        Stage.PRUNE: ("pruned", ".keras"),
        # tf_keras cannot load tfmot's QuantizeLayer back from .keras; HDF5 keeps it (see engine.artifacts).
        Stage.QAT: ("qat", ".h5"),
        Stage.PQAT: ("pqat", ".h5"),
    }
    if stage in keras_files:
        name, suffix = keras_files[stage]
        return {name: f"{MODELS_DIR}/{name}{suffix}"}
    if stage is Stage.CONVERT:
        return {name: f"{MODELS_DIR}/{name}.tflite" for name in ("qat", "pqat")}
    if stage is Stage.PTQ:
        return {"ptq": f"{MODELS_DIR}/ptq.tflite"}
    return {}


def stale_stages(manifest: Manifest | None, fingerprints: Mapping[Stage, str]) -> list[Stage]:
    """Stages the manifest has as done whose inputs have changed since, in pipeline order."""
    if manifest is None:
        return []
    found = []
    for stage in Stage:
        record = manifest.record(stage)
        if record is not None and record.status == DONE and record.fingerprint != fingerprints[stage]:
            found.append(stage)
    return found


def iter_done(manifest: Manifest | None) -> Iterator[tuple[Stage, StageRecord]]:
    if manifest is None:
        return
    for stage in Stage:
        record = manifest.record(stage)
        if record is not None and record.status == DONE:
            yield stage, record
