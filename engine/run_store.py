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
import re
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
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
from engine.recipe import NAME_PATTERN, PQAT, TRAINING_TECHNIQUES, Recipe, plain_name, runs_as_pqat
from engine.results import ResultsFileError, RunResults
from engine.stages import STAGE_NAMES, Stage, stage_key, stage_title
from engine.strict_json import FileContentError, Node, ShapeError, read_bounded, read_json_file
from engine.strict_json import document as strict_document
from engine.writes import (
    append_line,
    create_exclusive,
    write_atomic,
    write_error,
    write_json_atomic,
    write_text_atomic,
    writing,
)

MANIFEST_SCHEMA = 1
# Part of every fingerprint: bump it when a stage's computation changes, so old outputs are not reused.
RECIPE_VERSION = 2  # 2: training and evaluation read tf.data pipelines
# A data folder up to this size is fingerprinted by its files' content, a larger one by their names, sizes
# and modification times.
FOLDER_HASH_LIMIT = 256 << 20

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


# --- files ---------------------------------------------------------------------------------------------
# Every write goes through engine.writes; its WriteError names the file and the cause in words.


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
        return f"pid {self.pid} on {_printable(self.host)} since {_printable(self.started)}"

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
        """RunLockedError when a live process holds the run; WriteError when the folder is not writable."""
        path = Path(folder) / LOCK_FILE
        me = LockHolder(os.getpid(), socket.gethostname(), utc_now())
        content = json.dumps(dataclasses.asdict(me)).encode()
        for _attempt in range(5):
            try:
                create_exclusive(path, content)
            except FileExistsError:
                holder = read_lock(path)
                if holder is not None and holder.is_alive():
                    raise RunLockedError(
                        f"{folder}: in use by {holder.describe()} (lock file {path}; delete it only if "
                        "that process is gone)"
                    ) from None
                _remove_stale_lock(path, holder)
                continue
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


# A lock file is one short JSON line; anything longer is not one of ours.
MAX_LOCK_BYTES = 4096
MAX_PID = 2**31 - 1


