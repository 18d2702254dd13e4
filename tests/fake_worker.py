"""A scripted engine process for the worker tests: engine.worker's own server around the tests' FakeEngine.

    python tests/fake_worker.py [--hold STAGE] [--stuck STAGE] [--crash STAGE] [--batch-seconds S]
                                -- <engine.worker options>

No TensorFlow: it starts in a fraction of a second. The script's options make stages misbehave as a real
engine can: `--hold` trains until cancelled (a cancel confirmed within a batch), `--stuck` ignores the stop
event (TensorFlow tracing a graph), `--crash` kills its own process mid-stage (out of memory).
Finished stages are kept in the run folder's results.json, so that a restarted fake worker keeps them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fake_engine import FakeEngine  # noqa: E402

from engine.events import BatchProgress, EngineEvent, StageStarted  # noqa: E402
from engine.protocol import Emit  # noqa: E402
from engine.run_store import DONE, Manifest, RunFolder, StageRecord, utc_now  # noqa: E402
from engine.stages import Stage  # noqa: E402
from engine.worker import serve_run, worker_config  # noqa: E402

HERE = Path(__file__).resolve()


def fake_worker_command(
    *, hold: tuple[Stage, ...] = (), stuck: tuple[Stage, ...] = (), crash: tuple[Stage, ...] = (), batch_s=0.0
) -> tuple[str, ...]:
    """The command WorkerOptions(command=...) starts instead of `python -m engine.worker`."""
    argv = [sys.executable, str(HERE)]
    for flag, stages in (("--hold", hold), ("--stuck", stuck), ("--crash", crash)):
        for stage in stages:
            argv += [flag, stage.value]
    return (*argv, "--batch-seconds", str(batch_s), "--")


class ScriptedEngine(FakeEngine):
    def __init__(self, folder: RunFolder, script: argparse.Namespace, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.folder = folder
        self.stuck = {Stage(s) for s in script.stuck}
        self.crash = {Stage(s) for s in script.crash}
        self.batch_seconds = script.batch_seconds
        manifest = folder.read_manifest()
        self.created = manifest.created if manifest is not None else utc_now()
        saved = folder.read_results()
        if saved is not None:
            self._results = saved
            self._done = {Stage(name) for name in saved.stage_seconds}

    def run_stage(self, stage: Stage, emit: Emit, stop: threading.Event) -> None:
        if stage in self.crash:
            emit(StageStarted(stage, 1))
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
        if stage in self.stuck:
            emit(StageStarted(stage, 1))
            time.sleep(60)  # deaf to the stop event, as TensorFlow is while it traces a graph

        def paced(event: EngineEvent) -> None:
            if isinstance(event, BatchProgress) and self.batch_seconds:
                time.sleep(self.batch_seconds)
            emit(event)

        super().run_stage(stage, paced, stop)
        # What a run folder says of its finished stages, as `pqat-tui ps` and the app's first frame read it.
        self.folder.write_results(self.results)
        records = {s.value: StageRecord(DONE, "fake") for s in Stage if s in self.done_stages()}
        self.folder.write_manifest(Manifest(created=self.created, stages=records))


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--hold", action="append", default=[])
    parser.add_argument("--stuck", action="append", default=[])
    parser.add_argument("--crash", action="append", default=[])
    parser.add_argument("--batch-seconds", type=float, default=0.0)
    script = parser.parse_args(argv[:split])

    def open_session(args: argparse.Namespace, folder: RunFolder) -> tuple[ScriptedEngine, str]:
        engine = ScriptedEngine(
            folder, script, config=worker_config(args), hold=[Stage(s) for s in script.hold]
        )
        return engine, f"Fake run in {folder.path}"

    return serve_run(argv[split + 1 :], open_session, tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
