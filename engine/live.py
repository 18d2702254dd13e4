"""Runs as `pqat-tui ps`, `attach` and the app see them from outside: read from run folders, no TensorFlow.

An engine process serving a run keeps `worker.json` in the run folder: its pid, its socket, the stage it
runs and how far it is (rewritten at most about once a second). The socket is `engine.sock` in the run
folder, unless that path is too long for a Unix socket (108 bytes): then it lives under $XDG_RUNTIME_DIR (or
the temporary folder), and worker.json is the pointer to it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.recipe import NAME_PATTERN
from engine.results import RunResults
from engine.run_store import (
    CONFIG_FILE,
    DONE,
    EVENTS_FILE,
    FAILED,
    LOCK_FILE,
    MANIFEST_FILE,
    RUNNING,
    SOCKET_FILE,
    WORKER_FILE,
    LockHolder,
    RunFolder,
    RunStoreError,
    read_lock,
    write_json_atomic,
)
from engine.stages import Stage, stage_key, stage_title

# sun_path holds 108 bytes, its terminating NUL included.
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class WorkerInfo:
    """worker.json: the engine process serving a run, and where it is."""

    pid: int
    host: str
    socket: str
    started: str
    updated: str = ""
    stage: str | None = None  # Stage value of the running stage
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    viewers: int = 0
    detached: bool = False
    stopping: bool = False  # told to stop by its last viewer: it exits within a few seconds
    tensorflow: bool = False  # loaded yet

    def is_alive(self) -> bool:
        holder = LockHolder(self.pid, self.host, self.started)
        return holder.is_alive() and not (holder.host == socket.gethostname() and is_zombie(self.pid))

    def progress(self) -> str:
        """`Baseline 2/10 45%`, `Convert`, or `idle`."""
        if self.stage is None:
            return "idle"
        title = stage_title(self.stage)
        if self.epochs:
            percent = self.batch * 100 // max(self.batches, 1)
            return f"{title} {self.epoch}/{self.epochs} {percent}%"
        return title

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerInfo:
        fields = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})


def is_zombie(pid: int) -> bool:
    """A process that has exited and waits for its parent to read its status (Linux; False elsewhere)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rpartition(")")[2].split()[:1] == ["Z"]


def read_worker_info(run_dir: Path) -> WorkerInfo | None:
    """worker.json, or None when there is none (or it is unreadable: a process killed while writing)."""
    try:
        data = json.loads((Path(run_dir) / WORKER_FILE).read_text(encoding="utf-8"))
        info = WorkerInfo.from_json(data)
        return info if isinstance(info.pid, int) and isinstance(info.socket, str) else None
    except (OSError, ValueError, TypeError):
        return None


def live_worker(run_dir: Path) -> WorkerInfo | None:
    """The engine process serving `run_dir`, if it is alive."""
    info = read_worker_info(run_dir)
    return info if info is not None and info.is_alive() else None


def write_worker_info(run_dir: Path, info: WorkerInfo) -> None:
    write_json_atomic(Path(run_dir) / WORKER_FILE, dataclasses.asdict(info))


def remove_worker_info(run_dir: Path, pid: int) -> None:
    """Remove worker.json if it is still this process's."""
    info = read_worker_info(run_dir)
    if info is not None and info.pid == pid:
        with contextlib.suppress(OSError):
            (Path(run_dir) / WORKER_FILE).unlink()


def socket_path(run_dir: Path) -> Path:
    """Where the engine process of `run_dir` listens: in the run folder when the path fits a Unix socket."""
    folder = Path(run_dir).resolve()
    preferred = folder / SOCKET_FILE
    if len(os.fsencode(str(preferred))) <= MAX_SOCKET_PATH:
        return preferred
    name = hashlib.sha256(os.fsencode(str(folder))).hexdigest()[:16] + ".sock"
    roots = [os.environ.get("XDG_RUNTIME_DIR"), tempfile.gettempdir(), "/tmp"]
    for root in filter(None, roots):
        base = Path(root) / f"pqat-tui-{os.getuid()}"
        if len(os.fsencode(str(base / name))) <= MAX_SOCKET_PATH and _private_folder(base):
            return base / name
    raise RunStoreError(f"{run_dir}: no folder for the engine's socket (the run folder's path is too long)")


