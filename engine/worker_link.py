"""The viewer's side of an engine process (engine.worker): start it, connect to it, and keep it answering.

`WorkerLink` is the EngineLink the app drives. Commands go out at once (queued while the link reconnects);
messages come in on a reader thread and go to the listener in order. It mirrors the latest WorkerState.

Control stays with the viewer: a cancel the engine has not confirmed within CANCEL_GRACE_S (TensorFlow
tracing or converting, outside any batch) ends the engine process, and a fresh one is started on the run
folder, its finished stages kept. An engine process that dies (killed, out of memory) ends its stage as
failed, naming the cause, and is replaced the same way. No TensorFlow is imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.config import PipelineConfig
from engine.events import EngineEvent, LogMessage, StageCancelled, StageFailed, StageStarted
from engine.host import Relay
from engine.live import connect, live_worker
from engine.protocol import EngineRefused
from engine.run_store import NATIVE_LOG_FILE, read_tflite_file
from engine.stages import Stage, stage_key
from engine.wire import (
    CANCEL,
    DETACH,
    FINAL_EVENTS,
    RECONFIGURE,
    RUN,
    RUN_ALL,
    SHUTDOWN,
    TAKE_CONTROL,
    Command,
    History,
    Interrupted,
    ProtocolError,
    Reconfigured,
    Refused,
    WorkerState,
    decode_message,
    encode_command,
)

WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "engine.worker")
# A cancel not confirmed within this ends the engine process: with the kill and the redraw, a cancel takes
# at most 2 s even on two busy cores. A confirmation (a batch ends, the run folder is written) comes well
# within it while the engine trains.
CANCEL_GRACE_S = 1.3
# Start-up of the engine process: opening the run (with --model, loading TensorFlow and the model first).
START_TIMEOUT_S = 300.0
HELLO_TIMEOUT_S = 10.0
RECONNECT_TIMEOUT_S = 20.0
# A viewer whose engine process was not its own child gives that process's parent time to start the next.
WATCHER_RESTART_DELAY_S = 1.0
REPLY_TIMEOUT_S = 15.0


class WorkerStartError(Exception):
    """The engine process could not start on the run; the message is one line (the run folder's fault)."""


class RunLockedByOther(WorkerStartError):
    """Another process holds the run folder."""


@dataclass(frozen=True)
class WorkerOptions:
    """How to start an engine process on a run folder."""

    config: PipelineConfig | None = None  # None: the run folder's own config.toml
    model: str | None = None
    no_train: bool = False
    detached: bool = False  # no viewer comes: it exits when it has nothing left to run
    run_all: bool = False
    command: tuple[str, ...] = ()  # default WORKER_COMMAND; the tests start a scripted fake worker instead


def spawn_worker(
    run_dir: Path, options: WorkerOptions, interrupted: Interrupted | None = None
) -> subprocess.Popen[bytes]:
    """Start an engine process on `run_dir` in a session of its own, and wait for it to say it is ready."""
    run_dir = Path(run_dir)
    argv = [*(options.command or WORKER_COMMAND), "--run-dir", str(run_dir)]
    if options.config is not None:
        argv += ["--config-json", json.dumps(options.config.to_dict())]
    if options.model:
        argv += ["--model", options.model]
    if options.no_train:
        argv.append("--no-train")
    if options.detached:
        argv.append("--detached")
    if options.run_all:
        argv.append("--run-all")
    if interrupted is not None:
        argv += ["--interrupted", interrupted.stage.value]
        if interrupted.status != "cancelled":
            argv += ["--interrupted-error", interrupted.error or "failed"]
    log_path = run_dir / NATIVE_LOG_FILE
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - the child's standard error, closed here once it has it
    except OSError:
        log = None  # the engine process says what is wrong with the folder
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log if log is not None else subprocess.DEVNULL,
            start_new_session=True,  # no terminal: a hang-up of ours never reaches it
            close_fds=True,
        )
    finally:
        if log is not None:
            log.close()
    assert process.stdout is not None
    line = _read_line(process.stdout, START_TIMEOUT_S)
    process.stdout.close()
    word, _, message = line.partition(" ")
    if word == "ready":
        return process
    if word == "locked":
        raise RunLockedByOther(message)
    if word == "error":
        raise WorkerStartError(message)
    if process.poll() is None:
        process.kill()
    raise WorkerStartError(f"{run_dir}: {exit_cause(process, log_path)}")


def _read_line(stream: object, timeout: float) -> str:
    """One line from a pipe, or what came before the timeout or end of file."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", errors="replace").split("\n", 1)[0].strip()


def exit_cause(process: subprocess.Popen[bytes] | None, log_path: Path) -> str:
    """Why an engine process ended, as a stage's error wants it."""
    if process is None:
        return f"the engine process ended unexpectedly; see {log_path}"
    try:
        code = process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return f"the engine process stopped answering; see {log_path}"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        hint = " (out of memory, or ended by hand)" if -code == signal.SIGKILL else ""
        return f"the engine process was killed by {name}{hint}; see {log_path}"
    return f"the engine process exited with status {code}; see {log_path}"


