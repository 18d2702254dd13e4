"""The engine process, `python -m engine.worker --run-dir DIR ...`: one per run folder, in its own session.

It holds the run folder's lock, runs the stages (engine.host) and serves viewers over a Unix socket
(engine.wire): the app that started it, `pqat-tui attach`, several at once. The first viewer drives; the
others watch until one asks to drive. It goes on when a viewer leaves without a word (a terminal hung up, an
SSH connection dropped), and after `detach`; it stops the running stage on `shutdown` from the driver. With
no viewer left and nothing to run, it exits. Its standard error is the run folder's tensorflow.log, where
TensorFlow's native logging goes.

Start-up says one line on standard output, then closes it: `ready`, `locked <message>` (another process holds
the run) or `error <message>`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from engine.config import PipelineConfig
from engine.events import BatchProgress, EngineEvent, EpochEnded, StageStarted
from engine.live import WorkerInfo, remove_worker_info, socket_path, write_worker_info
from engine.protocol import EngineRefused, PipelineEngine
from engine.run_store import RunFolder, RunLockedError, RunStoreError, utc_now
from engine.stages import Stage, stage_key
from engine.wire import (
    CANCEL,
    DETACH,
    DRIVING_COMMANDS,
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
    decode_command,
    encode_message,
)

# Before any viewer has come, wait this long for one (the app connects within a second of starting us).
FIRST_VIEWER_GRACE_S = 30.0
# A stage asked to stop by a driver that left: if it has not stopped by then, the process ends itself.
SHUTDOWN_GRACE_S = 2.0
LIVE_STATE_INTERVAL_S = 1.0
WATCHING = "Watching: another viewer drives this run; t takes control."
NICENESS = 10  # the engine process's CPU priority below the app's
HISTORY_LIMIT = 2000  # events a newcomer is sent
OUTBOX_PROGRESS_LIMIT = 64  # a viewer that reads no more gets no more batch progress beyond this backlog


class Viewer:
    """One connected viewer: a thread reads its commands, another writes what it is sent."""

    def __init__(self, sock: socket.socket, server: WorkerServer) -> None:
        self.sock = sock
        self.server = server
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        self.leaving = False
        threading.Thread(target=self._write, name="viewer-out", daemon=True).start()
        threading.Thread(target=self._read, name="viewer-in", daemon=True).start()

    def send(self, data: bytes, *, droppable: bool = False) -> None:
        if droppable and self.outbox.qsize() > OUTBOX_PROGRESS_LIMIT:
            return
        self.outbox.put(data)

    def close(self) -> None:
        self.outbox.put(None)

    def _write(self) -> None:
        while True:
            data = self.outbox.get()
            if data is None:
                break
            try:
                self.sock.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _read(self) -> None:
        try:
            with self.sock.makefile("rb") as lines:
                for line in lines:
                    try:
                        command = decode_command(line)
                    except ProtocolError as error:
                        self.send(encode_message(Refused("?", str(error))))
                        continue
                    self.server.handle(self, command)
        except OSError:
            pass
        finally:
            self.server.viewer_gone(self)


class WorkerServer:
    """Serves one EngineHost to the viewers connected to a Unix socket."""

    def __init__(
        self,
        folder: RunFolder,
        engine: PipelineEngine,
        *,
        summary: str = "",
        versions: dict[str, str] | None = None,
        detached: bool = False,
        interrupted: Interrupted | None = None,
    ) -> None:
        from engine.host import EngineHost

        self.folder = folder
        self.run_dir = folder.path
        self.detached = detached
        self.stopping = False  # its driver quit with "stop": it exits once the stage has stopped
        self.interrupted = interrupted
        self.host = EngineHost(engine, self._broadcast, versions=versions, summary=summary)
        self._viewers: list[Viewer] = []
        self._driver: Viewer | None = None
        self._ever_connected = False
        self._started = time.monotonic()
        self._history: list[EngineEvent] = []
        self._progress: BatchProgress | None = None
        self._live_written = 0.0
        self._live: WorkerInfo | None = None
        self._listener: socket.socket | None = None
        self._socket_path: Path | None = None

    # --- start and stop -----------------------------------------------------------------------------

    def listen(self) -> None:
        """Bind the socket (replacing one a dead process left) and write worker.json."""
        path = socket_path(self.run_dir)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # we hold the run's lock: whoever listened here is gone
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(8)
        self._listener, self._socket_path = listener, path
        self._live = WorkerInfo(
            pid=os.getpid(),
            host=socket.gethostname(),
            socket=str(path),
            started=utc_now(),
            detached=self.detached,
        )
        self._write_live()
        threading.Thread(target=self._accept, name="accept", daemon=True).start()

    def serve(self) -> None:
        """Run stages until no viewer is left and nothing runs, then clean up."""
        try:
            self.host.serve(idle=self._idle)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        with self.host.lock:
            viewers, self._viewers = list(self._viewers), []
        for viewer in viewers:
            viewer.close()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        if self._socket_path is not None:
            with contextlib.suppress(OSError):
                self._socket_path.unlink()  # before the lock: the next process may bind the same path
        close = getattr(self.host.engine, "close", None)
        if close is not None:
            close()  # the run folder's lock
        else:
            self.folder.close()
        remove_worker_info(self.run_dir, os.getpid())  # last: once it is gone, so is the lock

    def _idle(self) -> bool:
        """Whether to exit: nothing runs (the host asks only then) and no viewer is left (or will come)."""
        if self._viewers:
            return False
        waited = time.monotonic() - self._started > FIRST_VIEWER_GRACE_S
        return self._ever_connected or self.detached or waited

    def load_tensorflow(self) -> None:
        """In the background, so that the first stage that needs it waits less (Data does not)."""
        from engine.events import LogMessage, one_line_error
        from engine.tf_runtime import load_tensorflow

        try:
            versions = load_tensorflow()
        except Exception as error:  # noqa: BLE001 - the stages that need it fail with it, one by one
            self.host.publish(LogMessage(f"TensorFlow did not load: {one_line_error(error)}", "error"))
            return
        with self.host.lock:
            self.host.set_versions(versions)
            self._write_live()  # worker.json says TensorFlow is in

    # --- viewers ----------------------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            viewer = Viewer(sock, self)
            with self.host.lock:
                # Under the host's lock: nothing is published between this viewer's state and its history.
                self._viewers.append(viewer)
                self._ever_connected = True
                if self._driver is None:
                    self._driver = viewer
                viewer.send(encode_message(self._state_for(viewer, self.host.state())))
                history = [*self._history, *([self._progress] if self._progress else [])]
                viewer.send(encode_message(History(tuple(history))))
                self.host.publish_state()  # the others learn the number of viewers
                self._write_live()

    def viewer_gone(self, viewer: Viewer) -> None:
        with self.host.lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)
            if self._driver is viewer:
                # Someone must be able to drive: the viewer that came first after it.
                self._driver = self._viewers[0] if self._viewers else None
            self.host.publish_state()
            self._write_live()
        viewer.close()
        self.host.wake()

    def handle(self, viewer: Viewer, command: Command) -> None:
        if command.name in DRIVING_COMMANDS and viewer is not self._driver:
            if command.name == SHUTDOWN:
                viewer.leaving = True  # a watcher that quits leaves the run to its driver
            else:
                viewer.send(encode_message(Refused(command.name, WATCHING)))
            return
        refusal: str | None = None
        if command.name == RUN:
            assert command.stage is not None
            refusal = self.host.run_stage(command.stage)
        elif command.name == RUN_ALL:
            refusal = self.host.run_all()
        elif command.name == CANCEL:
            self.host.cancel()
        elif command.name == RECONFIGURE:
            refusal = self._reconfigure(viewer, command.config or {})
        elif command.name == TAKE_CONTROL:
            with self.host.lock:
                self._driver = viewer
                self.host.publish_state()
        elif command.name == DETACH:
            viewer.leaving = True
            if viewer is self._driver:  # a watcher that leaves changes nothing
                with self.host.lock:
                    self.detached = True
                    self.host.publish_state()
        elif command.name == SHUTDOWN:
            viewer.leaving = True
            self.host.cancel()
            with self.host.lock:
                self.stopping = True
                self._write_live()
            threading.Thread(target=self._end_if_stuck, args=(self.host.running,), daemon=True).start()
        if refusal is not None:
            viewer.send(encode_message(Refused(command.name, refusal)))

    def _reconfigure(self, viewer: Viewer, values: dict[str, Any]) -> str | None:
        try:
            config = PipelineConfig.from_dict(values)
        except (TypeError, ValueError) as error:
            return f"not a config: {error}"
        try:
            changed = self.host.reconfigure(config)
        except EngineRefused as refusal:
            return str(refusal)
        viewer.send(encode_message(Reconfigured(frozenset(changed))))
        return None

    def _end_if_stuck(self, stage: Stage | None) -> None:
        """After `shutdown`: a stage that does not stop (tracing, converting) must not keep the process."""
        if stage is None:
            return
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        while time.monotonic() < deadline:
            if self.host.running is not stage:
                return
            time.sleep(0.05)
        with self.host.lock:
            if self._viewers or self.host.running is not stage:
                return  # someone still watches it stop
        settle = getattr(self.host.engine, "settle_interrupted", None)
        if settle is not None:
            with contextlib.suppress(Exception):
                settle(stage)
        self.cleanup()
        os._exit(0)

    # --- what viewers are sent ------------------------------------------------------------------------------

    def _state_for(self, viewer: Viewer, state: WorkerState) -> WorkerState:
        return replace(
            state,
            run_dir=str(self.run_dir),
            driver=viewer is self._driver,
            viewers=len(self._viewers),
            detached=self.detached,
            interrupted=self.interrupted,
        )

    def _broadcast(self, message: EngineEvent) -> None:
        """Called by the host, under its lock, for every message, in order."""
        if isinstance(message, WorkerState):
            for viewer in self._viewers:
                viewer.send(encode_message(self._state_for(viewer, message)))
            return
        self._remember(message)
        data = encode_message(message)
        progress = isinstance(message, BatchProgress)
        for viewer in self._viewers:
            viewer.send(data, droppable=progress)

    def _remember(self, event: EngineEvent) -> None:
        """Keep the history a newcomer is sent, and worker.json's progress, up to date."""
        if isinstance(event, BatchProgress):
            self._progress = event
            self._update_live(event.stage, event.epoch, event.epochs, event.batch, event.batches, force=False)
            return
        self._history.append(event)
        del self._history[:-HISTORY_LIMIT]
        if isinstance(event, StageStarted):
            self._progress = None
            self._update_live(event.stage, 0, event.epochs, 0, 0)
        elif isinstance(event, EpochEnded):
            self._update_live(event.stage, event.epoch, event.epochs, 0, 0)
        elif isinstance(event, FINAL_EVENTS):
            self._progress = None
            self._update_live(None, 0, 0, 0, 0)

    def _update_live(
        self, stage: Stage | None, epoch: int, epochs: int, batch: int, batches: int, *, force: bool = True
    ) -> None:
        if self._live is None:
            return
        self._live = replace(
            self._live,
            stage=stage.value if stage else None,
            epoch=epoch,
            epochs=epochs,
            batch=batch,
            batches=batches,
        )
        if force or time.monotonic() - self._live_written >= LIVE_STATE_INTERVAL_S:
            self._write_live()

    def _write_live(self) -> None:
        if self._live is None:
            return
        self._live = replace(
            self._live,
            updated=utc_now(),
            viewers=len(self._viewers),
            detached=self.detached,
            stopping=self.stopping and not self._viewers,
            tensorflow=bool(self.host.state().versions.get("tensorflow")),
        )
        self._live_written = time.monotonic()
        with contextlib.suppress(OSError):
            write_worker_info(self.run_dir, self._live)