def _private_folder(path: Path) -> bool:
    """A folder only this user can enter (created if need be), so that no one else reaches the socket."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def connect(path: str | Path, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


# --- what `ps` shows ------------------------------------------------------------------------------------

RUNNING_STATE, FINISHED, FAILED_STATE, STALE, STOPPED, UNREADABLE = (
    "running",
    "finished",
    "failed",
    "stale",
    "stopped",
    "unreadable",
)


@dataclass(frozen=True)
class RunStatus:
    folder: Path
    state: str  # running, finished, failed, stale (its process died mid-stage), stopped, unreadable
    started: str = ""
    pid: int | None = None
    detail: str = ""  # progress, the failed stage and its error, how many stages are done...
    stages_done: int = 0
    last_event: dict[str, Any] | None = None
    worker: WorkerInfo | None = None

    def to_json(self) -> dict[str, Any]:
        worker = self.worker
        return {
            "folder": str(self.folder),
            "state": self.state,
            "started": self.started,
            "pid": self.pid,
            "detail": self.detail,
            "stages_done": self.stages_done,
            "stage": worker.stage if worker else None,
            "progress": None
            if worker is None or worker.stage is None
            else {
                "epoch": worker.epoch,
                "epochs": worker.epochs,
                "batch": worker.batch,
                "batches": worker.batches,
            },
            "viewers": worker.viewers if worker else 0,
            "detached": worker.detached if worker else False,
            "last_event": self.last_event,
        }


def run_status(folder: Path) -> RunStatus:
    folder = Path(folder)
    worker = live_worker(folder)
    try:
        manifest = RunFolder(folder).read_manifest()
    except RunStoreError as error:
        return RunStatus(folder, UNREADABLE, detail=str(error))
    records = manifest.stages if manifest is not None else {}
    started = manifest.created if manifest is not None else ""
    done = sum(1 for record in records.values() if record.status == DONE)
    last = last_event(folder)
    if worker is not None:
        viewers = f"{worker.viewers} viewer{'s' if worker.viewers != 1 else ''}"
        detail = f"{worker.progress()} · {viewers}" + (" · detached" if worker.detached else "")
        return RunStatus(folder, RUNNING_STATE, started, worker.pid, detail, done, last, worker)
    holder = read_lock(folder / LOCK_FILE)
    if holder is not None and holder.is_alive():
        return RunStatus(
            folder, RUNNING_STATE, started, holder.pid, "in one process (cannot attach)", done, last
        )
    interrupted = [stage_title(name) for name, record in records.items() if record.status == RUNNING]
    failed = {name: record for name, record in records.items() if record.status == FAILED}
    if interrupted:
        detail = (
            f"{', '.join(interrupted)} was running when its process ended; it resumes from the stage before"
        )
        return RunStatus(folder, STALE, started, None, detail, done, last)
    total = _stage_count(folder)
    if done >= total:
        return RunStatus(folder, FINISHED, started, None, f"{done}/{total} stages", done, last)
    if failed:
        name, record = next(iter(failed.items()))
        return RunStatus(
            folder, FAILED_STATE, started, None, f"{stage_title(name)}: {record.error}", done, last
        )
    return RunStatus(folder, STOPPED, started, None, f"{done}/{total} stages done", done, last)


def _stage_count(folder: Path) -> int:
    """How many stages the run's recipe has (its config.toml's); pqat's eight when that cannot be read."""
    from engine.config_file import ConfigError, read_config_file
    from engine.recipe import recipe_of

    try:
        return len(recipe_of(read_config_file(folder / CONFIG_FILE)).names())
    except (ConfigError, OSError):
        return len(Stage)


def list_runs(root: Path) -> list[RunStatus]:
    """Every run folder directly under `root` (or `root` itself when it is one), oldest first."""
    root = Path(root)
    if (root / MANIFEST_FILE).is_file() or (root / WORKER_FILE).is_file():
        return [run_status(root)]
    if not root.is_dir():
        return []
    folders = [
        path
        for path in root.iterdir()
        if path.is_dir() and ((path / MANIFEST_FILE).is_file() or (path / WORKER_FILE).is_file())
    ]
    return sorted(
        (run_status(path) for path in folders), key=lambda status: (status.started, str(status.folder))
    )


def latest_live_run(root: Path) -> Path | None:
    """The run under `root` whose engine process started last and is still alive."""
    live = []
    for status in list_runs(root):
        if status.worker is not None:
            live.append((status.worker.started, str(status.folder), status.folder))
    return max(live)[2] if live else None


def last_event(folder: Path) -> dict[str, Any] | None:
    """The last complete line of the run's events.jsonl, read from its end."""
    path = Path(folder) / EVENTS_FILE
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 65536))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            if isinstance(data, dict):
                return data
    return None


def describe_event(data: dict[str, Any]) -> str:
    """One line for an events.jsonl object: `Baseline finished`, `Prune failed: …`, or a log line."""
    name = str(data.get("event", "?"))
    stage = data.get("stage")
    title = stage_title(stage) if isinstance(stage, str) and NAME_PATTERN.fullmatch(stage) else ""
    words = {
        "StageStarted": "started",
        "StageFinished": "finished",
        "StageFailed": "failed",
        "StageCancelled": "cancelled",
        "EpochEnded": f"epoch {data.get('epoch')}/{data.get('epochs')}",
    }
    if name == "LogMessage":
        text = " ".join(str(data.get("text", "")).split())
        return f"{title}: {text}" if title else text
    text = f"{title} {words.get(name, name)}".strip()
    if name == "StageFailed" and data.get("error"):
        text += f": {data['error']}"
    return text


# --- the app's first frame ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPreview:
    """What a run folder holds, read before any engine process or TensorFlow is ready."""

    results: RunResults
    done: frozenset[Stage]
    errors: dict[Stage, str]


def read_preview(run_dir: Path) -> RunPreview | None:
    """The finished stages of `run_dir` from its manifest and results.json; None for a new or bad folder."""
    folder = RunFolder(Path(run_dir))
    try:
        manifest = folder.read_manifest()
        results = folder.read_results()
    except RunStoreError:
        return None
    if manifest is None or results is None:
        return None
    done = frozenset(stage_key(name) for name, record in manifest.stages.items() if record.status == DONE)
    errors = {
        stage_key(name): record.error or "failed"
        for name, record in manifest.stages.items()
        if record.status == FAILED
    }
    return RunPreview(results, done, errors)