def _printable(text: str) -> str:
    """`text` with its control characters escaped: a lock file's "\\n" must not split a one-line error."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def read_lock(path: Path) -> LockHolder | None:
    """The holder a lock file names, or None for a missing, empty, unreadable or malformed one (a crash
    mid-write, or garbage): such a lock protects nothing and is taken over."""
    try:
        document = Node(json.loads(read_bounded(Path(path), MAX_LOCK_BYTES).decode("utf-8")))
        return LockHolder(
            document.key("pid").integer(minimum=1, maximum=MAX_PID),
            document.key("host").string()[:255],
            document.key("started").string()[:64],
        )
    except (FileContentError, ShapeError, ValueError, RecursionError):
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
STALE = "stale"  # done in an earlier run, but its inputs have changed since (engine.stored_session)
STATUSES = (DONE, FAILED, CANCELLED, RUNNING, STALE)


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
    def from_json(cls, data: Any, stage: Stage | str = Stage.DATA, where: str = "") -> StageRecord:
        """A stage's record, strictly (ShapeError names the key): its files can only be the stage's own."""
        node = Node(data, where)
        status = node.key("status").string()
        if status not in STATUSES:
            raise ShapeError(f"{node.key('status').where}: {status!r} is not one of {', '.join(STATUSES)}")
        seconds, metrics, artifacts = (node.optional(k) for k in ("seconds", "metrics", "artifacts"))
        error = node.optional("error")
        return cls(
            status=status,
            fingerprint=node.key("fingerprint").string(),
            started=_optional_text(node.optional("started")),
            finished=_optional_text(node.optional("finished")),
            seconds=0.0 if seconds is None else seconds.number(minimum=0.0),
            metrics={} if metrics is None else metrics.mapping(lambda value: value.number(finite=False)),
            artifacts={} if artifacts is None else _artifacts_from_json(artifacts, plain_name(stage)),
            error=None if error is None else error.string(),
        )


def _optional_text(node: Node | None) -> str:
    return "" if node is None else node.string()


def _artifacts_from_json(node: Node, stage: str) -> dict[str, str]:
    """`{path: sha256}`, where each path is one the stage itself writes: a manifest names nothing else.

    So a crafted `../victim.txt` or `/etc/passwd` is refused here, before anything could read or delete it.
    A `pqat` stage's files are its own few; another recipe stage's are `models/<model>.<keras|h5|tflite>`,
    a plain name (engine.recipe.NAME_PATTERN) in the models folder and nothing else.
    """
    allowed = sorted(stage_artifact_paths(stage).values()) if stage in STAGE_NAMES else []
    artifacts = {}
    for relative, digest in node.entries():
        if stage not in STAGE_NAMES and RECIPE_ARTIFACT.fullmatch(relative):
            pass
        elif relative not in allowed:
            if stage not in STAGE_NAMES:
                expected = f"{MODELS_DIR}/<model>.keras, .h5 or .tflite"
            else:
                expected = f"one of {', '.join(allowed)}" if allowed else "none: the stage writes no file"
            raise ShapeError(
                f"{node.where}: {relative!r} is not a file {stage_title(stage)} writes (expected {expected})"
            )
        artifacts[relative] = digest.string()  # compared with the file's sha256: any other text fails that
    return artifacts


@dataclass(frozen=True)
class Manifest:
    created: str
    updated: str = ""
    stages: dict[str, StageRecord] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)  # what the fingerprints were computed from

    def record(self, stage: Stage | str) -> StageRecord | None:
        return self.stages.get(plain_name(stage))

    def with_record(self, stage: Stage | str, record: StageRecord) -> Manifest:
        return dataclasses.replace(self, stages={**self.stages, plain_name(stage): record})

    def without(self, stages: Iterable[Stage | str]) -> Manifest:
        dropped = {plain_name(s) for s in stages}
        return dataclasses.replace(self, stages={k: v for k, v in self.stages.items() if k not in dropped})

    def to_json(self) -> dict[str, Any]:
        # The pqat stages in their order, then any other recipe stage in the order it first ran.
        names = [
            *(s for s in STAGE_NAMES if s in self.stages),
            *(s for s in self.stages if s not in STAGE_NAMES),
        ]
        ordered = {name: self.stages[name].to_json() for name in names}
        return {
            "schema": MANIFEST_SCHEMA,
            "created": self.created,
            "updated": self.updated,
            "inputs": self.inputs,
            "stages": ordered,
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """A manifest from its parsed JSON, strictly: ShapeError names the first key that is wrong."""
        document = strict_document(data, "manifest", MANIFEST_SCHEMA)
        stages = document.optional("stages")
        records = {}
        for name, record in stages.entries() if stages is not None else ():
            if not NAME_PATTERN.fullmatch(name):
                raise ShapeError(
                    f"{record.where}: not a stage name (1-40 lower-case letters, digits or _, e.g. "
                    f"{', '.join(STAGE_NAMES)})"
                )
            records[name] = StageRecord.from_json(record.value, name, record.where)
        inputs = document.optional("inputs")
        return cls(
            created=_optional_text(document.optional("created")),
            updated=_optional_text(document.optional("updated")),
            stages=records,
            inputs={} if inputs is None else _inputs_from_json(inputs),
        )


# A file of a recipe stage that `pqat` does not have (see stage_artifact_paths).
RECIPE_ARTIFACT = re.compile(rf"{MODELS_DIR}/{NAME_PATTERN.pattern}\.(keras|h5|tflite)")
# Where a run keeps its own copy of the user's model (`--model`), so that resuming it reads nothing outside.
INPUT_MODEL_FILES = (f"{MODELS_DIR}/input-model.keras", f"{MODELS_DIR}/input-model.h5")


def _inputs_from_json(node: Node) -> dict[str, Any]:
    """What the fingerprints were computed from: the data's digest and, with `--model`, the model's."""
    data = node.optional("data")
    if data is not None:
        data.string()
    model = node.optional("model")
    if model is not None:
        model.key("path").string()  # shown only: the model is read from the run's own copy, `file`
        model.key("model_sha256").string()
        model.key("train").boolean()
        copy = model.optional("file")
        if copy is not None and copy.string() not in INPUT_MODEL_FILES:
            raise ShapeError(f"{copy.where}: {copy.value!r} is not {' or '.join(INPUT_MODEL_FILES)}")
    return dict(node.fields())


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
    """What the data stage's fingerprint covers: the source as named and what it reads.

    A file: its content. A folder: the names and content of its files, or, past FOLDER_HASH_LIMIT bytes (a
    large image set, read at every resume otherwise), their names, sizes and modification times. Anything
    else is not read at all, checked before hashing: a FIFO, a device (`/dev/zero`) or a pipe would block
    or never end; a file larger than the memory available cannot load anyway.
    """
    from engine.npz_reader import memory_limit

    path = data_files(source)
    if path is None:
        return f"{source}|missing"
    try:
        info = os.stat(path)
    except OSError:
        return f"{source}|unreadable"
    if stat.S_ISDIR(info.st_mode):
        return f"{source}|{folder_digest(path)}"
    if not stat.S_ISREG(info.st_mode):
        return f"{source}|not-a-regular-file"
    if info.st_size > memory_limit():
        return f"{source}|too-large|{info.st_size}"
    return f"{source}|{file_digest(path)}"


def folder_digest(folder: Path) -> str:
    """sha256 over the regular files under `folder` (links to folders not followed; FIFOs never opened)."""
    files: list[tuple[str, os.stat_result]] = []
    for current, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            with contextlib.suppress(OSError):
                info = os.stat(Path(current) / name)
                if stat.S_ISREG(info.st_mode):
                    files.append((str(Path(current, name).relative_to(folder).as_posix()), info))
    by_content = sum(info.st_size for _, info in files) <= FOLDER_HASH_LIMIT
    digest = hashlib.sha256(b"content" if by_content else b"listing")
    for relative, info in files:
        digest.update(relative.encode() + b"\0")
        if by_content:
            digest.update(file_digest(folder / relative).encode())
        else:
            digest.update(f"{info.st_size}:{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def stage_sections(
    config: PipelineConfig,
    extra: Mapping[Stage | str, Mapping[str, Any]] | None = None,
    recipe: Recipe | None = None,
) -> dict[str, dict[str, Any]]:
    """The part of the config (plus any `extra` input, such as a user model's hash) each stage reads.

    A `pqat` stage's part is what it always was, so runs made before recipes resume; any other recipe stage
    reads its resolved section (engine.collab_config.stage_config), and its recipe identity (technique,
    variant, inline settings), so that changing one branch invalidates that branch only.
    """
    recipe = recipe or PQAT
    trained = {
        Stage.BASELINE: config.baseline,
        Stage.PRUNE: config.prune,
        Stage.QAT: config.qat,
        Stage.PQAT: config.pqat,
    }
    sections: dict[str, dict[str, Any]] = {name: {} for name in recipe.names()}
    sections[Stage.DATA.value] = {
        "data": config.data,
        # How images are prepared; the seed carves an image folder's test split and orders its files.
        "image_size": config.image_size,
        "color_mode": config.color_mode,
        "test_split": config.test_split,
        "seed": config.seed,
    }
    for stage, section in trained.items():
        # Every training stage seeds its own random numbers with config.seed.
        sections[stage.value] = {stage.value: dataclasses.asdict(section), "seed": config.seed}
    sections[Stage.PTQ.value] = {"ptq": dataclasses.asdict(config.ptq)}
    for name in recipe.names():
        if runs_as_pqat(recipe, name):
            if recipe.stage(name).params.get("sparse_encoding") is True:
                sections[name] = {**sections[name], "sparse_encoding": True}
        else:
            sections[name] = _recipe_section(recipe, name, config)
    for stage, values in (extra or {}).items():
        name = plain_name(stage)
        if name in sections:
            sections[name] = {**sections[name], **values}
    return {name: sections[name] for name in recipe.names()}


def _recipe_section(recipe: Recipe, name: str, config: PipelineConfig) -> dict[str, Any]:
    """What a stage run by engine.recipe_runner reads: its identity and its resolved config section."""
    from engine.collab_config import TECHNIQUE_CONFIG, CollabConfig, stage_config

    spec = recipe.stage(name)
    resolved = stage_config(
        spec.section,
        dict(spec.settings),
        TECHNIQUE_CONFIG.get(spec.technique),
        config,
        CollabConfig.of(config),
    )
    section: dict[str, Any] = {"identity": recipe.identity(name)}
    if resolved is not None:
        section["config"] = dataclasses.asdict(resolved)
    if spec.technique in TRAINING_TECHNIQUES:
        section["seed"] = config.seed
    if spec.technique == "data":
        section.update(stage_sections(config)[Stage.DATA.value])
    return section


def stage_fingerprints(
    config: PipelineConfig,
    data_content: str,
    extra: Mapping[Stage | str, Mapping[str, Any]] | None = None,
    recipe: Recipe | None = None,
) -> dict[str, str]:
    """A fingerprint of each stage's inputs: its config section plus the fingerprints of the stages it reads.

    A change anywhere upstream therefore changes the fingerprint of everything downstream of it. Keyed by
    stage name (a `Stage` finds its entry too: it is a str Enum).
    """
    recipe = recipe or PQAT
    data_stage = next(s.name for s in recipe.stages if s.technique == "data")
    sections = stage_sections(config, {data_stage: {"content": data_content}, **(extra or {})}, recipe)
    prints: dict[str, str] = {}
    for name in recipe.names():  # recipe order: every stage's inputs come before it
        payload = {
            "recipe": RECIPE_VERSION,
            "stage": name,
            "section": sections[name],
            "inputs": {s: prints[s] for s in recipe.inputs_of(name)},
        }
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        prints[name] = hashlib.sha256(encoded).hexdigest()[:16]
    return prints


# --- stage metrics for the manifest ---------------------------------------------------------------------


def stage_metrics(stage: Stage | str, results: RunResults, recipe: Recipe | None = None) -> dict[str, float]:
    """The headline numbers of one finished stage, as the manifest shows them."""
    recipe = recipe or PQAT
    if not runs_as_pqat(recipe, plain_name(stage)):
        return _recipe_stage_metrics(plain_name(stage), results, recipe)
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
    converted = ("float", "qat", "pqat")
    tflite_models = {Stage.CONVERT: converted, Stage.EVALUATE: converted, Stage.PTQ: ("ptq",)}
    for name in tflite_models.get(stage, ()):
        tflite = models[name].tflite if name in models else None
        if tflite is None:
            continue
        if stage is not Stage.EVALUATE:
            metrics[f"{name}_tflite_bytes"] = tflite.bytes
            metrics[f"{name}_zipped_bytes"] = tflite.zipped_bytes
        if stage is not Stage.CONVERT and tflite.accuracy is not None:
            metrics[f"{name}_tflite_accuracy"] = tflite.accuracy
        if stage is not Stage.CONVERT and tflite.latency is not None:
            metrics[f"{name}_latency_ms"] = tflite.latency.threads_1.p50_ms
    return {k: float(v) for k, v in metrics.items()}


def _recipe_stage_metrics(name: str, results: RunResults, recipe: Recipe) -> dict[str, float]:
    """stage_metrics of a stage run by engine.recipe_runner, by technique, in the same words."""
    spec = recipe.stage(name)
    metrics: dict[str, float] = {}
    if spec.technique in TRAINING_TECHNIQUES:
        model = results.models.get(spec.models[0])
        if model is not None and model.keras_accuracy is not None:
            metrics["accuracy"] = model.keras_accuracy
        kernels = model.kernel_sparsity() if model is not None else ()
        if kernels:
            metrics["kernel_sparsity"] = sum(w.zeros for w in kernels) / max(1, sum(w.total for w in kernels))
    for model_name in recipe.converted_models(name):
        entry = results.models.get(model_name)
        tflite = entry.tflite if entry is not None else None
        if tflite is None:
            continue
        if spec.technique != "evaluate":
            metrics[f"{model_name}_tflite_bytes"] = tflite.bytes
            metrics[f"{model_name}_zipped_bytes"] = tflite.zipped_bytes
        if spec.technique != "convert" and tflite.accuracy is not None:
            metrics[f"{model_name}_tflite_accuracy"] = tflite.accuracy
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
                value = None if value is None else stage_key(str(value))
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

    # Reading stops here: a run logs a few lines an epoch, far below it.
    MAX_BYTES = 64 * 2**20

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, event: EngineEvent) -> None:
        """Log `event`; batch progress is not worth a line, and results.json holds StageFinished's results.

        WriteError when the line cannot be written (a full disk, a read-only folder).
        """
        if isinstance(event, BatchProgress):
            return
        line = event_json(event)
        line.pop("results", None)
        append_line(self.path, (json.dumps(line, default=str) + "\n").encode("utf-8"))

    def read(self) -> list[dict[str, Any]]:
        """Every complete line that is a JSON object (a line cut short by a kill is skipped)."""
        try:
            content = read_bounded(self.path, self.MAX_BYTES)
        except FileContentError:
            return []
        events = []
        for line in content.decode("utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError, RecursionError):
                value = json.loads(line)
                if isinstance(value, dict):
                    events.append(value)
        return events


# --- the folder -----------------------------------------------------------------------------------------


def new_run_dir(root: Path = DEFAULT_RUNS_ROOT, now: float | None = None) -> Path:
    """Create `runs/<UTC timestamp>/` and return it (with a suffix -2, -3... when that one is taken).

    mkdir either creates the folder or fails because it exists, atomically: two processes never get the same
    one. WriteError when `root` cannot take a new folder.
    """
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(now if now is not None else time.time()))
    root = Path(root)
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
    suffix = 1
    while True:
        candidate = root / (stamp if suffix == 1 else f"{stamp}-{suffix}")
        try:
            candidate.mkdir()
        except FileExistsError:
            suffix += 1
            continue
        except OSError as error:
            raise write_error(candidate, error) from None
        return candidate


def discard_new_run_dir(path: Path) -> None:
    """Remove a run folder this process created moments ago and that must not stay (a refused command).

    Only the files a run writes are removed, then the folder if that left it empty: whatever else someone put
    there meanwhile stays.
    """
    path = Path(path)
    with contextlib.suppress(OSError):
        for entry in path.iterdir():
            if entry.name == MODELS_DIR and entry.is_dir() and not entry.is_symlink():
                for model in entry.iterdir():
                    if model.is_file() and not model.is_symlink():
                        model.unlink()
                entry.rmdir()
            elif entry.name in RUN_FOLDER_NAMES or (entry.name.startswith(".") and ".tmp" in entry.name):
                entry.unlink()
        path.rmdir()


@dataclass(frozen=True)
class LatestRun:
    path: Path | None
    skipped: tuple[str, ...] = ()  # one line each: a folder passed over because its manifest is unreadable


def find_latest_run(root: Path = DEFAULT_RUNS_ROOT) -> LatestRun:
    """The run under `root` created last (by its manifest) that finished at least one stage.

    Folders with no finished stage (a refused or failed start) are passed over silently; folders whose
    manifest cannot be read are passed over and named in `skipped`.
    """
    root = Path(root)
    if not root.is_dir():
        return LatestRun(None)
    runs: list[tuple[str, str, Path]] = []
    skipped: list[str] = []
    for folder in sorted(root.iterdir()):
        if not (folder / MANIFEST_FILE).is_file():
            continue
        try:
            manifest = RunFolder(folder).read_manifest()
        except RunStoreError as error:
            skipped.append(f"skipped {folder}: {error}")
            continue
        if manifest is not None and any(r.status in (DONE, STALE) for r in manifest.stages.values()):
            runs.append((manifest.created, folder.name, folder))
    return LatestRun(max(runs)[2] if runs else None, tuple(skipped))


def latest_run_dir(root: Path = DEFAULT_RUNS_ROOT) -> Path | None:
    """The run under `root` that `--resume` picks (see find_latest_run), or None when there is none."""
    return find_latest_run(root).path


def resolve_resume_dir(
    requested: str | Path | None,
    root: Path = DEFAULT_RUNS_ROOT,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """The folder `--resume [DIR]` means: DIR, or the latest run under `root`; RunStoreError if none.

    `warn` is told, a line each, about run folders passed over because their manifest is unreadable.
    """
    if requested:
        folder = Path(requested)
        if not (folder / MANIFEST_FILE).is_file():
            raise RunStoreError(f"{folder}: not a pqat-tui run folder (no {MANIFEST_FILE})")
        return folder
    latest = find_latest_run(root)
    for line in latest.skipped:
        if warn is not None:
            warn(line)
    if latest.path is None:
        raise RunStoreError(f"no run to resume under {root}/ (start one with `pqat-tui run`)")
    return latest.path


class RunFolder:
    """The files of one run, read and written atomically. Hold `lock` (RunFolder.open does) to write.

    Every path taken from a file (a manifest's artifacts) is confined to the folder by `inside`: no `..`, no
    absolute path, no symbolic link leading out of it, for reading, writing and deleting alike.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock: RunLock | None = None
        self.events = EventLog(self.path / EVENTS_FILE)

    @classmethod
    def open(cls, path: Path, *, must_exist: bool = False) -> RunFolder:
        """Create (or reopen) a run folder and take its lock; RunStoreError/RunLockedError if it cannot,
        WriteError when it cannot be written (a read-only or full disk)."""
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
        models = path / MODELS_DIR
        if models.is_symlink() or (models.exists() and not models.is_dir()):
            raise RunStoreError(f"{models}: not a folder of the run's own (a link or a file); move it away")
        with writing(models):
            models.mkdir(parents=True, exist_ok=True)
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

    def inside(self, relative: str) -> Path:
        """`relative` (a path named by a file we read) under the folder; RunStoreError if it leads out."""
        pure = PurePosixPath(relative)
        if not relative or pure.is_absolute() or ".." in pure.parts or "\\" in relative:
            raise RunStoreError(f"{self.path}: {relative!r} is not a path inside the run folder")
        path = self.path / relative
        try:
            leads_out = not path.resolve().is_relative_to(self.path.resolve())
        except (RuntimeError, OSError):  # a loop of symbolic links
            raise RunStoreError(f"{path}: a loop of symbolic links") from None
        if leads_out:
            raise RunStoreError(f"{path}: leads outside the run folder (a symbolic link)")
        return path

    def model_path(self, relative: str) -> Path:
        return self.inside(relative)

    # Reading
    def read_manifest(self) -> Manifest | None:
        """The manifest, or None before the first; RunStoreError naming the file and key if it is damaged."""
        if not self.file(MANIFEST_FILE).exists() and not self.file(MANIFEST_FILE).is_symlink():
            return None
        path = self.inside(MANIFEST_FILE)
        try:
            return Manifest.from_json(read_json_file(path))
        except FileContentError as error:
            raise RunStoreError(str(error)) from None
        except ShapeError as error:
            raise RunStoreError(f"{path}: {error}") from None

    def read_results(self) -> RunResults | None:
        if not self.file(RESULTS_FILE).exists() and not self.file(RESULTS_FILE).is_symlink():
            return None
        try:
            return RunResults.read_json(self.inside(RESULTS_FILE))
        except ResultsFileError as error:
            raise RunStoreError(str(error)) from None

    def artifacts_intact(self, record: StageRecord) -> bool:
        """Whether every file the record lists is there, inside the folder, with the content it had."""
        for relative, digest in record.artifacts.items():
            try:
                path = self.inside(relative)
            except RunStoreError:
                return False
            if path.is_symlink() or not path.is_file() or file_digest(path) != digest:
                return False
        return True

    # Writing (atomic; WriteError when the disk refuses)
    def write_config(self, text: str) -> None:
        write_text_atomic(self.file(CONFIG_FILE), text)

    def write_manifest(self, manifest: Manifest) -> None:
        stamped = dataclasses.replace(manifest, updated=utc_now())
        write_json_atomic(self.file(MANIFEST_FILE), stamped.to_json())

    def write_results(self, results: RunResults) -> None:
        results.write_json(self.file(RESULTS_FILE))

    def write_artifact(self, relative: str, content: bytes) -> str:
        """Write a file under the run folder atomically; returns its sha256 for the manifest."""
        write_atomic(self.inside(relative), content)
        return hashlib.sha256(content).hexdigest()

    def remove_artifact(self, relative: str) -> None:
        """Delete a file the run wrote; one that leads outside the folder is never touched."""
        with contextlib.suppress(RunStoreError, OSError):
            self.inside(relative).unlink(missing_ok=True)


def stage_artifact_paths(stage: Stage | str, recipe: Recipe | None = None) -> dict[str, str]:
    """The files a stage leaves in the run folder, by model name (paths relative to the folder).

    A stage of `recipe` that `pqat` lacks writes `models/<model>.keras` (`.h5` after quantization-aware
    training: tf_keras cannot load tfmot's QuantizeLayer back from .keras) or one .tflite file per model.
    """
    if recipe is not None and not runs_as_pqat(recipe, plain_name(stage)):
        spec = recipe.stage(plain_name(stage))
        if spec.technique in TRAINING_TECHNIQUES:
            suffix = ".h5" if spec.technique == "qat" else ".keras"
            return {model: f"{MODELS_DIR}/{model}{suffix}" for model in spec.models}
        if spec.technique in ("convert", "ptq"):
            return {model: f"{MODELS_DIR}/{model}.tflite" for model in recipe.converted_models(spec.name)}
        return {}
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
        return {name: f"{MODELS_DIR}/{name}.tflite" for name in ("float", "qat", "pqat")}
    if stage is Stage.PTQ:
        return {"ptq": f"{MODELS_DIR}/ptq.tflite"}
    return {}


def read_tflite_file(
    run_dir: Path, name: str, done: Iterable[Stage | str], recipe: Recipe | None = None
) -> bytes | None:
    """The .tflite file model `name` has in the run folder, once the stage that writes it is done; else None.

    The app reads deployed files here (the Inspector), never from the engine process that wrote them.
    """
    recipe = recipe or PQAT
    finished = {plain_name(s) for s in done}
    writers = [
        s.name
        for s in recipe.stages
        if s.technique in ("convert", "ptq") and name in stage_artifact_paths(s.name, recipe)
    ]
    if name == "float" and Stage.CONVERT.value in recipe:
        writers = [Stage.CONVERT.value]
    source = writers[0] if writers else None
    relative = stage_artifact_paths(source, recipe).get(name) if source else None
    if relative is None or source not in finished:
        return None
    path = RunFolder(run_dir).inside(relative)
    return path.read_bytes() if path.is_file() else None


def stale_stages(manifest: Manifest | None, fingerprints: Mapping[str, str]) -> list[Stage | str]:
    """Stages the manifest has as done whose inputs have changed since, in recipe order."""
    if manifest is None:
        return []
    found = []
    for name, fingerprint in fingerprints.items():
        record = manifest.record(name)
        if record is not None and record.status == DONE and record.fingerprint != fingerprint:
            found.append(stage_key(name))
    return found


def iter_done(
    manifest: Manifest | None, names: Iterable[str] = STAGE_NAMES
) -> Iterator[tuple[Stage | str, StageRecord]]:
    """The `names` (a recipe's stages, in order) the manifest has as done, with their records."""
    if manifest is None:
        return
    for name in names:
        record = manifest.record(name)
        if record is not None and record.status == DONE:
            yield stage_key(name), record