# --- the process -------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    config = parser.add_mutually_exclusive_group()
    config.add_argument("--config-json", help="the config, as PipelineConfig.to_dict() JSON")
    config.add_argument("--config-file", help="a TOML config (default: the run folder's config.toml)")
    parser.add_argument("--model")
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--detached", action="store_true", help="started with no viewer: run-all, then exit")
    parser.add_argument("--run-all", action="store_true")
    parser.add_argument("--interrupted", metavar="STAGE", help="the stage the previous process left mid-way")
    parser.add_argument("--interrupted-error", metavar="TEXT", help="why (absent: it was cancelled)")
    return parser


class Handshake:
    """The one line start-up says on standard output; standard output then goes nowhere."""

    def __init__(self) -> None:
        self._out: IO[str] | None = os.fdopen(os.dup(1), "w", encoding="utf-8")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)

    def say(self, line: str) -> bool:
        """Whether whoever started us heard it (it may have quit meanwhile)."""
        out, self._out = self._out, None
        if out is None:
            return False
        try:
            out.write(" ".join(line.split()) + "\n")
            out.close()
        except OSError:
            return False
        return True


def worker_config(args: argparse.Namespace) -> PipelineConfig:
    """The config the engine process was started with: --config-json, --config-file or the run's own."""
    from engine.config_file import read_config_file
    from engine.run_store import CONFIG_FILE

    if args.config_json:
        return PipelineConfig.from_dict(json.loads(args.config_json))
    path = Path(args.config_file) if args.config_file else Path(args.run_dir) / CONFIG_FILE
    return read_config_file(path) if path.is_file() else PipelineConfig()