class WorkerLink:
    """An EngineLink to the engine process of one run folder."""

    can_detach = True

    def __init__(
        self, run_dir: Path, options: WorkerOptions, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.options = options
        self._process = process  # when we started it: its exit status is ours to read
        self._lock = threading.RLock()
        self._relay = Relay(self._lock)
        self._state: WorkerState | None = None
        self._hello = threading.Event()
        self._sock: socket.socket | None = None
        self._unsent: list[bytes] = []
        self._replies: queue.Queue[EngineEvent] = queue.Queue()
        self._closing = False
        self._dead: str | None = None  # why no engine process can be had any more
        self._reconnected = False
        self._running: Stage | None = None
        self._started = time.monotonic()
        self._final = threading.Event()  # the running stage's final event came
        self._escalating: Stage | None = None

    @classmethod
    def open(cls, run_dir: Path, options: WorkerOptions | None = None) -> WorkerLink:
        """Connect to the run's engine process, starting one when none is alive. WorkerStartError."""
        options = options or WorkerOptions()
        process = None if live_worker(run_dir) else spawn_worker(run_dir, options)
        link = cls(run_dir, options, process)
        link._connect()
        return link

    # --- EngineLink --------------------------------------------------------------------------------------

    @property
    def state(self) -> WorkerState:
        assert self._state is not None
        return self._state

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The engine process, when this link started it (its exit status is ours to read)."""
        return self._process

    def tflite_model(self, name: str) -> bytes | None:
        """A .tflite file the engine process wrote, read from the run folder (the Inspector's source)."""
        return read_tflite_file(self.run_dir, name, self.state.done)

    def listen(self, listener: Callable[[EngineEvent], None]) -> None:
        self._relay.listen(listener)

    def run_stage(self, stage: Stage) -> None:
        self._send(Command(RUN, stage_key(stage)))

    def run_all(self) -> None:
        self._send(Command(RUN_ALL))

    def cancel(self) -> None:
        self._send(Command(CANCEL))
        with self._lock:
            stage = self._running
        if stage is not None:
            threading.Thread(target=self._end_if_deaf, args=(stage,), daemon=True).start()

    def reconfigure(self, config: PipelineConfig) -> set[Stage]:
        while not self._replies.empty():
            self._replies.get_nowait()
        self._send(Command(RECONFIGURE, config=config.to_dict()))
        try:
            reply = self._replies.get(timeout=REPLY_TIMEOUT_S)
        except queue.Empty:
            raise EngineRefused("the engine did not answer; the settings were not changed") from None
        if isinstance(reply, Refused):
            raise EngineRefused(reply.reason)
        assert isinstance(reply, Reconfigured)
        return set(reply.stale)

    def take_control(self) -> None:
        self._send(Command(TAKE_CONTROL))

    def close(self, *, stop: bool = True) -> None:
        """Leave at once: never waits for the engine (quitting must return the terminal now)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.sendall(encode_command(Command(SHUTDOWN if stop else DETACH)))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    # --- the connection ------------------------------------------------------------------------------------

    def _connect(self) -> None:
        """Connect to the live engine process and wait for its first WorkerState. WorkerStartError."""
        info = live_worker(self.run_dir)
        if info is None:
            raise WorkerStartError(f"{self.run_dir}: no engine process serves this run")
        try:
            sock = connect(info.socket)
        except OSError as error:
            raise WorkerStartError(f"{self.run_dir}: cannot reach its engine process ({error})") from None
        self._hello.clear()
        with self._lock:
            self._sock = sock
            unsent, self._unsent = self._unsent, []
            with contextlib.suppress(OSError):
                for data in unsent:  # what was said while there was no engine process, in order
                    sock.sendall(data)
        threading.Thread(target=self._read, args=(sock,), name="engine-in", daemon=True).start()
        if not self._hello.wait(HELLO_TIMEOUT_S):
            with contextlib.suppress(OSError):
                sock.close()
            raise WorkerStartError(f"{self.run_dir}: its engine process (pid {info.pid}) does not answer")

    def _send(self, command: Command) -> None:
        self._send_bytes(encode_command(command), command.name)

    def _send_bytes(self, data: bytes, name: str = "") -> None:
        with self._lock:
            if self._dead is not None:
                self._deliver(Refused(name, self._dead))
                return
            if self._sock is None:
                self._unsent.append(data)  # sent once reconnected
                return
            try:
                self._sock.sendall(data)
            except OSError:
                self._unsent.append(data)  # the reader sees the end of the connection and reconnects

    def _read(self, sock: socket.socket) -> None:
        try:
            with sock.makefile("rb") as lines:
                for line in lines:
                    try:
                        message = decode_message(line)
                    except ProtocolError:
                        continue
                    self._received(message)
        except (OSError, ValueError):
            pass
        self._disconnected(sock)

    def _received(self, message: EngineEvent) -> None:
        reply = isinstance(message, Refused) and message.command == RECONFIGURE
        if reply or isinstance(message, Reconfigured):
            self._replies.put(message)
            return
        with self._lock:
            if self._escalating is not None:
                return  # the last words of a process we are ending: its stage's end is already said
            if isinstance(message, WorkerState):
                first = not self._hello.is_set()
                self._state = message
                if first and self._reconnected:
                    self._settle_after_restart(message)
                if message.running is not None and self._running is None:
                    self._stage_began(message.running)
                self._hello.set()
            elif isinstance(message, History) and self._reconnected:
                return  # this viewer already showed what happened before the restart
            elif isinstance(message, StageStarted):
                if self._running is not message.stage:
                    self._stage_began(message.stage)
            elif isinstance(message, FINAL_EVENTS) and message.stage is self._running:
                self._running = None
                self._final.set()
            self._deliver(message)

    def _stage_began(self, stage: Stage) -> None:
        self._running = stage
        self._started = time.monotonic()
        self._final.clear()

    def _deliver(self, message: EngineEvent) -> None:
        self._relay.deliver(message)

    # --- control: cancel escalation, crashes, restarts ---------------------------------------------------

    def _end_if_deaf(self, stage: Stage) -> None:
        """A cancel the engine has not confirmed in time ends its process (and a new one is started)."""
        if self._final.wait(CANCEL_GRACE_S):
            return
        with self._lock:
            if self._running is not stage or self._closing or self._escalating is not None:
                return
            self._escalating = stage  # from now on, nothing more from that process counts
            pid = self.state.pid
            self._deliver(
                LogMessage(
                    f"did not stop within {CANCEL_GRACE_S:.1f} s (TensorFlow is busy outside a batch): "
                    "ending the engine process",
                    "warning",
                    stage,
                )
            )
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            # Said now: the kernel may take a while to tear a TensorFlow process down.
            self._end_stage_here(Interrupted(stage, "cancelled"))

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closing or sock is not self._sock:
                return
            self._sock = None
            old_pid = self._state.pid if self._state else 0
            stage, escalated = self._running, self._escalating
        own = self._process is not None and self._process.pid == old_pid
        cause = exit_cause(self._process if own else None, self.run_dir / NATIVE_LOG_FILE)
        interrupted: Interrupted | None = None
        if escalated is not None:
            interrupted = Interrupted(escalated, "cancelled")  # its end was said when we ended it
        elif stage is not None and own:
            # We know what happened: say it now, not once a new engine process is up.
            interrupted = Interrupted(stage, "failed", cause)
            self._end_stage_here(interrupted)
        elif stage is None:
            self._deliver(LogMessage(f"{cause}; starting a new one", "warning"))
        with self._lock:
            self._escalating = None
        self._restart(interrupted, wait_for_others=not own and escalated is None, cause=cause)

    def _end_stage_here(self, interrupted: Interrupted) -> None:
        """The final event of a stage whose engine process is gone, made here with the state it leaves."""
        with self._lock:
            seconds = time.monotonic() - self._started
            self._running = None
            self._final.set()
            if self._state is not None:
                self._state = replace(self._state, running=None, run_all=False)
                self._deliver(self._state)
            if interrupted.status == "cancelled":
                self._deliver(StageCancelled(interrupted.stage, seconds))
            else:
                self._deliver(StageFailed(interrupted.stage, seconds, interrupted.error or "failed"))

    def _settle_after_restart(self, state: WorkerState) -> None:
        """Reconnected to a new engine process: a stage we still had running ends as that process says."""
        stage = self._running
        if stage is None or state.running is stage:
            return
        said = state.interrupted
        if said is not None and said.stage is stage:
            self._end_stage_here(said)
        else:
            self._end_stage_here(Interrupted(stage, "failed", "its engine process ended"))

    def _restart(self, interrupted: Interrupted | None, *, wait_for_others: bool, cause: str) -> None:
        """Connect to the run's next engine process: one another viewer started, or a new one of ours."""
        self._reconnected = True
        started = time.monotonic()
        restart_options = replace(self.options, config=None, model=None, detached=False, run_all=False)
        problem = cause
        while time.monotonic() - started < RECONNECT_TIMEOUT_S:
            if self._closing:
                return
            try:
                if live_worker(self.run_dir) is not None:  # another viewer's, or the old one going away
                    self._connect()
                    return
                if not wait_for_others or time.monotonic() - started >= WATCHER_RESTART_DELAY_S:
                    if interrupted is None and self._running is not None:
                        interrupted = Interrupted(self._running, "failed", cause)
                    self._process = spawn_worker(self.run_dir, restart_options, interrupted)
                    self._connect()
                    return
            except RunLockedByOther:
                pass  # another viewer's new engine process won the run folder: connect to it
            except WorkerStartError as error:
                problem = str(error)
            time.sleep(0.1)
        with self._lock:
            self._dead = f"no engine process: {problem}"
            if self._running is not None:
                self._end_stage_here(Interrupted(self._running, "failed", cause))
        self._deliver(LogMessage(f"The engine could not be started again: {problem}", "error"))