OpenSession = Callable[[argparse.Namespace, RunFolder], tuple[Any, str]]


def main(argv: Sequence[str] | None = None) -> int:
    return serve_run(argv, _open_session, tensorflow=True)


def serve_run(argv: Sequence[str] | None, open_session: OpenSession, *, tensorflow: bool) -> int:
    """Open the run, say `ready`, serve viewers until done; `open_session` makes the engine (the tests'
    scripted fake worker passes its own)."""
    args = _parser().parse_args(argv)
    # A session of our own (the parent starts us with setsid) has no terminal to hang up; be sure anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    handshake = Handshake()
    _lower_priority()
    from engine.tf_runtime import configure_environment

    configure_environment()
    try:
        folder = RunFolder.open(Path(args.run_dir))
    except RunLockedError as error:
        handshake.say(f"locked {error}")
        return 2
    except RunStoreError as error:
        handshake.say(f"error {error}")
        return 2
    try:
        session, summary = open_session(args, folder)
    except Exception as error:  # noqa: BLE001 - said to whoever started us, one line
        from engine.events import one_line_error

        folder.close()
        handshake.say(f"error {error if _is_user_error(error) else one_line_error(error)}")
        return 2
    # The viewer that started us after ending our predecessor says what became of its stage.
    stage = stage_key(args.interrupted) if args.interrupted else None
    error = args.interrupted_error
    interrupted = Interrupted(stage, "failed" if error else "cancelled", error) if stage else None
    settle = getattr(session, "settle_interrupted", None)
    settled = settle(stage, error) if settle is not None else None
    if interrupted is None and settled is not None:
        interrupted = Interrupted(*settled)
    server = WorkerServer(folder, session, summary=summary, detached=args.detached, interrupted=interrupted)
    try:
        server.listen()
    except (OSError, RunStoreError) as error:
        server.cleanup()
        handshake.say(f"error {args.run_dir}: cannot listen for viewers ({error})")
        return 2
    if not handshake.say("ready") and not args.detached:
        server.cleanup()  # the app that started us has gone before it could connect
        return 0
    if tensorflow:
        threading.Thread(target=server.load_tensorflow, name="tensorflow", daemon=True).start()
    if args.run_all:
        server.host.run_all()
    server.serve()
    sys.stderr.flush()
    os._exit(0)  # TensorFlow's own teardown takes seconds and helps no one: the run folder is closed


def _lower_priority() -> None:
    """Training is the batch job, the viewer's screen the interactive one: when they compete for the
    cores, the screen goes first (a key shows at once) and training loses only the moments it draws.

    Linux schedules a session's processes as one group (autogroup) and a nice value counts only within
    it: our own session, started with setsid, gets the lower priority as a whole.
    """
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as autogroup:
        autogroup.write(str(NICENESS))


def _is_user_error(error: Exception) -> bool:
    from engine.config_file import ConfigError
    from engine.data import DataError
    from engine.user_model import UserModelError
    from engine.writes import WriteError

    return isinstance(error, (ConfigError, DataError, UserModelError, RunStoreError, WriteError))


def _open_session(args: argparse.Namespace, folder: RunFolder) -> tuple[Any, str]:
    from engine.stored_session import StoredSession
    from engine.user_model import load_model_choice

    config = worker_config(args)
    user_model, train = load_model_choice(args.model, args.no_train, folder.path, config)
    session = StoredSession(config, folder, user_model=user_model, train_baseline=train)
    summary = session.summary()
    if user_model is not None:
        summary += f". Baseline: {user_model.path} ({'fine-tuned' if train else 'evaluated as it is'})"
        for stage, reason in user_model.unsupported.items():
            summary += f". {stage.title} cannot run: {reason}"
    return session, summary


if __name__ == "__main__":
    sys.exit(main())
